// Reads a model from a directory, a model.json / .onnx path or an http(s) URL: a tfjs model
// (model.json + weight shards) into validated ModelArtifacts, an ONNX model (one .onnx file plus
// any external-data files beside it) into its decoded ModelProto; both with a content digest.
// Nothing here builds a model.
import * as tf from '@tensorflow/tfjs';
import { createHash } from 'node:crypto';
import { existsSync, lstatSync, readdirSync, readFileSync, realpathSync, statSync } from 'node:fs';
import path from 'node:path';
import { InputError } from '../errors.js';
import { checkFiniteWeights, parseModelJson, type ParsedModelJson, type TfjsFormat } from './manifest.js';
import type { ResourceLimits } from './limits.js';
import { decodeOnnx, type OnnxModel, type OnnxTensor } from './onnx/proto.js';
import { DUAL_ENCODER_FILE } from './dual/manifest.js';
import { foreignDirectoryHint, foreignFileFormat, foreignFormat, SNIFF_BYTES } from './foreign.js';

export interface ModelFile {
  /** Path relative to the model directory (or the URL's directory). */
  name: string;
  bytes: number;
  sha256: string;
}

export interface ModelRead {
  /** The model.json or .onnx path or URL, for messages. */
  modelFile: string;
  /** Local directory holding the model, when it is local (gate.json is looked up there). */
  directory?: string;
  files: ModelFile[];
  /** sha256 over the files' names and digests, in manifest order: identifies the checkpoint. */
  digest: string;
}

/** One network: a tfjs model.json with its shards, or an ONNX file (a model or a dual encoder's part). */
export type PartRead =
  | (ModelRead & { format: TfjsFormat; artifacts: tf.io.ModelArtifacts })
  | (ModelRead & {
      format: 'onnx';
      onnx: OnnxModel;
      /** The bytes of an initialiser kept in an external-data file (read and digested already). */
      external: (t: OnnxTensor) => Uint8Array;
    });

export const ONNX_FILE = 'model.onnx';
export const isOnnxPath = (p: string) => /\.onnx$/i.test(p);

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

/** The model file a directory holds: dual-encoder.json, model.json, model.onnx, else its only .onnx file. */
export function modelFileIn(dir: string): string | undefined {
  for (const name of [DUAL_ENCODER_FILE, 'model.json', ONNX_FILE]) if (existsSync(path.join(dir, name))) return path.join(dir, name);
  const onnx = readdirSync(dir).filter((n) => isOnnxPath(n) && statSync(path.join(dir, n)).isFile());
  return onnx.length === 1 ? path.join(dir, onnx[0]) : undefined;
}

/** Finds the model file for a directory or file argument. */
export function localModelFile(spec: string): string {
  const target = path.resolve(spec);
  if (!existsSync(target)) throw new InputError(spec, 'does not exist');
  if (statSync(target).isDirectory()) {
    const file = modelFileIn(target);
    if (!file) throw new InputError(spec, `is a directory without a model.json, ${ONNX_FILE} or ${DUAL_ENCODER_FILE}${foreignDirectoryHint(target)}`);
    return file;
  }
  return target;
}

function looksLikeLfsPointer(text: string): boolean {
  return text.startsWith('version https://git-lfs.github.com/spec/');
}

/** A local model.json or .onnx (a directory holding one); dual encoders are read by source.ts. */
export function readLocalPart(file: string, limits: ResourceLimits): PartRead {
  if (isOnnxPath(file)) return readLocalOnnx(file, limits);
  // Before the size limit and the JSON parser, which would say less about a file of another framework.
  const foreign = foreignFileFormat(file);
  if (foreign) throw new InputError(file, `is ${foreign}`);
  return readLocalModelJson(file, limits);
}

function readLocalModelJson(modelJson: string, limits: ResourceLimits): PartRead {
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
      throw new InputError(
        path.join(dir, group.paths[0] ?? ''),
        `weight shard(s) ${names} hold ${held} bytes but the manifest declares ${group.expectedBytes}`,
      );
    }
    chunks.push(...groupChunks);
  }
  const weightData = concat(chunks);
  checkFiniteWeights(
    parsed.groups.flatMap((g) => g.weights),
    weightData,
    modelJson,
  );
  return { format: parsed.format, artifacts: toArtifacts(parsed, weightData), modelFile: modelJson, directory: dir, files, digest: modelDigest(files) };
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
  for await (const chunk of fetchCapped(url, cap, (declared) =>
    declared === undefined ? `${what} exceeds the limit of ${cap} bytes` : `${what} is ${declared} bytes, above the limit of ${cap}`,
  ))
    chunks.push(chunk);
  return new Uint8Array(concat(chunks));
}

