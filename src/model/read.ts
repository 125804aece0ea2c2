// Reads a tfjs model (model.json + weight shards) from a directory, a model.json path or an
// http(s) URL into validated ModelArtifacts and a content digest. Nothing here knows tfjs layers.
import * as tf from '@tensorflow/tfjs';
import { createHash } from 'node:crypto';
import { existsSync, lstatSync, readFileSync, realpathSync, statSync } from 'node:fs';
import path from 'node:path';
import { InputError } from '../errors.js';
import { checkFiniteWeights, parseModelJson, type ModelFormat, type ParsedModelJson } from './manifest.js';
import type { ResourceLimits } from './limits.js';

export interface ModelFile {
  /** Path relative to the model directory (or the URL's directory). */
  name: string;
  bytes: number;
  sha256: string;
}

export interface ModelArtifactsRead {
  format: ModelFormat;
  artifacts: tf.io.ModelArtifacts;
  /** The model.json path or URL, for messages. */
  modelJson: string;
  /** Local directory holding the model, when it is local (gate.json is looked up there). */
  directory?: string;
  files: ModelFile[];
  /** sha256 over the files' names and digests, in manifest order: identifies the checkpoint. */
  digest: string;
}

const sha256 = (data: Uint8Array | string) => createHash('sha256').update(data).digest('hex');

export function modelDigest(files: ModelFile[]): string {
  return `sha256:${sha256(files.map((f) => `${f.name}\0${f.sha256}\n`).join(''))}`;
}

function toArtifacts(parsed: ParsedModelJson, weightData: ArrayBuffer): tf.io.ModelArtifacts {
  const j = parsed.json;
  return {
    format: parsed.format,
    generatedBy: j.generatedBy as string | undefined,
    convertedBy: j.convertedBy as string | undefined,
    modelTopology: j.modelTopology as object,
    weightSpecs: parsed.groups.flatMap((g) => g.weights),
    weightData,
    signature: j.signature as object | undefined,
    userDefinedMetadata: j.userDefinedMetadata as Record<string, object> | undefined,
    modelInitializer: j.modelInitializer as object | undefined,
    trainingConfig: j.trainingConfig as tf.io.TrainingConfig | undefined,
  };
}

function concat(chunks: Uint8Array[]): ArrayBuffer {
  const total = chunks.reduce((n, c) => n + c.byteLength, 0);
  const out = new Uint8Array(total);
  let offset = 0;
  for (const c of chunks) {
    out.set(c, offset);
    offset += c.byteLength;
  }
  return out.buffer;
}

/** Finds model.json for a directory or file argument. */
export function localModelJsonPath(spec: string): string {
  const target = path.resolve(spec);
  if (!existsSync(target)) throw new InputError(spec, 'does not exist');
  if (statSync(target).isDirectory()) {
    const candidate = path.join(target, 'model.json');
    if (!existsSync(candidate)) throw new InputError(spec, 'is a directory without a model.json');
    return candidate;
  }
  return target;
}

function looksLikeLfsPointer(text: string): boolean {
  return text.startsWith('version https://git-lfs.github.com/spec/');
}

export function readLocalModel(spec: string, limits: ResourceLimits): ModelArtifactsRead {
  const modelJson = localModelJsonPath(spec);
  const dir = path.dirname(modelJson);
  const size = statSync(modelJson).size;
  if (size > limits.maxModelJsonBytes) throw new InputError(modelJson, `is ${size} bytes, above the limit of ${limits.maxModelJsonBytes}`);
  const raw = readFileSync(modelJson);
  const text = raw.toString('utf8');
  if (looksLikeLfsPointer(text)) {
    throw new InputError(modelJson, 'is a Git LFS pointer, not the model; check out with `lfs: true` (actions/checkout) or run `git lfs pull`');
  }
  const parsed = parseModelJson(text, modelJson, limits);
  const realDir = realpathSync(dir);
  const files: ModelFile[] = [{ name: path.basename(modelJson), bytes: raw.byteLength, sha256: sha256(raw) }];
  const chunks: Uint8Array[] = [];
  for (const group of parsed.groups) {
    const groupChunks: Uint8Array[] = [];
    for (const p of group.paths) {
      const full = path.join(dir, p);
      if (!existsSync(full)) throw new InputError(modelJson, `missing weight shard '${p}'`);
      if (lstatSync(full).isSymbolicLink()) {
        const real = realpathSync(full);
        if (!real.startsWith(realDir + path.sep)) throw new InputError(full, 'is a symbolic link pointing outside the model directory');
      }
      if (!statSync(full).isFile()) throw new InputError(full, 'is not a regular file');
      const data = readFileSync(full);
      if (looksLikeLfsPointer(data.subarray(0, 64).toString('latin1'))) {
        throw new InputError(full, 'is a Git LFS pointer, not weights; check out with `lfs: true` (actions/checkout) or run `git lfs pull`');
      }
      groupChunks.push(data);
      files.push({ name: p, bytes: data.byteLength, sha256: sha256(data) });
    }
    const held = groupChunks.reduce((n, c) => n + c.byteLength, 0);
    if (held !== group.expectedBytes) {
      const names = group.paths.join(', ');
      throw new InputError(path.join(dir, group.paths[0] ?? ''), `weight shard(s) ${names} hold ${held} bytes but the manifest declares ${group.expectedBytes}`);
    }
    chunks.push(...groupChunks);
  }
  const weightData = concat(chunks);
  checkFiniteWeights(parsed.groups.flatMap((g) => g.weights), weightData, modelJson);
  return { format: parsed.format, artifacts: toArtifacts(parsed, weightData), modelJson, directory: dir, files, digest: modelDigest(files) };
}

