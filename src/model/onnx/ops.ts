// ONNX operators (opsets 13–21) as tfjs ops, differentiable wherever ONNX is. ONNX images are
// NCHW; convolutions and pools run in NHWC (the layout every tfjs backend and our flat kernels
// implement), and their results stay NHWC through the ops of CHANNELS_LAST_OPS until an op needs
// ONNX's layout (program.ts tracks which). Shape-valued inputs (Reshape's shape, Slice's starts, …)
// are read back from their small int32 tensors, so PyTorch's Shape → Gather → Concat chains
// fold at run time for whatever batch size comes in.
import * as tf from '@tensorflow/tfjs';
import type { OnnxAttribute } from './proto.js';
import { tensorData, type TensorData } from './tensor.js';

export type Value = tf.Tensor;

export interface OpContext {
  /** The default-domain opset the model imports. */
  opset: number;
  /** Names the node in errors. */
  where: string;
  maxElements: number;
}

/** Thrown for a model the gate cannot run; the loader names the file. */
export class OnnxOpError extends Error {}

/** An ONNX node's attributes, read with ONNX's defaults. */
export class Attributes {
  private readonly byName: Map<string, OnnxAttribute>;
  constructor(
    list: OnnxAttribute[] | undefined,
    private readonly where: string,
  ) {
    this.byName = new Map((list ?? []).map((a) => [a.name, a]));
  }
  has(name: string): boolean {
    return this.byName.has(name);
  }
  int(name: string, fallback: number): number {
    return this.byName.get(name)?.i ?? fallback;
  }
  float(name: string, fallback: number): number {
    return this.byName.get(name)?.f ?? fallback;
  }
  ints(name: string): number[] | undefined {
    const a = this.byName.get(name);
    return a ? (a.ints ?? []).map(Number) : undefined;
  }
  floats(name: string): number[] | undefined {
    const a = this.byName.get(name);
    return a ? (a.floats ?? []) : undefined;
  }
  string(name: string, fallback: string): string {
    const s = this.byName.get(name)?.s;
    return s ? Buffer.from(s).toString('utf8') : fallback;
  }
  tensor(name: string, maxElements: number): TensorData | undefined {
    const t = this.byName.get(name)?.t;
    try {
      return t ? tensorData(t, this.where, { maxElements }) : undefined;
    } catch (err) {
      throw new OnnxOpError((err as Error).message); // already names the node
    }
  }
}

type OpFn = (inputs: Array<Value | undefined>, attrs: Attributes, ctx: OpContext) => Value[];

const need = (v: Value | undefined, what: string, ctx: OpContext): Value => {
  if (!v) throw new OnnxOpError(`${ctx.where}: missing input ${what}`);
  return v;
};
/** A small integer tensor's values (shapes, axes, indices). */
const numbersOf = (v: Value): number[] => Array.from(v.dataSync(), Number);
/** Shapes computed at run time (ConstantOfShape, Expand, Tile, Range, Pad) must stay under the tensor cap. */
function checkElements(dims: number[], ctx: OpContext): number[] {
  const count = dims.reduce((a, b) => a * Math.max(0, b), 1);
  if (dims.some((d) => !Number.isFinite(d) || d < 0) || count > ctx.maxElements)
    throw new OnnxOpError(`${ctx.where}: would make a tensor of shape [${dims.join(', ')}], above the limit of ${ctx.maxElements} elements`);
  return dims;
}
const axisOf = (axis: number, rank: number) => (axis < 0 ? axis + rank : axis);
const asFloat = (v: Value) => (v.dtype === 'float32' ? v : tf.cast(v, 'float32'));

/** Makes a and b one dtype (ONNX requires it; our int64 → int32 mapping may not match a float). */
function sameDtype(a: Value, b: Value): [Value, Value] {
  return a.dtype === b.dtype ? [a, b] : [asFloat(a), asFloat(b)];
}

const binary =
  (f: (a: Value, b: Value) => Value): OpFn =>
  ([a, b], _attrs, ctx) => [f(...sameDtype(need(a, 'A', ctx), need(b, 'B', ctx)))];
const unary =
  (f: (a: Value) => Value): OpFn =>
  ([a], _attrs, ctx) => [f(need(a, 'X', ctx))];

/** Integer division truncates toward zero in ONNX; tfjs floors. */
function divide(a: Value, b: Value): Value {
  if (a.dtype !== 'int32') return tf.div(a, b);
  const q = tf.div(tf.cast(a, 'float32'), tf.cast(b, 'float32'));
  return tf.cast(tf.mul(tf.sign(q), tf.floor(tf.abs(q))), 'int32');
}

function toNhwc(x: Value): tf.Tensor4D {
  return tf.transpose(x, [0, 2, 3, 1]) as tf.Tensor4D;
}
function toNchw(x: Value): tf.Tensor4D {
  return tf.transpose(x, [0, 3, 1, 2]) as tf.Tensor4D;
}

interface Window {
  kernel: [number, number];
  strides: [number, number];
  dilations: [number, number];
  pads: [number, number, number, number];
}

