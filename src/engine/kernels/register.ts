// Registers the flat-array kernels with tfjs: on `cpu` they replace the stock kernels that
// profiling shows are hot (npm run bench measures each), on `wasm` they supply the ones the
// backend lacks, without which input gradients through (fused) convolutions throw.
import * as tf from '@tensorflow/tfjs';
import {
  biasActivationInPlace,
  conv2dBackpropFilter,
  conv2dBackpropInput,
  conv2dForward,
  depthwiseBackpropFilter,
  depthwiseBackpropInput,
  depthwiseForward,
  maxPoolBackprop,
  type ConvGeometry,
  type FusedActivation,
} from './conv-math.js';

type TensorInfo = tf.TensorInfo;
type Attrs = Record<string, unknown>;
type Inputs = Record<string, TensorInfo | undefined>;

/** How a kernel reads and writes flat float32 data on one backend. */
interface FlatIO {
  read(t: TensorInfo): Float32Array;
  write(shape: number[], values: Float32Array): TensorInfo;
}

interface CpuBackendLike {
  data: { get(id: unknown): { values: ArrayLike<number> } };
  makeTensorInfo(shape: number[], dtype: string, values: Float32Array): TensorInfo;
}
interface WasmBackendLike {
  readSync(id: unknown): ArrayLike<number>;
  makeOutput(shape: number[], dtype: string): TensorInfo;
  typedArrayFromHeap(t: TensorInfo): Float32Array;
}

function asFloat32(values: ArrayLike<number>): Float32Array {
  return values instanceof Float32Array ? values : Float32Array.from(values);
}

function ioFor(backendName: string, backend: unknown): FlatIO {
  if (backendName === 'cpu') {
    const b = backend as CpuBackendLike;
    return {
      read: (t) => asFloat32(b.data.get(t.dataId).values),
      write: (shape, values) => b.makeTensorInfo(shape, 'float32', values),
    };
  }
  const b = backend as WasmBackendLike;
  return {
    read: (t) => asFloat32(b.readSync(t.dataId)),
    write: (shape, values) => {
      const out = b.makeOutput(shape, 'float32');
      b.typedArrayFromHeap(out).set(values);
      return out;
    },
  };
}

type FlatKernel = (io: FlatIO, inputs: Inputs, attrs: Attrs) => TensorInfo | null;

const bu = tf.backend_util;
const pair = (v: unknown): [number, number] | number => (v == null ? 1 : (v as [number, number] | number));
const dims = (attrs: Attrs) => ({
  strides: attrs.strides as [number, number] | number,
  pad: attrs.pad as 'same' | 'valid' | number,
  rounding: attrs.dimRoundingMode as 'floor' | 'round' | 'ceil' | undefined,
});
const channelsLast = (attrs: Attrs) => attrs.dataFormat == null || attrs.dataFormat === 'NHWC' || attrs.dataFormat === 'channelsLast';
const geometry = (info: tf.backend_util.Conv2DInfo): ConvGeometry => info;

const FUSED_ACTIVATIONS = new Set(['linear', 'relu', 'relu6', 'elu', 'sigmoid', 'leakyrelu']);

function fusedEpilogue(io: FlatIO, y: Float32Array, channels: number, inputs: Inputs, attrs: Attrs): boolean {
  const activation = (attrs.activation as string | undefined) ?? 'linear';
  if (!FUSED_ACTIVATIONS.has(activation)) return false;
  const bias = inputs.bias ? io.read(inputs.bias) : null;
  if (bias && bias.length !== 1 && bias.length !== channels) return false;
  biasActivationInPlace(y, channels, bias, activation as FusedActivation, (attrs.leakyreluAlpha as number) ?? 0.2);
  return true;
}

