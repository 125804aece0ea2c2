// ONNX TensorProto → the typed array tfjs holds. tfjs has float32, int32 and bool, so doubles and
// halves become float32 and every integer type int32 (int64 clamped: shapes and indices fit, and
// INT64_MAX, PyTorch's "slice to the end", keeps its meaning as "past the end").
import { InputError } from '../../errors.js';
import { ONNX_DTYPE, type OnnxTensor } from './proto.js';

export type HeldDtype = 'float32' | 'int32' | 'bool';

export interface TensorData {
  dtype: HeldDtype;
  shape: number[];
  values: Float32Array | Int32Array | Uint8Array;
}

const DTYPE_NAMES: Record<number, string> = Object.fromEntries(Object.entries(ONNX_DTYPE).map(([k, v]) => [v, k]));
const FLOATS = new Set<number>([ONNX_DTYPE.FLOAT, ONNX_DTYPE.DOUBLE, ONNX_DTYPE.FLOAT16]);
const INTS = new Set<number>([
  ONNX_DTYPE.UINT8,
  ONNX_DTYPE.INT8,
  ONNX_DTYPE.UINT16,
  ONNX_DTYPE.INT16,
  ONNX_DTYPE.INT32,
  ONNX_DTYPE.INT64,
  ONNX_DTYPE.UINT32,
  ONNX_DTYPE.UINT64,
]);
const RAW_BYTES: Record<number, number> = { 1: 4, 2: 1, 3: 1, 4: 2, 5: 2, 6: 4, 7: 8, 9: 1, 10: 2, 11: 8, 12: 4, 13: 8 };
const INT32_MAX = 2147483647;

export function dtypeName(code: number | undefined): string {
  return DTYPE_NAMES[code ?? 0] ?? `data type ${code ?? 0}`;
}

/** The tfjs dtype an ONNX element type is held in, or null when tfjs cannot hold it. */
export function heldDtype(code: number | undefined): HeldDtype | null {
  if (code !== undefined && FLOATS.has(code)) return 'float32';
  if (code !== undefined && INTS.has(code)) return 'int32';
  if (code === ONNX_DTYPE.BOOL) return 'bool';
  return null;
}

function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * 2 ** -14 * (frac / 1024);
  if (exp === 31) return frac ? NaN : sign * Infinity;
  return sign * 2 ** (exp - 15) * (1 + frac / 1024);
}

const clampInt = (v: number) => Math.max(-INT32_MAX, Math.min(INT32_MAX, v));

function fromRaw(code: number, raw: Uint8Array, count: number): Float32Array | Int32Array | Uint8Array {
  const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  const read: Record<number, (i: number) => number> = {
    1: (i) => view.getFloat32(i * 4, true),
    2: (i) => view.getUint8(i),
    3: (i) => view.getInt8(i),
    4: (i) => view.getUint16(i * 2, true),
    5: (i) => view.getInt16(i * 2, true),
    6: (i) => view.getInt32(i * 4, true),
    7: (i) => clampInt(Number(view.getBigInt64(i * 8, true))),
    9: (i) => (view.getUint8(i) ? 1 : 0),
    10: (i) => halfToFloat(view.getUint16(i * 2, true)),
    11: (i) => view.getFloat64(i * 8, true),
    12: (i) => clampInt(view.getUint32(i * 4, true)),
    13: (i) => clampInt(Number(view.getBigUint64(i * 8, true))),
  };
  const out = heldDtype(code) === 'float32' ? new Float32Array(count) : heldDtype(code) === 'bool' ? new Uint8Array(count) : new Int32Array(count);
  const get = read[code];
  for (let i = 0; i < count; i++) out[i] = get(i);
  return out;
}

function fromFields(t: OnnxTensor, code: number, count: number): ArrayLike<number> {
  switch (code) {
    case ONNX_DTYPE.FLOAT:
      return t.floatData ?? [];
    case ONNX_DTYPE.DOUBLE:
      return t.doubleData ?? [];
    case ONNX_DTYPE.INT64:
      return (t.int64Data ?? []).map(clampInt);
    case ONNX_DTYPE.UINT32:
    case ONNX_DTYPE.UINT64:
      return (t.uint64Data ?? []).map(clampInt);
    case ONNX_DTYPE.FLOAT16:
      return (t.int32Data ?? []).map(halfToFloat);
    default:
      return (t.int32Data ?? []).slice(0, Math.max(count, 0));
  }
}

export interface TensorReadOptions {
  maxElements: number;
  /** Bytes of an external-data tensor (ONNX files over 2 GB keep weights beside the model). */
  external?: (t: OnnxTensor) => Uint8Array;
  /** Refuse NaN and ±Inf (weights must be finite; constants such as attention masks may not be). */
  finite?: boolean;
}

/** Decodes one TensorProto; every problem names the file and the tensor. */
export function tensorData(t: OnnxTensor, file: string, opts: TensorReadOptions): TensorData {
  const what = `tensor '${t.name ?? '(unnamed)'}'`;
  const code = t.dataType ?? 0;
  const dtype = heldDtype(code);
  if (!dtype) throw new InputError(file, `${what} has element type ${dtypeName(code)}, which the gate cannot hold (float, integer and bool tensors only)`);
  const shape = (t.dims ?? []).map(Number);
  if (shape.some((d) => !Number.isInteger(d) || d < 0)) throw new InputError(file, `${what} has invalid dims [${shape.join(', ')}]`);
  const count = shape.reduce((a, b) => a * b, 1);
  if (count > opts.maxElements) throw new InputError(file, `${what} declares ${count} elements, above the limit of ${opts.maxElements}`);
  let values: Float32Array | Int32Array | Uint8Array;
  if (t.dataLocation === 1) {
    if (!opts.external) throw new InputError(file, `${what} keeps its data in an external file, which is not supported here`);
    const raw = opts.external(t);
    if (raw.byteLength !== count * RAW_BYTES[code])
      throw new InputError(file, `${what} has ${raw.byteLength} bytes of external data; its dims need ${count * RAW_BYTES[code]}`);
    values = fromRaw(code, raw, count);
  } else if (t.rawData && t.rawData.byteLength) {
    if (t.rawData.byteLength !== count * RAW_BYTES[code])
      throw new InputError(file, `${what} has ${t.rawData.byteLength} bytes of raw data; its dims [${shape.join(', ')}] need ${count * RAW_BYTES[code]}`);
    values = fromRaw(code, t.rawData, count);
  } else {
    const list = fromFields(t, code, count);
    if (list.length !== count) throw new InputError(file, `${what} holds ${list.length} values; its dims [${shape.join(', ')}] need ${count}`);
    values = dtype === 'float32' ? Float32Array.from(list) : dtype === 'bool' ? Uint8Array.from(list, (v) => (v ? 1 : 0)) : Int32Array.from(list);
  }
  if (opts.finite && dtype === 'float32') {
    for (let i = 0; i < values.length; i++)
      if (!Number.isFinite(values[i])) throw new InputError(file, `${what} holds a non-finite value (${values[i]}) at element ${i}`);
  }
  return { dtype, shape, values };
}