/** Kernel geometry of Conv and the pools: explicit [top, left, bottom, right] pads, SAME_* resolved. */
function windowOf(attrs: Attributes, inH: number, inW: number, kernel: [number, number], ctx: OpContext): Window {
  const strides = (attrs.ints('strides') ?? [1, 1]) as [number, number];
  const dilations = (attrs.ints('dilations') ?? [1, 1]) as [number, number];
  const autoPad = attrs.string('auto_pad', 'NOTSET');
  let pads = (attrs.ints('pads') ?? [0, 0, 0, 0]) as [number, number, number, number];
  if (autoPad === 'SAME_UPPER' || autoPad === 'SAME_LOWER') {
    const total = [inH, inW].map((n, i) => Math.max(0, (Math.ceil(n / strides[i]) - 1) * strides[i] + (kernel[i] - 1) * dilations[i] + 1 - n));
    const begin = total.map((t) => (autoPad === 'SAME_UPPER' ? Math.floor(t / 2) : Math.ceil(t / 2)));
    pads = [begin[0], begin[1], total[0] - begin[0], total[1] - begin[1]];
  } else if (autoPad === 'VALID') {
    pads = [0, 0, 0, 0];
  } else if (autoPad !== 'NOTSET') {
    throw new OnnxOpError(`${ctx.where}: auto_pad ${autoPad} is not supported`);
  }
  return { kernel, strides, dilations, pads };
}

/** Runs `f` on an NCHW image tensor; a rank-3 (1-D) input runs as an image of height 1. */
function spatial(x: Value, ctx: OpContext, f: (x4: tf.Tensor4D) => tf.Tensor4D): Value {
  if (x.rank === 3) return tf.squeeze(f(tf.expandDims(x, 2) as tf.Tensor4D), [2]);
  if (x.rank !== 4) throw new OnnxOpError(`${ctx.where}: only 1-D and 2-D spatial inputs are supported (input rank ${x.rank})`);
  return f(x as tf.Tensor4D);
}

const pair = (v: number[] | undefined, rank3: boolean, fallback: number): [number, number] => (v ? (rank3 ? [1, v[0]] : [v[0], v[1]]) : [fallback, fallback]);

/** Rank-3 inputs carry 1-D attributes: prefix them with the unit height. */
function spatialAttrs(attrs: Attributes, rank3: boolean): Attributes {
  if (!rank3) return attrs;
  const lift = (name: string, pad: number) => {
    const v = attrs.ints(name);
    return v ? { name, ints: name === 'pads' ? [0, v[0], 0, v[1]] : [pad, ...v] } : null;
  };
  const list = [lift('strides', 1), lift('dilations', 1), lift('pads', 0), lift('kernel_shape', 1)].filter((a) => a !== null) as OnnxAttribute[];
  const autoPad = attrs.string('auto_pad', 'NOTSET');
  return new Attributes([...list, { name: 'auto_pad', s: Buffer.from(autoPad) }], 'spatial');
}

/**
 * A dilated kernel written out with zeros between its taps: tfjs refuses strides and dilations
 * above 1 together, and our flat kernels implement undilated convolution only. Differentiable.
 * Rows and columns are spread one at a time, so no tensor has more than four dimensions (the
 * webgpu backend's Pad has no shader for six).
 */
function dilateFilter(f: tf.Tensor4D, [dh, dw]: [number, number]): tf.Tensor4D {
  if (dh === 1 && dw === 1) return f;
  const [kh, kw, c, m] = f.shape;
  const KH = (kh - 1) * dh + 1;
  const KW = (kw - 1) * dw + 1;
  const rows = tf.pad(tf.reshape(f, [kh, 1, kw * c * m]), [
    [0, 0],
    [0, dh - 1],
    [0, 0],
  ]);
  const tall = tf.slice(tf.reshape(rows, [kh * dh, kw, c * m]), [0, 0, 0], [KH, kw, c * m]);
  const cols = tf.pad(tf.reshape(tall, [KH, kw, 1, c * m]), [
    [0, 0],
    [0, 0],
    [0, dw - 1],
    [0, 0],
  ]);
  return tf.reshape(tf.slice(tf.reshape(cols, [KH, kw * dw, c * m]), [0, 0, 0], [KH, KW, c * m]), [KH, KW, c, m]) as tf.Tensor4D;
}

/** Conv on a channels-last (NHWC) image; w4 is ONNX's [M, C/g, kH, kW]. Returns NHWC. */
function convNhwc(xh: tf.Tensor4D, w4: tf.Tensor4D, bias: Value | undefined, attrs: Attributes, group: number, ctx: OpContext): tf.Tensor4D {
  const [M, cPerGroup, kH, kW] = w4.shape;
  const [, H, W, C] = xh.shape;
  if (C !== cPerGroup * group) throw new OnnxOpError(`${ctx.where}: input has ${C} channels; the weights expect ${cPerGroup} × group ${group}`);
  const win = windowOf(attrs, H, W, [kH, kW], ctx);
  const [pt, pl, pb, pr] = win.pads;
  // Padding inside the convolution: a separate pad would cost a copy forward and a slice back.
  const pad: tf.backend_util.ExplicitPadding | 'valid' =
    pt || pl || pb || pr
      ? [
          [0, 0],
          [pt, pb],
          [pl, pr],
          [0, 0],
        ]
      : 'valid';
  const filter = dilateFilter(tf.transpose(w4, [2, 3, 1, 0]) as tf.Tensor4D, win.dilations); // [kH', kW', C/g, M]
  let y: tf.Tensor4D;
  if (group === 1) {
    y = tf.conv2d(xh, filter, win.strides, pad);
  } else if (cPerGroup === 1) {
    // Depthwise: output channel c·mult + m reads input channel c, as in ONNX's grouping.
    const [fh, fw] = filter.shape;
    y = tf.depthwiseConv2d(xh, tf.reshape(filter, [fh, fw, C, M / C]) as tf.Tensor4D, win.strides, pad);
  } else {
    const xs = tf.split(xh, group, 3);
    const fs = tf.split(filter, group, 3);
    y = tf.concat(
      xs.map((xi, i) => tf.conv2d(xi as tf.Tensor4D, fs[i] as tf.Tensor4D, win.strides, pad)),
      3,
    ) as tf.Tensor4D;
  }
  return bias ? tf.add(y, tf.reshape(bias, [1, 1, 1, M])) : y;
}