/**
 * Streams `url`'s body, stopping at `cap` bytes, checked against Content-Length first and then
 * while streaming (a lying header cannot beat it). `tooBig` words the error, with the declared
 * size when there is one. No credentials are sent.
 */
export async function* fetchCapped(url: URL, cap: number, tooBig: (declaredBytes?: number) => string): AsyncGenerator<Uint8Array> {
  let response: Response;
  try {
    response = await fetch(url, { redirect: 'follow' });
  } catch (err) {
    throw new InputError(url.href, `could not be downloaded (${(err as Error).message})`);
  }
  if (!response.ok) throw new InputError(url.href, `download failed with HTTP ${response.status}`);
  const declared = Number(response.headers.get('content-length') ?? NaN);
  if (Number.isFinite(declared) && declared > cap) throw new InputError(url.href, tooBig(declared));
  const reader = response.body?.getReader();
  if (!reader) return;
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) return;
    total += value.byteLength;
    if (total > cap) {
      await reader.cancel();
      throw new InputError(url.href, tooBig());
    }
    yield value;
  }
}

/** `url`'s whole body in memory, capped. */
async function fetchBytes(url: URL, cap: number, what: string): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  for await (const chunk of fetchCapped(url, cap, (declared) => (declared === undefined ? `${what} exceeds the limit of ${cap} bytes` : `${what} is ${declared} bytes, above the limit of ${cap}`))) chunks.push(chunk);
  return new Uint8Array(concat(chunks));
}

export async function readRemoteModel(spec: string, limits: ResourceLimits): Promise<ModelArtifactsRead> {
  const url = new URL(spec.endsWith('/') ? `${spec}model.json` : spec);
  const raw = await fetchBytes(url, limits.maxModelJsonBytes, 'model.json');
  const text = Buffer.from(raw).toString('utf8');
  if (looksLikeLfsPointer(text)) throw new InputError(url.href, 'is a Git LFS pointer, not the model');
  const parsed = parseModelJson(text, url.href, limits);
  const files: ModelFile[] = [{ name: 'model.json', bytes: raw.byteLength, sha256: sha256(raw) }];
  const chunks: Uint8Array[] = [];
  let budget = limits.maxWeightBytes;
  for (const group of parsed.groups) {
    let held = 0;
    for (const p of group.paths) {
      const shardUrl = new URL(p, url);
      const data = await fetchBytes(shardUrl, Math.min(budget, group.expectedBytes - held + 1), `weight shard '${p}'`);
      budget -= data.byteLength;
      held += data.byteLength;
      chunks.push(data);
      files.push({ name: p, bytes: data.byteLength, sha256: sha256(data) });
    }
    if (held !== group.expectedBytes) {
      throw new InputError(url.href, `weight shard(s) ${group.paths.join(', ')} hold ${held} bytes but the manifest declares ${group.expectedBytes}`);
    }
  }
  const weightData = concat(chunks);
  checkFiniteWeights(parsed.groups.flatMap((g) => g.weights), weightData, url.href);
  return { format: parsed.format, artifacts: toArtifacts(parsed, weightData), modelJson: url.href, files, digest: modelDigest(files) };
}

export const isUrl = (spec: string) => /^https?:\/\//i.test(spec);

export function readModel(spec: string, limits: ResourceLimits): Promise<ModelArtifactsRead> {
  return isUrl(spec) ? readRemoteModel(spec, limits) : Promise.resolve(readLocalModel(spec, limits));
}
