// Writes tfjs models as model.json + one weight shard, the layout tfjs' own converters produce.
import * as tf from '@tensorflow/tfjs';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { InputError } from '../errors.js';

export const SHARD_NAME = 'group1-shard1of1.bin';

function concatWeightData(data: ArrayBuffer | ArrayBuffer[] | undefined): Uint8Array {
  if (!data) return new Uint8Array(0);
  if (!Array.isArray(data)) return new Uint8Array(data);
  const total = data.reduce((n, b) => n + b.byteLength, 0);
  const out = new Uint8Array(total);
  let offset = 0;
  for (const b of data) {
    out.set(new Uint8Array(b), offset);
    offset += b.byteLength;
  }
  return out;
}

/** An IOHandler that writes `dir/model.json` and `dir/group1-shard1of1.bin`. */
export function directoryWriter(dir: string, { overwrite = false } = {}): tf.io.IOHandler {
  return {
    async save(artifacts: tf.io.ModelArtifacts): Promise<tf.io.SaveResult> {
      const modelJson = path.join(dir, 'model.json');
      if (existsSync(modelJson) && !overwrite) {
        throw new InputError(modelJson, 'already exists; refusing to overwrite it (choose another output directory)');
      }
      mkdirSync(dir, { recursive: true });
      const weights = concatWeightData(artifacts.weightData as ArrayBuffer | ArrayBuffer[] | undefined);
      writeFileSync(path.join(dir, SHARD_NAME), weights);
      const json = {
        format: artifacts.format,
        generatedBy: artifacts.generatedBy,
        convertedBy: artifacts.convertedBy ?? null,
        modelTopology: artifacts.modelTopology,
        weightsManifest: [{ paths: [SHARD_NAME], weights: artifacts.weightSpecs ?? [] }],
        ...(artifacts.signature ? { signature: artifacts.signature } : {}),
        ...(artifacts.userDefinedMetadata ? { userDefinedMetadata: artifacts.userDefinedMetadata } : {}),
      };
      writeFileSync(modelJson, `${JSON.stringify(json)}\n`);
      return { modelArtifactsInfo: tf.io.getModelArtifactsInfoForJSON(artifacts) };
    },
  };
}