function conv(inputs: Array<Value | undefined>, attrs0: Attributes, ctx: OpContext): Value[] {
  const x = need(inputs[0], 'X', ctx);
  const w = need(inputs[1], 'W', ctx);
  const rank3 = x.rank === 3;
  const attrs = spatialAttrs(attrs0, rank3);
  const w4 = (rank3 ? tf.expandDims(w, 2) : w) as tf.Tensor4D; // [M, C/g, kH, kW]
  return [spatial(x, ctx, (x4) => toNchw(convNhwc(toNhwc(x4), w4, inputs[2], attrs, attrs0.int('group', 1), ctx)))];
}

/** MaxPool / AveragePool on a channels-last (NHWC) image. Returns NHWC. */
function poolNhwc(kind: 'max' | 'avg', xh: tf.Tensor4D, attrs: Attributes, attrs0: Attributes, ctx: OpContext): tf.Tensor4D {
  if (attrs0.int('ceil_mode', 0)) throw new OnnxOpError(`${ctx.where}: ceil_mode=1 is not supported`);
  if (attrs0.int('storage_order', 0)) throw new OnnxOpError(`${ctx.where}: storage_order=1 is not supported`);
  const kernel = pair(attrs.ints('kernel_shape'), false, 1);
  const [, H, W] = xh.shape;
  const win = windowOf(attrs, H, W, kernel, ctx);
  if (win.dilations[0] !== 1 || win.dilations[1] !== 1) throw new OnnxOpError(`${ctx.where}: dilated pooling is not supported`);
  const [pt, pl, pb, pr] = win.pads;
  const padded = pt || pl || pb || pr;
  const pads: Array<[number, number]> = [
    [0, 0],
    [pt, pb],
    [pl, pr],
    [0, 0],
  ];
  if (kind === 'max') return tf.maxPool(padded ? tf.pad(xh, pads, -3.4e38) : xh, win.kernel, win.strides, 'valid');
  if (!padded) return tf.avgPool(xh, win.kernel, win.strides, 'valid');
  const sum = tf.avgPool(tf.pad(xh, pads), win.kernel, win.strides, 'valid');
  if (attrs0.int('count_include_pad', 0)) return sum;
  // Average over the real pixels only: divide by the share of the window inside the image.
  const share = tf.avgPool(tf.pad(tf.ones([1, H, W, 1]), pads) as tf.Tensor4D, win.kernel, win.strides, 'valid');
  return tf.div(sum, share);
}

function pool(kind: 'max' | 'avg'): OpFn {
  return (inputs, attrs0, ctx) => {
    const x = need(inputs[0], 'X', ctx);
    const attrs = spatialAttrs(attrs0, x.rank === 3);
    return [spatial(x, ctx, (x4) => toNchw(poolNhwc(kind, toNhwc(x4), attrs, attrs0, ctx)))];
  };
}

function softmaxAlong(x: Value, axis: number, f: (v: Value) => Value): Value {
  const a = axisOf(axis, x.rank);
  if (a === x.rank - 1) return f(x);
  const perm = x.shape.map((_, i) => i);
  perm[a] = x.rank - 1;
  perm[x.rank - 1] = a;
  return tf.transpose(f(tf.transpose(x, perm)), perm);
}

function reduce(f: (x: Value, axes: number[], keep: boolean) => Value, axesAsInputSince: number): OpFn {
  return (inputs, attrs, ctx) => {
    const x = need(inputs[0], 'data', ctx);
    const keep = attrs.int('keepdims', 1) === 1;
    let axes = ctx.opset >= axesAsInputSince ? (inputs[1] ? numbersOf(inputs[1]) : undefined) : attrs.ints('axes');
    if (!axes || !axes.length) {
      if (attrs.int('noop_with_empty_axes', 0)) return [x];
      axes = x.shape.map((_, i) => i);
    }
    return [
      f(
        x,
        axes.map((a) => axisOf(a, x.rank)),
        keep,
      ),
    ];
  };
}

function reshapeTo(x: Value, shape: number[], allowZero: boolean): Value {
  const dims = shape.map((d, i) => (d === 0 && !allowZero ? x.shape[i] : d));
  return tf.reshape(x, dims);
}

/** Clamped [start, end) of one Slice axis with a positive step (ONNX's clamping rules). */
function sliceBounds(start: number, end: number, step: number, dim: number): [number, number] {
  const norm = (v: number) => (v < 0 ? v + dim : v);
  if (step > 0) return [Math.min(Math.max(norm(start), 0), dim), Math.min(Math.max(norm(end), 0), dim)];
  return [Math.min(Math.max(norm(start), -1), dim - 1), Math.min(Math.max(norm(end), -1), dim - 1)];
}