/** Returns null when the configuration is outside what the flat kernels cover (caller falls back). */
export const FLAT_KERNELS: Record<string, FlatKernel> = {
  Conv2D(io, { x, filter }, attrs) {
    if (!channelsLast(attrs)) return null;
    const { strides, pad, rounding } = dims(attrs);
    const info = bu.computeConv2DInfo(
      x!.shape as [number, number, number, number],
      filter!.shape as [number, number, number, number],
      strides,
      pair(attrs.dilations),
      pad,
      rounding,
    );
    return io.write(info.outShape, conv2dForward(io.read(x!), io.read(filter!), geometry(info)));
  },
  FusedConv2D(io, inputs, attrs) {
    const { x, filter } = inputs;
    if (!channelsLast(attrs)) return null;
    const { strides, pad, rounding } = dims(attrs);
    const info = bu.computeConv2DInfo(
      x!.shape as [number, number, number, number],
      filter!.shape as [number, number, number, number],
      strides,
      pair(attrs.dilations),
      pad,
      rounding,
    );
    const y = conv2dForward(io.read(x!), io.read(filter!), geometry(info));
    return fusedEpilogue(io, y, info.outChannels, inputs, attrs) ? io.write(info.outShape, y) : null;
  },
  Conv2DBackpropFilter(io, { x, dy }, attrs) {
    if (!channelsLast(attrs)) return null;
    const { strides, pad, rounding } = dims(attrs);
    const filterShape = attrs.filterShape as [number, number, number, number];
    const info = bu.computeConv2DInfo(x!.shape as [number, number, number, number], filterShape, strides, 1, pad, rounding);
    return io.write(filterShape, conv2dBackpropFilter(io.read(x!), io.read(dy!), geometry(info)));
  },
  Conv2DBackpropInput(io, { dy, filter }, attrs) {
    if (!channelsLast(attrs)) return null;
    const { strides, pad, rounding } = dims(attrs);
    const inputShape = attrs.inputShape as [number, number, number, number];
    const info = bu.computeConv2DInfo(inputShape, filter!.shape as [number, number, number, number], strides, 1, pad, rounding);
    return io.write(inputShape, conv2dBackpropInput(io.read(dy!), io.read(filter!), geometry(info)));
  },
  DepthwiseConv2dNative(io, { x, filter }, attrs) {
    const { strides, pad, rounding } = dims(attrs);
    const info = bu.computeConv2DInfo(
      x!.shape as [number, number, number, number],
      filter!.shape as [number, number, number, number],
      strides,
      pair(attrs.dilations),
      pad,
      rounding,
      true,
    );
    return io.write(info.outShape, depthwiseForward(io.read(x!), io.read(filter!), geometry(info)));
  },
  FusedDepthwiseConv2D(io, inputs, attrs) {
    const { x, filter } = inputs;
    if (!channelsLast(attrs)) return null;
    const { strides, pad, rounding } = dims(attrs);
    const info = bu.computeConv2DInfo(
      x!.shape as [number, number, number, number],
      filter!.shape as [number, number, number, number],
      strides,
      pair(attrs.dilations),
      pad,
      rounding,
      true,
    );
    const y = depthwiseForward(io.read(x!), io.read(filter!), geometry(info));
    return fusedEpilogue(io, y, info.outChannels, inputs, attrs) ? io.write(info.outShape, y) : null;
  },
  DepthwiseConv2dNativeBackpropInput(io, { dy, filter }, attrs) {
    const { strides, pad, rounding } = dims(attrs);
    const inputShape = attrs.inputShape as [number, number, number, number];
    const info = bu.computeConv2DInfo(inputShape, filter!.shape as [number, number, number, number], strides, pair(attrs.dilations), pad, rounding, true);
    return io.write(inputShape, depthwiseBackpropInput(io.read(dy!), io.read(filter!), geometry(info)));
  },
  DepthwiseConv2dNativeBackpropFilter(io, { x, dy }, attrs) {
    const { strides, pad, rounding } = dims(attrs);
    const filterShape = attrs.filterShape as [number, number, number, number];
    const info = bu.computeConv2DInfo(x!.shape as [number, number, number, number], filterShape, strides, pair(attrs.dilations), pad, rounding, true);
    return io.write(filterShape, depthwiseBackpropFilter(io.read(x!), io.read(dy!), geometry(info)));
  },
  MaxPoolGrad(io, { dy, input }, attrs) {
    const { strides, pad, rounding } = dims(attrs);
    const shape = input!.shape as [number, number, number, number];
    const info = bu.computePool2DInfo(shape, attrs.filterSize as [number, number] | number, strides, 1, pad, rounding);
    return io.write(shape, maxPoolBackprop(io.read(dy!), io.read(input!), geometry(info)));
  },
};

