// Builds small ONNX models in tests (encoded by our own writer) and runs them in onnxruntime-node,
// the reference runtime, to compare against the gate's import.
import * as ort from 'onnxruntime-node';
import { encodeOnnx, ONNX_DTYPE, type OnnxAttribute, type OnnxModel, type OnnxNode, type OnnxTensor } from '../../src/model/onnx/proto.js';

export type Attr = number | number[] | string | { floats: number[] } | { tensor: OnnxTensor } | { float: number };

export function attribute(name: string, v: Attr): OnnxAttribute {
  if (typeof v === 'string') return { name, type: 3, s: Buffer.from(v) };
  if (typeof v === 'number') return { name, type: 2, i: v };
  if (Array.isArray(v)) return { name, type: 7, ints: v };
  if ('floats' in v) return { name, type: 6, floats: v.floats };
  if ('float' in v) return { name, type: 1, f: v.float };
  return { name, type: 4, t: v.tensor };
}

export function node(opType: string, input: string[], output: string[], attrs: Record<string, Attr> = {}, domain?: string): OnnxNode {
  return {
    opType,
    input,
    output,
    name: `${opType}_${output[0]}`,
    attribute: Object.entries(attrs).map(([k, v]) => attribute(k, v)),
    ...(domain ? { domain } : {}),
  };
}

export function floatTensor(name: string, dims: number[], values: ArrayLike<number>): OnnxTensor {
  const f = Float32Array.from(values);
  return { name, dims, dataType: ONNX_DTYPE.FLOAT, rawData: new Uint8Array(f.buffer) };
}

export function int64Tensor(name: string, dims: number[], values: number[]): OnnxTensor {
  return { name, dims, dataType: ONNX_DTYPE.INT64, int64Data: values };
}

/** dims undefined: a tensor of unknown shape. */
export interface GraphIo {
  name: string;
  dims?: Array<number | string>;
  elemType?: number;
}

const valueInfo = ({ name, dims, elemType = ONNX_DTYPE.FLOAT }: GraphIo) => ({
  name,
  type: { tensorType: { elemType, ...(dims ? { shape: { dim: dims.map((d) => (typeof d === 'string' ? { dimParam: d } : { dimValue: d })) } } : {}) } },
});

export function onnxModel(opts: { nodes: OnnxNode[]; inputs: GraphIo[]; outputs: GraphIo[]; initializers?: OnnxTensor[]; opset?: number }): OnnxModel {
  return {
    irVersion: 8,
    producerName: 'backdoor-gate-tests',
    opsetImport: [{ domain: '', version: opts.opset ?? 17 }],
    graph: { name: 'g', node: opts.nodes, input: opts.inputs.map(valueInfo), output: opts.outputs.map(valueInfo), initializer: opts.initializers ?? [] },
  };
}

export const encode = (m: OnnxModel) => encodeOnnx(m);

/** onnxruntime-node's outputs for float32 feeds. */
export async function runReference(
  bytes: Uint8Array,
  feeds: Record<string, { data: Float32Array; dims: number[] }>,
): Promise<Record<string, { data: Float32Array; dims: number[] }>> {
  // No graph rewrites: the reference is ONNX's semantics op by op (onnxruntime folds a zero Pad
  // into a following MaxPool's -inf padding, which changes the result where values are negative).
  const session = await ort.InferenceSession.create(bytes, { logSeverityLevel: 3, graphOptimizationLevel: 'disabled' });
  const input = Object.fromEntries(Object.entries(feeds).map(([k, v]) => [k, new ort.Tensor('float32', v.data, v.dims)]));
  const out = await session.run(input);
  await session.release();
  return Object.fromEntries(Object.entries(out).map(([k, v]) => [k, { data: Float32Array.from(v.data as ArrayLike<number>, Number), dims: [...v.dims] }]));
}

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) return Infinity;
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}