function slice(inputs: Array<Value | undefined>, _attrs: Attributes, ctx: OpContext): Value[] {
  let x = need(inputs[0], 'data', ctx);
  const starts = numbersOf(need(inputs[1], 'starts', ctx));
  const ends = numbersOf(need(inputs[2], 'ends', ctx));
  const axes = inputs[3] ? numbersOf(inputs[3]).map((a) => axisOf(a, x.rank)) : starts.map((_, i) => i);
  const steps = inputs[4] ? numbersOf(inputs[4]) : starts.map(() => 1);
  const begin = x.shape.map(() => 0);
  const end = [...x.shape];
  const stride = x.shape.map(() => 1);
  for (let i = 0; i < axes.length; i++) {
    const a = axes[i];
    if (steps[i] === 0) throw new OnnxOpError(`${ctx.where}: Slice step 0`);
    const [s, e] = sliceBounds(starts[i], ends[i], steps[i], x.shape[a]);
    if (steps[i] > 0) {
      begin[a] = s;
      end[a] = Math.max(s, e);
      stride[a] = steps[i];
    } else {
      // Negative step: gather the indices s, s+step, … (> e) along the axis.
      const idx: number[] = [];
      for (let k = s; k > e; k += steps[i]) idx.push(k);
      x = tf.gather(x, tf.tensor1d(idx, 'int32'), a);
    }
  }
  if (begin.every((b, i) => b === 0 && end[i] === x.shape[i] && stride[i] === 1)) return [x];
  return [tf.stridedSlice(x, begin, end, stride)];
}

function gather(inputs: Array<Value | undefined>, attrs: Attributes, ctx: OpContext): Value[] {
  const x = need(inputs[0], 'data', ctx);
  const indices = need(inputs[1], 'indices', ctx);
  const axis = axisOf(attrs.int('axis', 0), x.rank);
  const dim = x.shape[axis];
  // Negative indices count from the end.
  const list = Array.from(indices.dataSync(), (v) => (v < 0 ? v + dim : v));
  if (list.some((v) => v < 0 || v >= dim)) throw new OnnxOpError(`${ctx.where}: index out of range for an axis of ${dim}`);
  if (list.length > 64) return [tf.gather(x, tf.tensor(list, indices.shape, 'int32'), axis)];
  // Few indices (ViT's class token, q/k/v of a fused projection): slices, whose gradient every
  // backend has (tf.gather's needs UnsortedSegmentSum, which wasm lacks).
  const size = x.shape.map((d, i) => (i === axis ? 1 : d));
  const parts = list.map((v) =>
    tf.slice(
      x,
      x.shape.map((_, i) => (i === axis ? v : 0)),
      size,
    ),
  );
  const picked = parts.length === 1 ? parts[0] : tf.concat(parts, axis);
  return [tf.reshape(picked, [...x.shape.slice(0, axis), ...indices.shape, ...x.shape.slice(axis + 1)])];
}

function unsqueeze(inputs: Array<Value | undefined>, attrs: Attributes, ctx: OpContext): Value[] {
  const x = need(inputs[0], 'data', ctx);
  const axes = ctx.opset >= 13 ? numbersOf(need(inputs[1], 'axes', ctx)) : (attrs.ints('axes') ?? []);
  const rank = x.rank + axes.length;
  const sorted = axes.map((a) => axisOf(a, rank)).sort((p, q) => p - q);
  const shape = [...x.shape];
  for (const a of sorted) shape.splice(a, 0, 1);
  return [tf.reshape(x, shape)];
}

function squeeze(inputs: Array<Value | undefined>, attrs: Attributes, ctx: OpContext): Value[] {
  const x = need(inputs[0], 'data', ctx);
  const axes = ctx.opset >= 13 ? (inputs[1] ? numbersOf(inputs[1]) : undefined) : attrs.ints('axes');
  return [
    axes
      ? tf.squeeze(
          x,
          axes.map((a) => axisOf(a, x.rank)),
        )
      : tf.squeeze(x),
  ];
}

function split(inputs: Array<Value | undefined>, attrs: Attributes, ctx: OpContext, outputs: number): Value[] {
  const x = need(inputs[0], 'input', ctx);
  const axis = axisOf(attrs.int('axis', 0), x.rank);
  const sizes = inputs[1] ? numbersOf(inputs[1]) : attrs.ints('split');
  if (sizes) return tf.split(x, sizes, axis);
  const n = attrs.int('num_outputs', outputs);
  const dim = x.shape[axis];
  const chunk = Math.ceil(dim / n);
  return tf.split(
    x,
    Array.from({ length: n }, (_, i) => Math.min(chunk, dim - i * chunk)),
    axis,
  );
}

function concat(inputs: Array<Value | undefined>, attrs: Attributes, ctx: OpContext): Value[] {
  const xs = inputs.filter((v): v is Value => !!v);
  const first = need(xs[0], 'inputs', ctx);
  const mixed = xs.some((v) => v.dtype !== first.dtype);
  return [tf.concat(mixed ? xs.map(asFloat) : xs, axisOf(attrs.int('axis', 0), first.rank))];
}