/**
 * Kernels replaced on `cpu` (npm run bench prints each against stock): the filter gradients,
 * MaxPoolGrad and Tile are 29–90× faster; Conv2D and Conv2DBackpropInput run at about stock speed
 * (1.0–1.4×) and are kept so the whole conv family follows one code path on cpu and wasm.
 */
export const CPU_REPLACED = [
  'Conv2D',
  'FusedConv2D',
  'Conv2DBackpropFilter',
  'Conv2DBackpropInput',
  'DepthwiseConv2dNative',
  'FusedDepthwiseConv2D',
  'DepthwiseConv2dNativeBackpropInput',
  'DepthwiseConv2dNativeBackpropFilter',
  'MaxPoolGrad',
  'Tile',
] as const;

/** Kernels the `wasm` backend does not have; supplied so that gradients and training run. */
export const WASM_SUPPLIED = ['Conv2DBackpropFilter', 'DepthwiseConv2dNativeBackpropInput', 'DepthwiseConv2dNativeBackpropFilter'] as const;

const installed = new Map<string, tf.KernelConfig | undefined>();

/** The kernel function registered for `name`: special cases first, else the FLAT_KERNELS entry. */
function flatKernelFunc(backendName: 'cpu' | 'wasm', name: string, original: tf.KernelConfig | undefined): tf.KernelFunc {
  if (backendName === 'wasm' && name === 'Conv2DBackpropFilter') return wasmConv2dBackpropFilter as unknown as tf.KernelFunc;
  if (backendName === 'wasm' && name === 'DepthwiseConv2dNativeBackpropInput') return wasmDepthwiseBackpropInput as unknown as tf.KernelFunc;
  if (name === 'Tile' && original) return flatTile(backendName, original) as unknown as tf.KernelFunc;
  const flat = FLAT_KERNELS[name];
  return ({ inputs, backend, attrs }) => {
    const out = flat(ioFor(backendName, backend), inputs as Inputs, (attrs ?? {}) as Attrs);
    if (out) return out;
    if (!original) throw new Error(`${name}: this configuration (${JSON.stringify(attrs)}) is not supported on ${backendName}`);
    return original.kernelFunc({ inputs, backend, attrs });
  };
}

/** Registers `names` from FLAT_KERNELS on `backendName`; returns the names actually (re)registered. */
export function installFlatKernels(backendName: 'cpu' | 'wasm', names: readonly string[]): string[] {
  const done: string[] = [];
  for (const name of names) {
    const key = `${backendName}/${name}`;
    if (installed.has(key)) continue;
    const original = tf.getKernel(name, backendName);
    if (backendName === 'wasm' && original) continue; // never replace a native wasm kernel
    if (original) tf.unregisterKernel(name, backendName);
    tf.registerKernel({ kernelName: name, backendName, kernelFunc: flatKernelFunc(backendName, name, original) });
    installed.set(key, original);
    done.push(name);
  }
  return done;
}

/** Puts the stock kernels back (benchmarks compare stock and flat in one process). */
export function uninstallFlatKernels(backendName: 'cpu' | 'wasm'): void {
  for (const [key, original] of [...installed]) {
    const [backend, name] = key.split('/');
    if (backend !== backendName) continue;
    tf.unregisterKernel(name, backendName);
    if (original) tf.registerKernel(original);
    installed.delete(key);
  }
}

