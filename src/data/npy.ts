// NumPy .npy arrays (format versions 1–3, C order): images as (N,H,W[,C]) uint8 or float in [0,1],
// labels as (N,) integers.
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { InputError } from '../errors.js';

export interface NpyArray {
  shape: number[];
  dtype: 'uint8' | 'float32' | 'float64' | 'int32' | 'int64' | 'bool';
  /** Values widened to float64 for uniform handling of small arrays. */
  data: Float32Array | Float64Array | Int32Array | Uint8Array;
}

const DESCR: Record<string, NpyArray['dtype']> = {
  '|u1': 'uint8',
  '<u1': 'uint8',
  '|b1': 'bool',
  '<f4': 'float32',
  '<f8': 'float64',
  '<i4': 'int32',
  '<i8': 'int64',
};

export function parseNpy(buf: Buffer, file: string, maxElements = 1 << 30): NpyArray {
  if (buf.length < 10 || buf.readUInt8(0) !== 0x93 || buf.toString('latin1', 1, 6) !== 'NUMPY') throw new InputError(file, 'is not a .npy file (bad magic)');
  const major = buf.readUInt8(6);
  const headerLen = major === 1 ? buf.readUInt16LE(8) : buf.readUInt32LE(8);
  const start = major === 1 ? 10 : 12;
  if (start + headerLen > buf.length) throw new InputError(file, 'has a truncated .npy header');
  const header = buf.toString('latin1', start, start + headerLen);
  const descr = /'descr':\s*'([^']+)'/.exec(header)?.[1];
  const fortran = /'fortran_order':\s*(True|False)/.exec(header)?.[1];
  const shapeText = /'shape':\s*\(([^)]*)\)/.exec(header)?.[1];
  if (!descr || !fortran || shapeText === undefined) throw new InputError(file, 'has a malformed .npy header');
  const dtype = DESCR[descr];
  if (!dtype) throw new InputError(file, `has unsupported dtype '${descr}' (use uint8, float32, float64, int32 or int64, little-endian)`);
  if (fortran === 'True') throw new InputError(file, 'is in Fortran order; save it with C order');
  const shape = shapeText
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .map(Number);
  if (!shape.every((d) => Number.isSafeInteger(d) && d >= 0)) throw new InputError(file, `has an invalid shape (${shapeText})`);
  const count = shape.reduce((a, b) => a * b, 1);
  if (count > maxElements) throw new InputError(file, `declares ${count} elements, above the limit of ${maxElements}`);
  const bytesPer = { uint8: 1, bool: 1, float32: 4, float64: 8, int32: 4, int64: 8 }[dtype];
  const body = buf.subarray(start + headerLen);
  if (body.length !== count * bytesPer) throw new InputError(file, `holds ${body.length} data bytes but its header declares ${count * bytesPer}`);
  const copy = new Uint8Array(body).buffer; // aligned copy
  let data: NpyArray['data'];
  if (dtype === 'uint8' || dtype === 'bool') data = new Uint8Array(copy);
  else if (dtype === 'float32') data = new Float32Array(copy);
  else if (dtype === 'float64') data = new Float64Array(copy);
  else if (dtype === 'int32') data = new Int32Array(copy);
  else data = Int32Array.from(new BigInt64Array(copy), (v) => Number(v));
  return { shape, dtype, data };
}

export function readNpy(file: string, maxElements?: number): NpyArray {
  let stat;
  try {
    stat = statSync(file);
  } catch {
    throw new InputError(file, 'does not exist');
  }
  if (!stat.isFile()) throw new InputError(file, 'is not a file');
  return parseNpy(readFileSync(file), file, maxElements);
}

/** Writes a little-endian float32, uint8 or int32 array as .npy version 1.0. */
export function writeNpy(file: string, data: Float32Array | Uint8Array | Int32Array, shape: number[]): void {
  const descr = data instanceof Float32Array ? '<f4' : data instanceof Int32Array ? '<i4' : '|u1';
  let header = `{'descr': '${descr}', 'fortran_order': False, 'shape': (${shape.join(', ')}${shape.length === 1 ? ',' : ''}), }`;
  header += ' '.repeat(63 - ((10 + header.length) % 64)) + '\n';
  const prefix = Buffer.alloc(10);
  prefix.writeUInt8(0x93, 0);
  prefix.write('NUMPY', 1, 'latin1');
  prefix.writeUInt8(1, 6);
  prefix.writeUInt8(0, 7);
  prefix.writeUInt16LE(header.length, 8);
  writeFileSync(file, Buffer.concat([prefix, Buffer.from(header, 'latin1'), Buffer.from(data.buffer, data.byteOffset, data.byteLength)]));
}