function constant(_inputs: Array<Value | undefined>, attrs: Attributes, ctx: OpContext): Value[] {
  const t = attrs.tensor('value', ctx.maxElements);
  if (t) return [tf.tensor(t.values, t.shape, t.dtype)];
  const f = attrs.floats('value_floats');
  if (f) return [tf.tensor1d(f)];
  const i = attrs.ints('value_ints');
  if (i) return [tf.tensor1d(i, 'int32')];
  if (attrs.has('value_float')) return [tf.scalar(attrs.float('value_float', 0))];
  if (attrs.has('value_int')) return [tf.scalar(attrs.int('value_int', 0), 'int32')];
  throw new OnnxOpError(`${ctx.where}: Constant without a supported value (sparse and string constants are not supported)`);
}

function layerNorm(inputs: Array<Value | undefined>, attrs: Attributes, ctx: OpContext): Value[] {
  const x = need(inputs[0], 'X', ctx);
  const axis = axisOf(attrs.int('axis', -1), x.rank);
  const eps = attrs.float('epsilon', 1e-5);
  const axes = x.shape.map((_, i) => i).filter((i) => i >= axis);
  const { mean, variance } = tf.moments(x, axes, true);
  let y = tf.div(tf.sub(x, mean), tf.sqrt(tf.add(variance, eps)));
  if (inputs[1]) y = tf.mul(y, inputs[1]);
  if (inputs[2]) y = tf.add(y, inputs[2]);
  return [y];
}

function batchNorm(inputs: Array<Value | undefined>, attrs: Attributes, ctx: OpContext, channelsLast = false): Value[] {
  const x = need(inputs[0], 'X', ctx);
  if (attrs.int('training_mode', 0)) throw new OnnxOpError(`${ctx.where}: BatchNormalization in training mode is not supported`);
  const eps = attrs.float('epsilon', 1e-5);
  // Per-channel parameters broadcast over NC…: shape [C, 1, …]; over a channels-last image, [C].
  const shape: number[] = channelsLast ? [x.shape[3] ?? 1] : [x.shape[1] ?? 1, ...x.shape.slice(2).map(() => 1)];
  const [scale, bias, mean, variance] = [1, 2, 3, 4].map((i) => tf.reshape(need(inputs[i], `#${i}`, ctx), shape));
  const y = tf.add(tf.mul(tf.div(tf.sub(x, mean), tf.sqrt(tf.add(variance, eps))), scale), bias);
  return [y];
}

function gemm(inputs: Array<Value | undefined>, attrs: Attributes, ctx: OpContext): Value[] {
  const a = need(inputs[0], 'A', ctx) as tf.Tensor2D;
  const b = need(inputs[1], 'B', ctx) as tf.Tensor2D;
  let y: Value = tf.matMul(a, b, attrs.int('transA', 0) === 1, attrs.int('transB', 0) === 1);
  const alpha = attrs.float('alpha', 1);
  if (alpha !== 1) y = tf.mul(y, alpha);
  if (inputs[2]) {
    const beta = attrs.float('beta', 1);
    y = tf.add(y, beta === 1 ? inputs[2] : tf.mul(inputs[2], beta));
  }
  return [y];
}

function matMul(inputs: Array<Value | undefined>, _attrs: Attributes, ctx: OpContext): Value[] {
  let a = need(inputs[0], 'A', ctx);
  let b = need(inputs[1], 'B', ctx);
  // numpy matmul: 1-D operands gain (and then lose) a unit axis.
  const aVec = a.rank === 1;
  const bVec = b.rank === 1;
  if (aVec) a = tf.expandDims(a, 0);
  if (bVec) b = tf.expandDims(b, 1);
  let y: Value = a.rank === 2 && b.rank > 2 ? tf.matMul(tf.reshape(a, [...b.shape.slice(0, -2).map(() => 1), ...a.shape]), b) : tf.matMul(a, b);
  if (aVec) y = tf.squeeze(y, [y.rank - 2]);
  if (bVec) y = tf.squeeze(y, [y.rank - 1]);
  return [y];
}

function clip(inputs: Array<Value | undefined>, attrs: Attributes, ctx: OpContext): Value[] {
  const x = need(inputs[0], 'input', ctx);
  const lo = inputs[1] ? numbersOf(inputs[1])[0] : attrs.float('min', -Infinity);
  const hi = inputs[2] ? numbersOf(inputs[2])[0] : attrs.float('max', Infinity);
  // clipByValue's gradient passes only strictly inside (lo, hi); ReLU6 exports need exactly that.
  return [tf.clipByValue(x, lo, hi)];
}

function gelu(inputs: Array<Value | undefined>, attrs: Attributes, ctx: OpContext): Value[] {
  const x = need(inputs[0], 'X', ctx);
  if (attrs.string('approximate', 'none') === 'tanh') {
    const inner = tf.mul(Math.sqrt(2 / Math.PI), tf.add(x, tf.mul(0.044715, tf.pow(x, 3))));
    return [tf.mul(tf.mul(0.5, x), tf.add(1, tf.tanh(inner)))];
  }
  return [tf.mul(tf.mul(0.5, x), tf.add(1, tf.erf(tf.div(x, Math.SQRT2))))];
}

