// Validates a tfjs model.json before tfjs sees it: format, weight paths, declared sizes and
// dtypes, layer classes and graph ops. Every problem becomes an InputError naming the file.
import * as tf from '@tensorflow/tfjs';
import path from 'node:path';
import { InputError } from '../errors.js';
import { SUPPORTED_GRAPH_OPS } from './graph-ops.js';
import type { ResourceLimits } from './limits.js';

export type TfjsFormat = 'layers-model' | 'graph-model';
export type ModelFormat = TfjsFormat | 'onnx' | 'dual-encoder';

export interface WeightGroup {
  paths: string[];
  weights: tf.io.WeightsManifestEntry[];
  /** Bytes the manifest says the group's shards hold together. */
  expectedBytes: number;
}

export interface ParsedModelJson {
  format: TfjsFormat;
  json: Record<string, unknown>;
  groups: WeightGroup[];
}

const DTYPE_BYTES: Record<string, number> = { float32: 4, int32: 4, bool: 1, uint8: 1, uint16: 2, float16: 2 };

/** Maximum nesting of `text` as JSON, counted without parsing (deep input crashes JSON.parse). */
export function jsonDepth(text: string): number {
  let depth = 0;
  let max = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text.charCodeAt(i);
    if (inString) {
      if (ch === 92)
        i++; // backslash: skip the escaped character
      else if (ch === 34) inString = false;
    } else if (ch === 34) inString = true;
    else if (ch === 123 || ch === 91) max = Math.max(max, ++depth);
    else if (ch === 125 || ch === 93) depth--;
  }
  return max;
}

/** Rejects weight paths that are absolute, carry a scheme, or climb out of the model directory. */
export function checkWeightPath(p: unknown, file: string): string {
  if (typeof p !== 'string' || p.length === 0 || p.includes('\0')) throw new InputError(file, `weight path ${JSON.stringify(p)} is not a file name`);
  if (path.isAbsolute(p) || path.win32.isAbsolute(p) || /^[a-z][a-z0-9+.-]*:/i.test(p)) {
    throw new InputError(file, `weight path '${p}' is absolute; paths must be relative to the model directory`);
  }
  const normal = path.posix.normalize(p.replace(/\\/g, '/'));
  if (normal === '..' || normal.startsWith('../')) throw new InputError(file, `weight path '${p}' escapes the model directory`);
  return normal;
}

function declaredBytes(entry: tf.io.WeightsManifestEntry, file: string, limits: ResourceLimits): number {
  const name = typeof entry?.name === 'string' ? entry.name : '(unnamed)';
  if (!Array.isArray(entry?.shape) || !entry.shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
    throw new InputError(file, `weight '${name}' has an invalid shape ${JSON.stringify(entry?.shape)}`);
  }
  const elements = entry.shape.reduce((a, b) => a * b, 1);
  if (elements > limits.maxTensorElements) {
    throw new InputError(file, `weight '${name}' declares ${elements.toExponential(2)} elements, above the limit of ${limits.maxTensorElements}`);
  }
  if (entry.dtype === ('string' as string)) throw new InputError(file, `weight '${name}' has dtype string, which model weights cannot use here`);
  const q = entry.quantization;
  if (q) {
    if (!['uint8', 'uint16', 'float16'].includes(q.dtype as string)) {
      throw new InputError(file, `weight '${name}' has unsupported quantization dtype '${q.dtype}'`);
    }
    for (const key of ['scale', 'min'] as const) {
      if (q[key] !== undefined && !Number.isFinite(q[key])) throw new InputError(file, `weight '${name}' has a non-finite quantization ${key}`);
    }
    return elements * DTYPE_BYTES[q.dtype];
  }
  if (!(entry.dtype in DTYPE_BYTES) || !['float32', 'int32', 'bool'].includes(entry.dtype)) {
    throw new InputError(file, `weight '${name}' has unsupported dtype '${String(entry.dtype)}'`);
  }
  return elements * DTYPE_BYTES[entry.dtype];
}

function collectClassNames(node: unknown, out: Set<string>): void {
  if (Array.isArray(node)) node.forEach((n) => collectClassNames(n, out));
  else if (node && typeof node === 'object') {
    const record = node as Record<string, unknown>;
    if (typeof record.class_name === 'string' && 'config' in record) out.add(record.class_name);
    Object.values(record).forEach((v) => collectClassNames(v, out));
  }
}

const CONTAINERS = new Set(['Sequential', 'Model', 'Functional']);

/** Layer (and initializer, constraint…) classes tfjs-layers cannot deserialize. */
export function unsupportedLayerClasses(topology: unknown): string[] {
  const names = new Set<string>();
  collectClassNames(topology, names);
  const known = tf.serialization.SerializationMap.getMap().classNameMap;
  return [...names].filter((n) => !CONTAINERS.has(n) && !(n in known)).sort();
}

