// Where a model's files come from, whatever its format: a local directory or file (tfjs
// model.json, ONNX, or a dual encoder's manifest with its parts) or an http(s) URL. The readers
// of single networks live in read.ts, dual encoders in dual/read.ts; this module dispatches.
import path from 'node:path';
import { DUAL_ENCODER_FILE } from './dual/manifest.js';
import { readLocalDual, type DualRead } from './dual/read.js';
import type { ResourceLimits } from './limits.js';
import { isUrl, localModelFile, readLocalPart, readRemoteModel, type ModelRead, type PartRead } from './read.js';

export type ModelArtifactsRead = PartRead | (ModelRead & { format: 'dual-encoder'; dual: DualRead });

export function readLocalModel(spec: string, limits: ResourceLimits): ModelArtifactsRead {
  const file = localModelFile(spec);
  return path.basename(file) === DUAL_ENCODER_FILE ? readLocalDual(file, limits) : readLocalPart(file, limits);
}

export function readModel(spec: string, limits: ResourceLimits): Promise<ModelArtifactsRead> {
  return isUrl(spec) ? readRemoteModel(spec, limits) : Promise.resolve(readLocalModel(spec, limits));
}
