// Reads a dual-encoder directory: the manifest, every part (each model part validated by the same
// reader as a standalone model), and one digest over all their files.
import { createHash } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { InputError } from '../../errors.js';
import type { ResourceLimits } from '../limits.js';
import { localModelFile, modelDigest, readLocalPart, type ModelFile, type ModelRead, type PartRead } from '../read.js';
import { DUAL_ENCODER_FILE } from './manifest.js';
import { hasTextEncoder, parseDualManifest, partPath, readNpyPart, type DualManifest, type NpyPart } from './manifest.js';

export interface DualRead {
  manifest: DualManifest;
  image: PartRead;
  text?: PartRead;
  metaNet?: PartRead;
  tokenEmbedding?: NpyPart;
  context?: NpyPart;
  classEmbeddings?: NpyPart;
}

const sha256 = (data: Uint8Array) => createHash('sha256').update(data).digest('hex');

/** A model part (a directory, model.json or .onnx inside the manifest's directory), read as a model. */
function readModelPart(dir: string, name: string, file: string, limits: ResourceLimits, trainable: boolean): PartRead {
  const partFile = localModelFile(partPath(dir, name, file));
  if (path.basename(partFile) === DUAL_ENCODER_FILE) throw new InputError(file, `part '${name}' is itself a dual encoder`);
  const read = readLocalPart(partFile, limits);
  if (trainable && read.format === 'graph-model')
    throw new InputError(file, `part '${name}' is a tfjs graph model; text encoders and meta-nets must be tfjs layers models or ONNX`);
  return read;
}

export function readLocalDual(manifestFile: string, limits: ResourceLimits): ModelRead & { format: 'dual-encoder'; dual: DualRead } {
  const dir = path.dirname(manifestFile);
  const size = statSync(manifestFile).size;
  if (size > limits.maxModelJsonBytes) throw new InputError(manifestFile, `is ${size} bytes, above the limit of ${limits.maxModelJsonBytes}`);
  const raw = readFileSync(manifestFile);
  const manifest = parseDualManifest(raw.toString('utf8'), manifestFile);
  const dual: DualRead = { manifest, image: readModelPart(dir, manifest.image_encoder, manifestFile, limits, false) };
  const files: ModelFile[] = [{ name: path.basename(manifestFile), bytes: raw.byteLength, sha256: sha256(raw) }];
  const addModel = (read: PartRead) => {
    const prefix = path.relative(dir, read.directory ?? dir);
    files.push(...read.files.map((f) => ({ ...f, name: path.posix.join(prefix.split(path.sep).join('/'), f.name) })));
  };
  const addNpy = (p: NpyPart) => files.push({ name: p.name, bytes: p.bytes.byteLength, sha256: sha256(p.bytes) });
  addModel(dual.image);
  if (hasTextEncoder(manifest)) {
    const text = manifest.text;
    dual.text = readModelPart(dir, text.encoder, manifestFile, limits, true);
    addModel(dual.text);
    dual.tokenEmbedding = readNpyPart(dir, text.token_embedding, 2, manifestFile, limits);
    addNpy(dual.tokenEmbedding);
    if (dual.tokenEmbedding.shape[0] !== text.vocab.length) {
      throw new InputError(manifestFile, `token_embedding has ${dual.tokenEmbedding.shape[0]} rows but the vocabulary has ${text.vocab.length} words`);
    }
    if (text.prompt_learner) {
      dual.context = readNpyPart(dir, text.prompt_learner.context, 2, manifestFile, limits);
      addNpy(dual.context);
      if (text.prompt_learner.meta_net) {
        dual.metaNet = readModelPart(dir, text.prompt_learner.meta_net, manifestFile, limits, true);
        addModel(dual.metaNet);
      }
    }
  } else if ('class_embeddings' in manifest.text) {
    dual.classEmbeddings = readNpyPart(dir, manifest.text.class_embeddings, 2, manifestFile, limits);
    addNpy(dual.classEmbeddings);
    if (dual.classEmbeddings.shape[0] !== manifest.classes.length) {
      throw new InputError(manifestFile, `class_embeddings has ${dual.classEmbeddings.shape[0]} rows for ${manifest.classes.length} classes`);
    }
  }
  return { format: 'dual-encoder', dual, modelFile: manifestFile, directory: dir, files, digest: modelDigest(files) };
}