function pow(inputs: Array<Value | undefined>, _attrs: Attributes, ctx: OpContext): Value[] {
  const x = need(inputs[0], 'X', ctx);
  const y = need(inputs[1], 'Y', ctx);
  if (y.size === 1) {
    const e = y.dataSync()[0];
    if (e === 2) return [tf.square(x)];
    if (e === 1) return [x];
    if (e === 0.5) return [tf.sqrt(x)];
  }
  return [tf.pow(...sameDtype(x, y))];
}

function cast(inputs: Array<Value | undefined>, attrs: Attributes, ctx: OpContext): Value[] {
  const x = need(inputs[0], 'input', ctx);
  const to = attrs.int('to', 1);
  const dtype = to === 9 ? 'bool' : [1, 10, 11, 16].includes(to) ? 'float32' : 'int32';
  if (x.dtype === dtype) return [x];
  // ONNX casts float → int by truncation; tfjs by truncation too.
  return [tf.cast(x, dtype)];
}

function pad(inputs: Array<Value | undefined>, attrs: Attributes, ctx: OpContext, channelsLast = false): Value[] {
  const x = need(inputs[0], 'data', ctx);
  const mode = attrs.string('mode', 'constant');
  let pads = inputs[1] ? numbersOf(inputs[1]) : (attrs.ints('pads') ?? []);
  const value = inputs[2] ? inputs[2].dataSync()[0] : attrs.float('value', 0);
  if (inputs[3]) {
    // opset 18: pads only for the listed axes.
    const axes = numbersOf(inputs[3]).map((a) => axisOf(a, x.rank));
    const full = new Array<number>(2 * x.rank).fill(0);
    axes.forEach((a, i) => {
      full[a] = pads[i];
      full[a + x.rank] = pads[i + axes.length];
    });
    pads = full;
  }
  if (pads.some((p) => p < 0)) throw new OnnxOpError(`${ctx.where}: negative pads are not supported`);
  // PyTorch exports pad nothing now and then; a copy here would cost a copy and a slice per step.
  if (pads.every((p) => p === 0)) return [x];
  let widths = x.shape.map((_, i) => [pads[i], pads[i + x.rank]] as [number, number]);
  if (channelsLast) widths = [0, 2, 3, 1].map((i) => widths[i]);
  checkElements(
    x.shape.map((d, i) => d + widths[i][0] + widths[i][1]),
    ctx,
  );
  if (mode === 'constant') return [tf.pad(x, widths, value)];
  if (mode === 'reflect') return [tf.mirrorPad(x, widths, 'reflect')];
  throw new OnnxOpError(`${ctx.where}: Pad mode ${mode} is not supported`);
}

function expand(inputs: Array<Value | undefined>, _attrs: Attributes, ctx: OpContext): Value[] {
  const x = need(inputs[0], 'input', ctx);
  const shape = numbersOf(need(inputs[1], 'shape', ctx));
  // numpy broadcast of x's shape with `shape` (a 1 in `shape` keeps x's dim).
  const rank = Math.max(x.rank, shape.length);
  const xs = [...new Array(rank - x.rank).fill(1), ...x.shape];
  const ts = [...new Array(rank - shape.length).fill(1), ...shape];
  const out = checkElements(
    xs.map((d, i) => (d === 1 ? ts[i] : d)),
    ctx,
  );
  return [tf.broadcastTo(tf.reshape(x, xs), out)];
}

function flatten(inputs: Array<Value | undefined>, attrs: Attributes, ctx: OpContext): Value[] {
  const x = need(inputs[0], 'input', ctx);
  const axis = axisOf(attrs.int('axis', 1), x.rank);
  const outer = x.shape.slice(0, axis).reduce((p, q) => p * q, 1);
  return [tf.reshape(x, [outer, -1])];
}

function shape(inputs: Array<Value | undefined>, attrs: Attributes, ctx: OpContext): Value[] {
  const x = need(inputs[0], 'data', ctx);
  const rank = x.rank;
  const clampAxis = (v: number) => Math.min(Math.max(v < 0 ? v + rank : v, 0), rank);
  const start = clampAxis(attrs.int('start', 0));
  const end = clampAxis(attrs.int('end', rank));
  return [tf.tensor1d(x.shape.slice(start, end), 'int32')];
}

function range(inputs: Array<Value | undefined>, _attrs: Attributes, ctx: OpContext): Value[] {
  const [start, limit, delta] = [0, 1, 2].map((i) => need(inputs[i], `#${i}`, ctx));
  const dtype = start.dtype === 'int32' ? 'int32' : 'float32';
  const [a, b, d] = [start, limit, delta].map((v) => v.dataSync()[0]);
  checkElements([Math.max(0, Math.ceil((b - a) / d))], ctx);
  return [tf.range(a, b, d, dtype)];
}

function constantOfShape(inputs: Array<Value | undefined>, attrs: Attributes, ctx: OpContext): Value[] {
  const dims = checkElements(numbersOf(need(inputs[0], 'input', ctx)), ctx);
  const t = attrs.tensor('value', ctx.maxElements);
  return [tf.fill(dims, t ? t.values[0] : 0, t?.dtype ?? 'float32')];
}