type KernelFn = (args: { inputs: Inputs; backend: unknown; attrs: Attrs }) => TensorInfo;

/**
 * Conv2DBackpropFilter for `wasm` as a native (XNNPACK) convolution: the filter gradient is the
 * correlation of x with dy, i.e. conv2d(xᵀ [C,H,W,B], dyᵀ [OH,OW,B,O], dilation = stride),
 * 20–30× faster than any JS loop over the same data.
 */
export function wasmConv2dBackpropFilter({ inputs, backend, attrs }: { inputs: Inputs; backend: unknown; attrs: Attrs }): TensorInfo {
  const { x, dy } = inputs as { x: TensorInfo; dy: TensorInfo };
  if (!channelsLast(attrs)) throw new Error('Conv2DBackpropFilter on wasm supports NHWC only');
  const kernel = (name: string) => tf.getKernel(name, 'wasm')!.kernelFunc as unknown as KernelFn;
  const dispose = (t: TensorInfo) => (backend as { disposeData(id: unknown): void }).disposeData(t.dataId);
  const { strides, pad, rounding } = dims(attrs);
  const filterShape = attrs.filterShape as [number, number, number, number];
  const info = bu.computeConv2DInfo(x.shape as [number, number, number, number], filterShape, strides, 1, pad, rounding);
  const { strideHeight: sh, strideWidth: sw, padInfo } = info;
  // Rows/cols of padded x read by the correlation; negative = x has unused trailing rows to cut.
  const padBottom = info.filterHeight + sh * (info.outHeight - 1) - info.inHeight - padInfo.top;
  const padRight = info.filterWidth + sw * (info.outWidth - 1) - info.inWidth - padInfo.left;
  const temps: TensorInfo[] = [];
  let xs = x;
  if (padBottom < 0 || padRight < 0) {
    const size = [x.shape[0], x.shape[1] + Math.min(0, padBottom), x.shape[2] + Math.min(0, padRight), x.shape[3]];
    xs = kernel('Slice')({ inputs: { x }, backend, attrs: { begin: [0, 0, 0, 0], size } });
    temps.push(xs);
  }
  const xt = kernel('Transpose')({ inputs: { x: xs }, backend, attrs: { perm: [3, 1, 2, 0] } });
  const dyt = kernel('Transpose')({ inputs: { x: dy }, backend, attrs: { perm: [1, 2, 0, 3] } });
  temps.push(xt, dyt);
  const explicit = [
    [0, 0],
    [padInfo.top, Math.max(0, padBottom)],
    [padInfo.left, Math.max(0, padRight)],
    [0, 0],
  ];
  const corr = kernel('Conv2D')({
    inputs: { x: xt, filter: dyt },
    backend,
    attrs: { strides: [1, 1], pad: explicit, dataFormat: 'NHWC', dilations: [sh, sw], dimRoundingMode: undefined },
  });
  temps.push(corr);
  const dw = kernel('Transpose')({ inputs: { x: corr }, backend, attrs: { perm: [1, 2, 0, 3] } });
  temps.forEach(dispose);
  return dw;
}

/**
 * Conv2DBackpropInput for `wasm`, stride 1: dx = conv2d(dy, flip(w)ᵀ) with complementary padding,
 * run by XNNPACK; 5–8× faster than the backend's own kernel. Other strides use the original.
 */