/** Graph ops tfjs-converter cannot execute, including those inside functions. */
export function unsupportedGraphOps(topology: Record<string, unknown>): string[] {
  const ops = new Set<string>();
  const visit = (nodes: unknown) => {
    if (Array.isArray(nodes)) for (const n of nodes) if (n && typeof (n as { op?: unknown }).op === 'string') ops.add((n as { op: string }).op);
  };
  visit(topology.node);
  const fns = (topology.library as { function?: Array<{ nodeDef?: unknown }> } | undefined)?.function;
  if (Array.isArray(fns)) fns.forEach((f) => visit(f?.nodeDef));
  return [...ops].filter((op) => !SUPPORTED_GRAPH_OPS.has(op)).sort();
}

export function parseModelJson(text: string, file: string, limits: ResourceLimits): ParsedModelJson {
  if (text.length > limits.maxModelJsonBytes) throw new InputError(file, `is ${text.length} bytes, above the limit of ${limits.maxModelJsonBytes}`);
  const depth = jsonDepth(text);
  if (depth > limits.maxJsonDepth) throw new InputError(file, `JSON nesting depth ${depth} is above the limit of ${limits.maxJsonDepth}`);
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new InputError(file, `is not valid JSON (${(err as Error).message})`);
  }
  if (!json || typeof json !== 'object' || Array.isArray(json)) throw new InputError(file, 'is not a tfjs model.json (expected a JSON object)');
  const record = json as Record<string, unknown>;
  const topology = record.modelTopology as Record<string, unknown> | undefined;
  if (!topology || typeof topology !== 'object') throw new InputError(file, 'has no modelTopology; it is not a tfjs model.json');
  const format: TfjsFormat | undefined =
    record.format === 'graph-model' || Array.isArray(topology.node)
      ? 'graph-model'
      : record.format === 'layers-model' || 'model_config' in topology || 'class_name' in topology
        ? 'layers-model'
        : undefined;
  if (!format) throw new InputError(file, `format '${String(record.format)}' is neither a tfjs layers model nor a graph model`);

  const manifest = record.weightsManifest;
  if (!Array.isArray(manifest)) throw new InputError(file, 'weightsManifest is missing or not an array');
  const groups: WeightGroup[] = manifest.map((group, g) => {
    if (!group || !Array.isArray(group.paths) || !Array.isArray(group.weights)) {
      throw new InputError(file, `weightsManifest[${g}] must have 'paths' and 'weights' arrays`);
    }
    const paths = (group.paths as unknown[]).map((p) => checkWeightPath(p, file));
    const weights = group.weights as tf.io.WeightsManifestEntry[];
    const expectedBytes = weights.reduce((n, w) => n + declaredBytes(w, file, limits), 0);
    return { paths, weights, expectedBytes };
  });
  const total = groups.reduce((n, g) => n + g.expectedBytes, 0);
  if (total > limits.maxWeightBytes) throw new InputError(file, `declares ${total} bytes of weights, above the limit of ${limits.maxWeightBytes}`);

  const unsupported = format === 'graph-model' ? unsupportedGraphOps(topology) : unsupportedLayerClasses(topology);
  if (unsupported.length) {
    throw new InputError(file, `uses ${format === 'graph-model' ? 'ops' : 'layer classes'} tfjs does not support: ${unsupported.join(', ')}`);
  }
  return { format, json: record, groups };
}

/** Throws when any float weight is NaN or infinite (a corrupted or booby-trapped checkpoint). */
export function checkFiniteWeights(specs: tf.io.WeightsManifestEntry[], data: ArrayBuffer, file: string): void {
  let offset = 0;
  for (const spec of specs) {
    const elements = spec.shape.reduce((a, b) => a * b, 1);
    const q = spec.quantization;
    if (q?.dtype === 'float16') {
      const halves = new Uint16Array(data.slice(offset, offset + elements * 2));
      for (const h of halves) if ((h & 0x7c00) === 0x7c00) throw new InputError(file, `weight '${spec.name}' holds non-finite values (NaN or Inf)`);
    } else if (!q && spec.dtype === 'float32') {
      const values = offset % 4 === 0 ? new Float32Array(data, offset, elements) : new Float32Array(data.slice(offset, offset + elements * 4));
      for (let i = 0; i < values.length; i++) {
        if (!Number.isFinite(values[i])) throw new InputError(file, `weight '${spec.name}' holds non-finite values (NaN or Inf) at element ${i}`);
      }
    }
    offset += elements * (q ? DTYPE_BYTES[q.dtype] : DTYPE_BYTES[spec.dtype]);
  }
}