function where(inputs: Array<Value | undefined>, _attrs: Attributes, ctx: OpContext): Value[] {
  const c = need(inputs[0], 'condition', ctx);
  const [a, b] = sameDtype(need(inputs[1], 'X', ctx), need(inputs[2], 'Y', ctx));
  const out = [...c.shape, ...a.shape, ...b.shape].length ? broadcastShape([c.shape, a.shape, b.shape]) : [];
  return [tf.where(tf.broadcastTo(tf.cast(c, 'bool'), out), tf.broadcastTo(a, out), tf.broadcastTo(b, out))];
}

function broadcastShape(shapes: number[][]): number[] {
  const rank = Math.max(...shapes.map((s) => s.length));
  return Array.from({ length: rank }, (_, i) => Math.max(...shapes.map((s) => s[s.length - rank + i] ?? 1)));
}

const variadic =
  (f: (a: Value, b: Value) => Value): OpFn =>
  (inputs, _attrs, ctx) => {
    const xs = inputs.filter((v): v is Value => !!v);
    if (!xs.length) throw new OnnxOpError(`${ctx.where}: no inputs`);
    return [xs.slice(1).reduce((acc, v) => f(...sameDtype(acc, v)), xs[0])];
  };

const hardSigmoid = (alpha: number, beta: number, x: Value) => tf.clipByValue(tf.add(tf.mul(alpha, x), beta), 0, 1);

const OPS: Record<string, OpFn> = {
  Add: binary(tf.add),
  Sub: binary(tf.sub),
  Mul: binary(tf.mul),
  Div: binary(divide),
  Pow: pow,
  Equal: binary(tf.equal),
  Less: binary(tf.less),
  LessOrEqual: binary(tf.lessEqual),
  Greater: binary(tf.greater),
  GreaterOrEqual: binary(tf.greaterEqual),
  And: binary(tf.logicalAnd),
  Or: binary(tf.logicalOr),
  Not: unary(tf.logicalNot),
  Max: variadic(tf.maximum),
  Min: variadic(tf.minimum),
  Sum: variadic(tf.add),
  Where: where,
  Relu: unary(tf.relu),
  LeakyRelu: ([x], attrs, ctx) => [tf.leakyRelu(need(x, 'X', ctx), attrs.float('alpha', 0.01))],
  Elu: ([x], attrs, ctx) => {
    const a = attrs.float('alpha', 1);
    const v = need(x, 'X', ctx);
    return [a === 1 ? tf.elu(v) : tf.where(tf.greater(v, 0), v, tf.mul(a, tf.sub(tf.exp(v), 1)))];
  },
  Sigmoid: unary(tf.sigmoid),
  HardSigmoid: ([x], attrs, ctx) => [hardSigmoid(attrs.float('alpha', 0.2), attrs.float('beta', 0.5), need(x, 'X', ctx))],
  HardSwish: unary((x) => tf.mul(x, hardSigmoid(1 / 6, 0.5, x))),
  Tanh: unary(tf.tanh),
  Softplus: unary(tf.softplus),
  Erf: unary(tf.erf),
  Gelu: gelu,
  Exp: unary(tf.exp),
  Log: unary(tf.log),
  Sqrt: unary(tf.sqrt),
  Reciprocal: unary(tf.reciprocal),
  Neg: unary(tf.neg),
  Abs: unary(tf.abs),
  Floor: unary(tf.floor),
  Ceil: unary(tf.ceil),
  Clip: clip,
  Identity: unary((x) => x),
  Dropout: ([x], _attrs, ctx) => [need(x, 'data', ctx)],
  Softmax: ([x], attrs, ctx) => [softmaxAlong(need(x, 'input', ctx), attrs.int('axis', -1), (v) => tf.softmax(v))],
  LogSoftmax: ([x], attrs, ctx) => [softmaxAlong(need(x, 'input', ctx), attrs.int('axis', -1), (v) => tf.logSoftmax(v))],
  Conv: conv,
  MaxPool: pool('max'),
  AveragePool: pool('avg'),
  GlobalAveragePool: ([x], _attrs, ctx) => {
    const v = need(x, 'X', ctx);
    return [
      tf.mean(
        v,
        v.shape.slice(2).map((_, i) => i + 2),
        true,
      ),
    ];
  },
  GlobalMaxPool: ([x], _attrs, ctx) => {
    const v = need(x, 'X', ctx);
    return [
      tf.max(
        v,
        v.shape.slice(2).map((_, i) => i + 2),
        true,
      ),
    ];
  },
  BatchNormalization: (inputs, attrs, ctx) => batchNorm(inputs, attrs, ctx),
  LayerNormalization: layerNorm,
  Gemm: gemm,
  MatMul: matMul,
  Flatten: flatten,
  Reshape: ([x, s], attrs, ctx) => [reshapeTo(need(x, 'data', ctx), numbersOf(need(s, 'shape', ctx)), attrs.int('allowzero', 0) === 1)],
  Transpose: ([x], attrs, ctx) => {
    const v = need(x, 'data', ctx);
    return [tf.transpose(v, attrs.ints('perm') ?? v.shape.map((_, i) => v.rank - 1 - i))];
  },
  Concat: concat,
  Slice: slice,
  Gather: gather,
  Unsqueeze: unsqueeze,
  Squeeze: squeeze,
  Expand: expand,
  Tile: ([x, r], _attrs, ctx) => {
    const v = need(x, 'input', ctx);
    const reps = numbersOf(need(r, 'repeats', ctx));
    checkElements(
      v.shape.map((d, i) => d * (reps[i] ?? 1)),
      ctx,
    );
    return [tf.tile(v, reps)];
  },
  Pad: (inputs, attrs, ctx) => pad(inputs, attrs, ctx),
  ReduceMean: reduce((x, axes, keep) => tf.mean(x, axes, keep), 18),
  ReduceSum: reduce((x, axes, keep) => tf.sum(x, axes, keep), 13),
  ReduceMax: reduce((x, axes, keep) => tf.max(x, axes, keep), 18),
  ReduceMin: reduce((x, axes, keep) => tf.min(x, axes, keep), 18),
  ReduceProd: reduce((x, axes, keep) => tf.prod(x, axes, keep), 18),
  ReduceL2: reduce((x, axes, keep) => tf.sqrt(tf.sum(tf.square(x), axes, keep)), 18),
  Cast: cast,
  CastLike: ([x, like], _attrs, ctx) => [tf.cast(need(x, 'input', ctx), need(like, 'target_type', ctx).dtype)],
  Shape: shape,
  Size: ([x], _attrs, ctx) => [tf.scalar(need(x, 'data', ctx).size, 'int32')],
  Range: range,
  ConstantOfShape: constantOfShape,
  Constant: constant,
};