function wasmConv2dBackpropInput(original: tf.KernelConfig) {
  return ({ inputs, backend, attrs }: { inputs: Inputs; backend: unknown; attrs: Attrs }): TensorInfo => {
    const { dy, filter } = inputs as { dy: TensorInfo; filter: TensorInfo };
    const { strides, pad, rounding } = dims(attrs);
    const inputShape = attrs.inputShape as [number, number, number, number];
    const info = bu.computeConv2DInfo(inputShape, filter.shape as [number, number, number, number], strides, 1, pad, rounding);
    if (!channelsLast(attrs) || info.strideHeight !== 1 || info.strideWidth !== 1) {
      return original.kernelFunc({ inputs, backend, attrs } as never) as TensorInfo;
    }
    const io = ioFor('wasm', backend);
    const w = io.read(filter);
    const { filterHeight: FH, filterWidth: FW, inChannels: C, outChannels: O } = info;
    const flipped = new Float32Array(w.length);
    for (let fh = 0; fh < FH; fh++)
      for (let fw = 0; fw < FW; fw++)
        for (let c = 0; c < C; c++)
          for (let o = 0; o < O; o++) flipped[((fh * FW + fw) * O + o) * C + c] = w[(((FH - 1 - fh) * FW + (FW - 1 - fw)) * C + c) * O + o];
    return convolveWithFlipped('Conv2D', dy, io.write([FH, FW, O, C], flipped), info, backend);
  };
}

/**
 * The input gradient of a stride-1 convolution as the native forward kernel `kernel` run on dy
 * with the flipped filter `flipped` (freed here) and the complementary padding.
 */
function convolveWithFlipped(
  kernel: 'Conv2D' | 'DepthwiseConv2dNative',
  dy: TensorInfo,
  flipped: TensorInfo,
  info: tf.backend_util.Conv2DInfo,
  backend: unknown,
): TensorInfo {
  const { filterHeight: FH, filterWidth: FW } = info;
  const top = FH - 1 - info.padInfo.top;
  const left = FW - 1 - info.padInfo.left;
  const explicit = [
    [0, 0],
    [top, info.inHeight - info.outHeight - top + FH - 1],
    [left, info.inWidth - info.outWidth - left + FW - 1],
    [0, 0],
  ];
  const run = tf.getKernel(kernel, 'wasm')!.kernelFunc as unknown as KernelFn;
  const dx = run({ inputs: { x: dy, filter: flipped }, backend, attrs: { strides: [1, 1], pad: explicit, dataFormat: 'NHWC', dilations: [1, 1] } });
  (backend as { disposeData(id: unknown): void }).disposeData(flipped.dataId);
  return dx;
}

/**
 * DepthwiseConv2dNativeBackpropInput for `wasm`, stride 1 and channel multiplier 1 (the
 * depthwise half of every separable conv): dx = depthwiseConv2d(dy, flip(w)) with complementary
 * padding, run by XNNPACK. Other configurations use the flat JS kernel.
 */
function wasmDepthwiseBackpropInput({ inputs, backend, attrs }: { inputs: Inputs; backend: unknown; attrs: Attrs }): TensorInfo {
  const { dy, filter } = inputs as { dy: TensorInfo; filter: TensorInfo };
  const { strides, pad, rounding } = dims(attrs);
  const inputShape = attrs.inputShape as [number, number, number, number];
  const info = bu.computeConv2DInfo(inputShape, filter.shape as [number, number, number, number], strides, pair(attrs.dilations), pad, rounding, true);
  const io = ioFor('wasm', backend);
  if (
    !channelsLast(attrs) ||
    info.strideHeight !== 1 ||
    info.strideWidth !== 1 ||
    info.dilationHeight !== 1 ||
    info.dilationWidth !== 1 ||
    filter.shape[3] !== 1
  ) {
    return FLAT_KERNELS.DepthwiseConv2dNativeBackpropInput(io, inputs, attrs)!;
  }
  const w = io.read(filter);
  const { filterHeight: FH, filterWidth: FW, inChannels: C } = info;
  const flipped = new Float32Array(w.length);
  for (let fh = 0; fh < FH; fh++)
    for (let fw = 0; fw < FW; fw++)
      flipped.set(w.subarray(((FH - 1 - fh) * FW + (FW - 1 - fw)) * C, ((FH - 1 - fh) * FW + (FW - 1 - fw) + 1) * C), (fh * FW + fw) * C);
  return convolveWithFlipped('DepthwiseConv2dNative', dy, io.write([FH, FW, C, 1], flipped), info, backend);
}