/** A regular file inside `dir` (no links out of it), for external data named by a model. */
function fileInside(dir: string, name: string, file: string): string {
  const full = path.resolve(dir, name);
  if (path.isAbsolute(name) || !full.startsWith(path.resolve(dir) + path.sep))
    throw new InputError(file, `external data '${name}' is outside the model's directory`);
  if (!existsSync(full)) throw new InputError(file, `missing external data file '${name}'`);
  const real = realpathSync(full);
  if (!real.startsWith(realpathSync(dir) + path.sep)) throw new InputError(full, 'is a symbolic link pointing outside the model directory');
  if (!statSync(full).isFile()) throw new InputError(full, 'is not a regular file');
  return full;
}

/** The initialisers kept in external files, grouped by file (ONNX's location/offset/length). */
function externalLocations(model: OnnxModel): Map<string, OnnxTensor[]> {
  const byFile = new Map<string, OnnxTensor[]>();
  for (const t of model.graph?.initializer ?? []) {
    if (t.dataLocation !== 1) continue;
    const location = t.externalData?.find((e) => e.key === 'location')?.value ?? '';
    byFile.set(location, [...(byFile.get(location) ?? []), t]);
  }
  return byFile;
}

/** Slices one tensor's bytes out of its external file's contents. */
function externalSlicer(model: OnnxModel, contents: Map<string, Uint8Array>, file: string): (t: OnnxTensor) => Uint8Array {
  return (t) => {
    const entry = (key: string) => t.externalData?.find((e) => e.key === key)?.value;
    const data = contents.get(entry('location') ?? '');
    if (!data) throw new InputError(file, `tensor '${t.name}' names no readable external data file`);
    const offset = Number(entry('offset') ?? 0);
    const length = entry('length') === undefined ? data.byteLength - offset : Number(entry('length'));
    if (!(offset >= 0 && length >= 0 && offset + length <= data.byteLength))
      throw new InputError(file, `tensor '${t.name}' reads bytes ${offset}..${offset + length} of '${entry('location')}', which holds ${data.byteLength}`);
    return data.subarray(offset, offset + length);
  };
}

function onnxRead(
  bytes: Uint8Array,
  modelFile: string,
  fetchExternal: (name: string) => Uint8Array | null,
  limits: ResourceLimits,
  directory?: string,
): PartRead {
  if (looksLikeLfsPointer(Buffer.from(bytes.subarray(0, 64)).toString('latin1'))) {
    throw new InputError(modelFile, 'is a Git LFS pointer, not the model; check out with `lfs: true` (actions/checkout) or run `git lfs pull`');
  }
  const onnx = decodeOnnx(bytes, modelFile);
  const files: ModelFile[] = [{ name: path.basename(modelFile), bytes: bytes.byteLength, sha256: sha256(bytes) }];
  const contents = new Map<string, Uint8Array>();
  let total = bytes.byteLength;
  for (const name of externalLocations(onnx).keys()) {
    const data = fetchExternal(name);
    if (!data) throw new InputError(modelFile, `keeps weights in external data '${name}', which is only read beside a local model`);
    total += data.byteLength;
    if (total > limits.maxWeightBytes) throw new InputError(modelFile, `with its external data exceeds the weight limit of ${limits.maxWeightBytes} bytes`);
    contents.set(name, data);
    files.push({ name, bytes: data.byteLength, sha256: sha256(data) });
  }
  return { format: 'onnx', onnx, external: externalSlicer(onnx, contents, modelFile), modelFile, directory, files, digest: modelDigest(files) };
}

function readLocalOnnx(file: string, limits: ResourceLimits): PartRead {
  const size = statSync(file).size;
  if (size > limits.maxWeightBytes) throw new InputError(file, `is ${size} bytes, above the weight limit of ${limits.maxWeightBytes}`);
  const dir = path.dirname(file);
  return onnxRead(readFileSync(file), file, (name) => readFileSync(fileInside(dir, name, file)), limits, dir);
}

export async function readRemoteModel(spec: string, limits: ResourceLimits): Promise<PartRead> {
  if (new URL(spec).pathname.endsWith(DUAL_ENCODER_FILE))
    throw new InputError(spec, 'is a dual encoder, whose parts are read from a local directory: give it as a release bundle, an artifact or a repository path');
  if (isOnnxPath(new URL(spec).pathname)) {
    const url = new URL(spec);
    return onnxRead(await fetchBytes(url, limits.maxWeightBytes, 'the ONNX model'), url.href, () => null, limits);
  }
  const url = new URL(spec.endsWith('/') ? `${spec}model.json` : spec);
  const raw = await fetchBytes(url, limits.maxModelJsonBytes, 'model.json');
  const foreign = foreignFormat(url.pathname, raw.subarray(0, SNIFF_BYTES));
  if (foreign) throw new InputError(url.href, `is ${foreign}`);
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
  checkFiniteWeights(
    parsed.groups.flatMap((g) => g.weights),
    weightData,
    url.href,
  );
  return { format: parsed.format, artifacts: toArtifacts(parsed, weightData), modelFile: url.href, files, digest: modelDigest(files) };
}

export const isUrl = (spec: string) => /^https?:\/\//i.test(spec);