/**
 * Ops that also run on channels-last activations (a 4-D NCHW value held as NHWC), so a chain of
 * convolutions, pools, normalisations and elementwise ops pays for no transposes between its
 * links: the program tracks each value's layout and transposes only where an op needs ONNX's own.
 * `native` ops compute in NHWC anyway and take their image channels-last whatever it was; the
 * others run channels-last only when their activations already are (elementwise ones only with
 * equal shapes or a size-1 operand: a smaller operand would broadcast over other axes).
 */
export interface ChannelsLastOp {
  native: boolean;
  /** Input indices holding activations; the others (weights, pads, bounds) keep ONNX's layout. */
  activations: readonly number[];
  /** The op on NHWC activations; returns NHWC. */
  run: OpFn;
}

const followsLayout = (op: string, activations: readonly number[] = [0]): ChannelsLastOp => ({ native: false, activations, run: OPS[op] });
const reduceSpatial =
  (f: (x: Value, axes: number[], keep: boolean) => Value): OpFn =>
  ([x], _attrs, ctx) => [f(need(x, 'X', ctx), [1, 2], true)];

export const CHANNELS_LAST_OPS: Readonly<Record<string, ChannelsLastOp>> = {
  Conv: {
    native: true,
    activations: [0],
    run: (inputs, attrs, ctx) => [
      convNhwc(need(inputs[0], 'X', ctx) as tf.Tensor4D, need(inputs[1], 'W', ctx) as tf.Tensor4D, inputs[2], attrs, attrs.int('group', 1), ctx),
    ],
  },
  MaxPool: { native: true, activations: [0], run: (inputs, attrs, ctx) => [poolNhwc('max', need(inputs[0], 'X', ctx) as tf.Tensor4D, attrs, attrs, ctx)] },
  AveragePool: { native: true, activations: [0], run: (inputs, attrs, ctx) => [poolNhwc('avg', need(inputs[0], 'X', ctx) as tf.Tensor4D, attrs, attrs, ctx)] },
  BatchNormalization: { native: false, activations: [0], run: (inputs, attrs, ctx) => batchNorm(inputs, attrs, ctx, true) },
  Pad: { native: false, activations: [0], run: (inputs, attrs, ctx) => pad(inputs, attrs, ctx, true) },
  GlobalAveragePool: { native: false, activations: [0], run: reduceSpatial((x, axes, keep) => tf.mean(x, axes, keep)) },
  GlobalMaxPool: { native: false, activations: [0], run: reduceSpatial((x, axes, keep) => tf.max(x, axes, keep)) },
  ...Object.fromEntries(
    [
      'Relu',
      'LeakyRelu',
      'Elu',
      'Sigmoid',
      'HardSigmoid',
      'HardSwish',
      'Tanh',
      'Softplus',
      'Erf',
      'Gelu',
      'Exp',
      'Log',
      'Sqrt',
      'Reciprocal',
      'Neg',
      'Abs',
      'Floor',
      'Ceil',
      'Clip',
      'Identity',
      'Dropout',
    ].map((op) => [op, followsLayout(op)]),
  ),
  ...Object.fromEntries(['Add', 'Sub', 'Mul', 'Div'].map((op) => [op, followsLayout(op, [0, 1])])),
};

/** Ops with a variable number of outputs, given how many the node names. */
const MULTI_OUTPUT: Record<string, (inputs: Array<Value | undefined>, attrs: Attributes, ctx: OpContext, outputs: number) => Value[]> = { Split: split };

export const SUPPORTED_ONNX_OPS: readonly string[] = [...Object.keys(OPS), ...Object.keys(MULTI_OUTPUT)].sort();

export function runOp(opType: string, inputs: Array<Value | undefined>, attrs: Attributes, ctx: OpContext, outputs: number): Value[] {
  const multi = MULTI_OUTPUT[opType];
  if (multi) return multi(inputs, attrs, ctx, outputs);
  const f = OPS[opType];
  if (!f) throw new OnnxOpError(`${ctx.where}: unsupported op ${opType}`);
  return f(inputs, attrs, ctx);
}