/** Tile by block copies (TypedArray.set); the wasm kernel copies element by element. */
export function tileFlat<T extends Float32Array | Int32Array>(values: T, shape: readonly number[], reps: readonly number[]): T {
  let cur: Float32Array | Int32Array = values;
  const curShape = [...shape];
  for (let axis = shape.length - 1; axis >= 0; axis--) {
    if (reps[axis] === 1) continue;
    const outer = curShape.slice(0, axis).reduce((a, b) => a * b, 1);
    const inner = curShape.slice(axis).reduce((a, b) => a * b, 1);
    const next = new (cur.constructor as Float32ArrayConstructor | Int32ArrayConstructor)(outer * inner * reps[axis]);
    for (let o = 0; o < outer; o++) {
      const block = cur.subarray(o * inner, (o + 1) * inner);
      for (let r = 0; r < reps[axis]; r++) next.set(block, (o * reps[axis] + r) * inner);
    }
    cur = next;
    curShape[axis] *= reps[axis];
  }
  return cur as T;
}

/** Tile for float32/int32 on either backend (other dtypes go to the original kernel). */
function flatTile(backendName: 'cpu' | 'wasm', original: tf.KernelConfig) {
  return ({ inputs, backend, attrs }: { inputs: Inputs; backend: unknown; attrs: Attrs }): TensorInfo => {
    const x = inputs.x as TensorInfo;
    if (x.dtype !== 'float32' && x.dtype !== 'int32') return original.kernelFunc({ inputs, backend, attrs } as never) as TensorInfo;
    const reps = attrs.reps as number[];
    const shape = x.shape.map((d, i) => d * reps[i]);
    if (backendName === 'cpu') {
      const b = backend as CpuBackendLike & { makeTensorInfo(shape: number[], dtype: string, values: Float32Array | Int32Array): TensorInfo };
      return b.makeTensorInfo(shape, x.dtype, tileFlat(b.data.get(x.dataId).values as Float32Array | Int32Array, x.shape, reps));
    }
    const b = backend as WasmBackendLike & { readSync(id: unknown): Float32Array | Int32Array };
    const tiled = tileFlat(b.readSync(x.dataId) as Float32Array | Int32Array, x.shape, reps);
    const out = b.makeOutput(shape, x.dtype);
    (b.typedArrayFromHeap(out) as Float32Array | Int32Array).set(tiled);
    return out;
  };
}

/** wasm kernels that exist but are slow; wrapped with faster paths where those apply. */
export const WASM_ACCELERATED = ['Conv2DBackpropInput', 'Tile', 'MaxPoolGrad'] as const;
const WASM_WRAPPERS: Record<(typeof WASM_ACCELERATED)[number], (original: tf.KernelConfig) => unknown> = {
  Conv2DBackpropInput: wasmConv2dBackpropInput,
  Tile: (original) => flatTile('wasm', original),
  // The wasm kernel scans every window per input pixel; the flat one routes each output once.
  MaxPoolGrad: (original) => flatKernelFunc('wasm', 'MaxPoolGrad', original),
};

/** Wraps the listed native wasm kernels with the faster paths above. */
export function accelerateWasmKernels(): string[] {
  const done: string[] = [];
  for (const name of WASM_ACCELERATED) {
    const key = `wasm/${name}`;
    const original = tf.getKernel(name, 'wasm');
    if (installed.has(key) || !original) continue;
    tf.unregisterKernel(name, 'wasm');
    tf.registerKernel({ kernelName: name, backendName: 'wasm', kernelFunc: WASM_WRAPPERS[name](original) as tf.KernelFunc });
    installed.set(key, original);
    done.push(name);
  }
  return done;
}
