// Registers the flat-array kernels with tfjs: on `cpu` they replace the stock kernels that
// profiling shows are hot (npm run bench measures each), on `wasm` they supply the ones the
// backend lacks, without which input gradients through (fused) convolutions throw.
import * as tf from '@tensorflow/tfjs';
import {
  avgPoolBackprop,
  avgPoolWindowsInside,
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
  /**
   * A new float32 output of `shape`, filled by `fill` from the float32 inputs' values; on wasm
   * `fill` works on the heap itself (no copy in or out: a pooling gradient moves megabytes). The
   * output starts zeroed unless `zeroed` is false (a fill that writes every element).
   */
  compute(shape: number[], inputs: TensorInfo[], fill: (out: Float32Array, ...values: Float32Array[]) => void, zeroed?: boolean): TensorInfo;
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

export function ioFor(backendName: 'cpu' | 'wasm', backend: unknown): FlatIO {
  if (backendName === 'cpu') {
    const b = backend as CpuBackendLike;
    const read = (t: TensorInfo) => asFloat32(b.data.get(t.dataId).values);
    return {
      read,
      write: (shape, values) => b.makeTensorInfo(shape, 'float32', values),
      compute: (shape, inputs, fill) => {
        const out = new Float32Array(shape.reduce((n, d) => n * d, 1));
        fill(out, ...inputs.map(read));
        return b.makeTensorInfo(shape, 'float32', out);
      },
    };
  }
  const b = backend as WasmBackendLike;
  const read = (t: TensorInfo) => asFloat32(b.readSync(t.dataId));
  return {
    read,
    write: (shape, values) => {
      const out = b.makeOutput(shape, 'float32');
      b.typedArrayFromHeap(out).set(values);
      return out;
    },
    compute: (shape, inputs, fill, zeroed = true) => {
      const out = b.makeOutput(shape, 'float32');
      // Views taken after the allocation, which may grow (and so detach) the heap.
      const view = b.typedArrayFromHeap(out);
      if (zeroed) view.fill(0);
      fill(view, ...inputs.map((t) => (t.dtype === 'float32' ? b.typedArrayFromHeap(t) : read(t))));
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
    return io.compute(shape, [dy!, input!], (dx, dyValues, x) => maxPoolBackprop(dyValues, x, geometry(info), dx));
  },
  AvgPoolGrad(io, { dy, input }, attrs) {
    const { strides, pad, rounding } = dims(attrs);
    const shape = input!.shape as [number, number, number, number];
    const info = bu.computePool2DInfo(shape, attrs.filterSize as [number, number] | number, strides, 1, pad, rounding);
    const g = geometry(info);
    if (!avgPoolWindowsInside(g)) return null;
    return io.compute(shape, [dy!], (dx, dyValues) => avgPoolBackprop(dyValues, g, dx));
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

/** A native wasm kernel, called directly (inside another kernel, where tfjs ops cannot run). */
const wasmKernel = (name: string) => tf.getKernel(name, 'wasm')!.kernelFunc as unknown as KernelFn;
/** Frees a kernel's intermediate result. */
const freeData = (backend: unknown, t: TensorInfo) => (backend as { disposeData(id: unknown): void }).disposeData(t.dataId);
/** The same data under another shape of the same size (what wasm's own Reshape returns, without the reference count: never returned or freed as such). */
const viewAs = (t: TensorInfo, shape: number[]): TensorInfo => ({ dataId: t.dataId, shape, dtype: t.dtype });

/**
 * Conv2DBackpropFilter for `wasm` as a native (XNNPACK) convolution: the filter gradient is the
 * correlation of x with dy, i.e. conv2d(xᵀ [C,H,W,B], dyᵀ [OH,OW,B,O], dilation = stride),
 * 20–30× faster than any JS loop over the same data.
 */
export function wasmConv2dBackpropFilter({ inputs, backend, attrs }: { inputs: Inputs; backend: unknown; attrs: Attrs }): TensorInfo {
  const { x, dy } = inputs as { x: TensorInfo; dy: TensorInfo };
  if (!channelsLast(attrs)) throw new Error('Conv2DBackpropFilter on wasm supports NHWC only');
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
    xs = wasmKernel('Slice')({ inputs: { x }, backend, attrs: { begin: [0, 0, 0, 0], size } });
    temps.push(xs);
  }
  const xt = wasmKernel('Transpose')({ inputs: { x: xs }, backend, attrs: { perm: [3, 1, 2, 0] } });
  const dyt = wasmKernel('Transpose')({ inputs: { x: dy }, backend, attrs: { perm: [1, 2, 0, 3] } });
  temps.push(xt, dyt);
  const explicit = [
    [0, 0],
    [padInfo.top, Math.max(0, padBottom)],
    [padInfo.left, Math.max(0, padRight)],
    [0, 0],
  ];
  const corr = wasmKernel('Conv2D')({
    inputs: { x: xt, filter: dyt },
    backend,
    attrs: { strides: [1, 1], pad: explicit, dataFormat: 'NHWC', dilations: [sh, sw], dimRoundingMode: undefined },
  });
  temps.push(corr);
  const dw = wasmKernel('Transpose')({ inputs: { x: corr }, backend, attrs: { perm: [1, 2, 0, 3] } });
  temps.forEach((t) => freeData(backend, t));
  return dw;
}

/**
 * dy spread onto the stride grid: row oh of dy lands on row oh·sh, zeros between, `rows` × `cols`
 * in all (a strided convolution's input gradient is the stride-1 one of this).
 */
export function strideUpsample(dy: Float32Array, [B, OH, OW, O]: readonly number[], [sh, sw]: readonly number[], rows: number, cols: number): Float32Array {
  const up = new Float32Array(B * rows * cols * O);
  for (let b = 0; b < B; b++)
    for (let oh = 0; oh < OH && oh * sh < rows; oh++)
      for (let ow = 0; ow < OW && ow * sw < cols; ow++)
        up.set(dy.subarray(((b * OH + oh) * OW + ow) * O, ((b * OH + oh) * OW + ow + 1) * O), ((b * rows + oh * sh) * cols + ow * sw) * O);
  return up;
}

/**
 * The input gradient of a convolution whose windows tile the image without overlap (stride =
 * filter size, no padding: a ViT's or ConvNeXt's patch embedding): each dy row, times Wᵀ, is one
 * patch of dx, so it is one product [B·OH·OW, O] × [O, FH·FW·C] and a copy of each patch row into
 * place; rows and columns no window reads stay zero. The general paths spread dy onto the stride
 * grid (stride² more work) or split it into stride² phases of one tap each.
 */
function patchesInputGradient(dy: TensorInfo, w: Float32Array, info: tf.backend_util.Conv2DInfo, backend: unknown): TensorInfo {
  const { batchSize: B, inHeight: H, inWidth: W, inChannels: C, outHeight: OH, outWidth: OW, outChannels: O, filterHeight: FH, filterWidth: FW } = info;
  const io = ioFor('wasm', backend);
  const P = FH * FW * C;
  const wt = new Float32Array(O * P);
  for (let q = 0; q < P; q++) for (let o = 0; o < O; o++) wt[o * P + q] = w[q * O + o];
  const weights = io.write([1, O, P], wt);
  const rows = wasmKernel('BatchMatMul')({
    inputs: { a: viewAs(dy, [1, B * OH * OW, O]), b: weights },
    backend,
    attrs: { transposeA: false, transposeB: false },
  });
  freeData(backend, weights);
  const run = FW * C; // one patch row: FW pixels of C channels, contiguous in dx
  const dx = io.compute([B, H, W, C], [rows], (out, patches) => {
    for (let r = 0; r < B * OH * OW; r++) {
      const [b, oh, ow] = [Math.floor(r / (OH * OW)), Math.floor(r / OW) % OH, r % OW];
      for (let fh = 0; fh < FH; fh++) out.set(patches.subarray(r * P + fh * run, r * P + (fh + 1) * run), ((b * H + oh * FH + fh) * W + ow * FW) * C);
    }
  });
  freeData(backend, rows);
  return dx;
}

/**
 * Conv2DBackpropInput for `wasm`: dx = conv2d(dy, flip(w)ᵀ) with complementary padding, run by
 * XNNPACK; 5–8× faster than the backend's own kernel. A strided convolution goes by phases
 * (inputGradientByPhases); with one input channel, or where a phase would need negative padding,
 * dy is spread onto the stride grid with zeros between (stride² more multiply-adds).
 */
function wasmConv2dBackpropInput(original: tf.KernelConfig) {
  return ({ inputs, backend, attrs }: { inputs: Inputs; backend: unknown; attrs: Attrs }): TensorInfo => {
    const { dy, filter } = inputs as { dy: TensorInfo; filter: TensorInfo };
    const { strides, pad, rounding } = dims(attrs);
    const inputShape = attrs.inputShape as [number, number, number, number];
    const info = bu.computeConv2DInfo(inputShape, filter.shape as [number, number, number, number], strides, 1, pad, rounding);
    const { filterHeight: FH, filterWidth: FW, inChannels: C, outChannels: O, strideHeight: sh, strideWidth: sw } = info;
    // Rows of the spread dy the stride-1 correlation reads (dx row i reads rows i + top − fh).
    const rows = Math.min(info.outHeight * sh, info.inHeight + info.padInfo.top);
    const cols = Math.min(info.outWidth * sw, info.inWidth + info.padInfo.left);
    if (!channelsLast(attrs) || info.padInfo.top > FH - 1 || info.padInfo.left > FW - 1) {
      return original.kernelFunc({ inputs, backend, attrs } as never) as TensorInfo;
    }
    const io = ioFor('wasm', backend);
    const w = io.read(filter);
    const { top, bottom, left, right } = info.padInfo;
    if (sh === FH && sw === FW && (FH > 1 || FW > 1) && top + bottom + left + right === 0) return patchesInputGradient(dy, w, info, backend);
    const strided = sh !== 1 || sw !== 1;
    if (strided && C !== 1) {
      const byPhases = inputGradientByPhases('Conv2D', dy, info, backend, (fh, fw, o, c) => w[((fh * FW + fw) * C + c) * O + o], [O, C]);
      if (byPhases) return byPhases;
    }
    const flipped = new Float32Array(w.length);
    for (let fh = 0; fh < FH; fh++)
      for (let fw = 0; fw < FW; fw++)
        for (let c = 0; c < C; c++)
          for (let o = 0; o < O; o++) flipped[((fh * FW + fw) * O + o) * C + c] = w[(((FH - 1 - fh) * FW + (FW - 1 - fw)) * C + c) * O + o];
    const flippedFilter = io.write([FH, FW, O, C], flipped);
    const spread = strided ? io.write([info.batchSize, rows, cols, O], strideUpsample(io.read(dy), dy.shape, [sh, sw], rows, cols)) : dy;
    const geometry = strided ? { ...info, outHeight: rows, outWidth: cols } : info;
    let dx: TensorInfo;
    if (C !== 1) dx = convolveWithFlipped('Conv2D', spread, flippedFilter, geometry, backend);
    else {
      // One input channel (a grayscale model's first convolution): XNNPACK's product with a single
      // output column is slow; a depthwise convolution of each dy channel, summed, is 2–3× faster.
      const perChannel = convolveWithFlipped('DepthwiseConv2dNative', spread, flippedFilter, geometry, backend);
      dx = wasmKernel('Sum')({ inputs: { x: perChannel }, backend, attrs: { axis: [3], keepDims: true } });
      freeData(backend, perChannel);
    }
    if (strided) freeData(backend, spread);
    return dx;
  };
}

/** One axis of a strided convolution's input gradient, for the dx rows ≡ r (mod stride). */
interface Phase {
  /** dx rows of the phase: r, r + s, r + 2s, … below the input size. */
  count: number;
  /** Filter taps read: first + s·t for t < taps. */
  first: number;
  taps: number;
  /** Padding of dy for the stride-1 correlation (top, bottom). */
  before: number;
  after: number;
}

/** The phases of one axis (input size n, output size out, filter f, stride s, leading pad p); null when one needs negative padding. */
function axisPhases(n: number, out: number, f: number, s: number, p: number): Phase[] | null {
  const phases: Phase[] = [];
  for (let r = 0; r < s; r++) {
    const first = (r + p) % s;
    const taps = Math.max(0, Math.ceil((f - first) / s));
    const lead = Math.floor((r + p) / s); // dx row r·s+a reads dy rows a + lead − t
    const count = Math.max(0, Math.ceil((n - r) / s));
    const before = taps - 1 - lead;
    if (taps > 0 && before < 0) return null;
    phases.push({ count, first, taps, before, after: Math.max(0, count + lead - out) });
  }
  return phases;
}

/**
 * A strided convolution's input gradient by phases: the dx rows (and columns) of one residue
 * modulo the stride read only the filter taps of one residue, so dx is sh·sw stride-1
 * correlations of dy with sub-filters, interleaved. That is the forward's multiply-adds, where
 * spreading dy onto the stride grid costs stride² times as many (ResNets' and MobileNets'
 * downsampling). `tap(fh, fw, o, c)` reads the forward filter; `[O, C]` are the sub-filter's
 * last two dimensions as `kernel` takes them. Null when a phase would need negative padding.
 */
function inputGradientByPhases(
  kernel: 'Conv2D' | 'DepthwiseConv2dNative',
  dy: TensorInfo,
  info: tf.backend_util.Conv2DInfo,
  backend: unknown,
  tap: (fh: number, fw: number, o: number, c: number) => number,
  [O, C]: [number, number],
): TensorInfo | null {
  const { batchSize: B, inHeight: H, inWidth: W, inChannels: channels } = info;
  const rowPhases = axisPhases(H, info.outHeight, info.filterHeight, info.strideHeight, info.padInfo.top);
  const colPhases = axisPhases(W, info.outWidth, info.filterWidth, info.strideWidth, info.padInfo.left);
  if (!rowPhases || !colPhases) return null;
  const b = backend as WasmBackendLike;
  const io = ioFor('wasm', backend);
  const dx = b.makeOutput([B, H, W, channels], 'float32');
  b.typedArrayFromHeap(dx).fill(0); // phases with no taps stay zero
  // XNNPACK's depthwise convolution is 10–15× slower with a filter one tap long on an axis (1×1,
  // 1×2, 2×1: the odd phases of a strided 3×3) than with 2×2, so there such an axis gets a leading
  // zero tap and one more row (column) of padding in front: the same sums.
  const minTaps = kernel === 'DepthwiseConv2dNative' ? 2 : 1;
  rowPhases.forEach((rp, rh) =>
    colPhases.forEach((cp, rw) => {
      if (!rp.taps || !cp.taps || !rp.count || !cp.count) return;
      const [rows, cols] = [Math.max(minTaps, rp.taps), Math.max(minTaps, cp.taps)];
      const [zeroRows, zeroCols] = [rows - rp.taps, cols - cp.taps];
      // Sub-filter, flipped: tap u of the correlation is forward tap first + s·(taps − 1 − u).
      const sub = new Float32Array(rows * cols * O * C);
      for (let u = 0; u < rp.taps; u++)
        for (let v = 0; v < cp.taps; v++)
          for (let o = 0; o < O; o++)
            for (let c = 0; c < C; c++)
              sub[(((zeroRows + u) * cols + zeroCols + v) * O + o) * C + c] = tap(
                rp.first + info.strideHeight * (rp.taps - 1 - u),
                cp.first + info.strideWidth * (cp.taps - 1 - v),
                o,
                c,
              );
      const filter = io.write([rows, cols, O, C], sub);
      const z = wasmKernel(kernel)({
        inputs: { x: dy, filter },
        backend,
        attrs: {
          strides: [1, 1],
          pad: [
            [0, 0],
            [rp.before + zeroRows, rp.after],
            [cp.before + zeroCols, cp.after],
            [0, 0],
          ],
          dataFormat: 'NHWC',
          dilations: [1, 1],
        },
      });
      freeData(backend, filter);
      const [, zRows, zCols] = z.shape;
      // Views after the kernel ran: it may have grown the heap.
      const from = b.typedArrayFromHeap(z);
      const to = b.typedArrayFromHeap(dx);
      // A pixel's channels as one block copy, or element by element where they are few (an
      // image's three): there a view and a set() per pixel cost more than the copy.
      const few = channels < 16;
      for (let n = 0; n < B; n++)
        for (let a = 0; a < rp.count; a++)
          for (let col = 0; col < cp.count; col++) {
            const src = ((n * zRows + a) * zCols + col) * channels;
            const dst = ((n * H + rh + a * info.strideHeight) * W + rw + col * info.strideWidth) * channels;
            if (few) for (let c = 0; c < channels; c++) to[dst + c] = from[src + c];
            else to.set(from.subarray(src, src + channels), dst);
          }
      freeData(backend, z);
    }),
  );
  return dx;
}

/**
 * The input gradient of a stride-1 convolution as the native forward kernel `kernel` run on dy
 * with the flipped filter `flipped` (freed here) and the complementary padding (or `pads`:
 * top, bottom, left, right).
 */
function convolveWithFlipped(
  kernel: 'Conv2D' | 'DepthwiseConv2dNative',
  dy: TensorInfo,
  flipped: TensorInfo,
  info: tf.backend_util.Conv2DInfo,
  backend: unknown,
  pads?: [number, number, number, number],
): TensorInfo {
  const { filterHeight: FH, filterWidth: FW } = info;
  const top = FH - 1 - info.padInfo.top;
  const left = FW - 1 - info.padInfo.left;
  const [pt, pb, pl, pr] = pads ?? [top, info.inHeight - info.outHeight - top + FH - 1, left, info.inWidth - info.outWidth - left + FW - 1];
  const explicit = [
    [0, 0],
    [pt, pb],
    [pl, pr],
    [0, 0],
  ];
  const dx = wasmKernel(kernel)({
    inputs: { x: dy, filter: flipped },
    backend,
    attrs: { strides: [1, 1], pad: explicit, dataFormat: 'NHWC', dilations: [1, 1] },
  });
  freeData(backend, flipped);
  return dx;
}

/**
 * DepthwiseConv2dNativeBackpropInput for `wasm`, channel multiplier 1 (the depthwise half of
 * every separable conv): dx = depthwiseConv2d(dy, flip(w)) with complementary padding, run by
 * XNNPACK, by phases when strided. Other configurations use the flat JS kernel.
 */
function wasmDepthwiseBackpropInput({ inputs, backend, attrs }: { inputs: Inputs; backend: unknown; attrs: Attrs }): TensorInfo {
  const { dy, filter } = inputs as { dy: TensorInfo; filter: TensorInfo };
  const { strides, pad, rounding } = dims(attrs);
  const inputShape = attrs.inputShape as [number, number, number, number];
  const info = bu.computeConv2DInfo(inputShape, filter.shape as [number, number, number, number], strides, pair(attrs.dilations), pad, rounding, true);
  const io = ioFor('wasm', backend);
  if (!channelsLast(attrs) || info.dilationHeight !== 1 || info.dilationWidth !== 1 || filter.shape[3] !== 1) {
    return FLAT_KERNELS.DepthwiseConv2dNativeBackpropInput(io, inputs, attrs)!;
  }
  const w = io.read(filter);
  const { filterHeight: FH, filterWidth: FW, inChannels: C } = info;
  if (info.strideHeight !== 1 || info.strideWidth !== 1) {
    const byPhases = inputGradientByPhases('DepthwiseConv2dNative', dy, info, backend, (fh, fw, o) => w[(fh * FW + fw) * C + o], [C, 1]);
    return byPhases ?? FLAT_KERNELS.DepthwiseConv2dNativeBackpropInput(io, inputs, attrs)!;
  }
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

/**
 * BatchMatMul / _FusedMatMul for `wasm` with a transposed operand: the backend's transposed path
 * is an order of magnitude slower than a plain product after the backend's own Transpose. Every
 * dense layer's input gradient (dy·Wᵀ) and every ONNX Gemm with transB takes it.
 */
function wasmMatMulUntransposed(original: tf.KernelConfig) {
  return ({ inputs, backend, attrs }: { inputs: Inputs; backend: unknown; attrs: Attrs }): TensorInfo => {
    const { transposeA, transposeB } = attrs as { transposeA?: boolean; transposeB?: boolean };
    if (!transposeA && !transposeB) return broadcastProduct(original, inputs, backend, attrs);
    const transpose = wasmKernel('Transpose');
    const temps: TensorInfo[] = [];
    const swapLast = (t: TensorInfo) => {
      const perm = t.shape.map((_, i) => i);
      [perm[perm.length - 2], perm[perm.length - 1]] = [perm[perm.length - 1], perm[perm.length - 2]];
      const out = transpose({ inputs: { x: t }, backend, attrs: { perm } });
      temps.push(out);
      return out;
    };
    const a = transposeA ? swapLast(inputs.a!) : inputs.a;
    const b = transposeB ? swapLast(inputs.b!) : inputs.b;
    const out = broadcastProduct(original, { ...inputs, a, b }, backend, { ...attrs, transposeA: false, transposeB: false });
    temps.forEach((t) => freeData(backend, t));
    return out;
  };
}

/**
 * An untransposed product; a batch of matrices times one matrix ([B, M, K] × [K, N]: every
 * dense layer of a transformer, and its input gradient) as the single product [1, B·M, K] × [1, K, N]:
 * the backend runs a broadcast batch as B small products, several times slower.
 */
function broadcastProduct(original: tf.KernelConfig, inputs: Inputs, backend: unknown, attrs: Attrs): TensorInfo {
  const { a, b } = inputs as { a: TensorInfo; b: TensorInfo };
  const plain = Object.entries(inputs).every(([k, t]) => t === undefined || k === 'a' || k === 'b' || (k === 'bias' && t.shape.length <= 1));
  const lead = a.shape.slice(0, -2);
  const batch = tf.util.sizeFromShape(lead);
  const oneMatrix = b.shape.length === 2 || b.shape.slice(0, -2).every((d) => d === 1);
  if (!plain || !oneMatrix || batch === 1) return original.kernelFunc({ inputs, backend, attrs } as never) as TensorInfo;
  const [M, K] = a.shape.slice(-2);
  const [, N] = b.shape.slice(-2);
  const out = original.kernelFunc({
    inputs: { ...inputs, a: viewAs(a, [1, batch * M, K]), b: viewAs(b, [1, K, N]) },
    backend,
    attrs,
  } as never) as TensorInfo;
  return viewAs(out, [...lead, M, N]);
}

/**
 * A transpose's shape and permutation with unit axes dropped and every run of axes that stays
 * adjacent and in order merged into one: the same data movement at the lowest rank.
 */
export function coalesceTranspose(shape: readonly number[], perm: readonly number[]): { shape: number[]; perm: number[] } {
  const kept = shape.map((_, i) => i).filter((i) => shape[i] !== 1);
  const index = new Map(kept.map((axis, i) => [axis, i]));
  const groups: number[][] = [];
  for (const r of perm.filter((axis) => shape[axis] !== 1).map((axis) => index.get(axis)!)) {
    const last = groups.at(-1);
    if (last && last.at(-1)! + 1 === r) last.push(r);
    else groups.push([r]);
  }
  const inInputOrder = [...groups].sort((g, h) => g[0] - h[0]);
  return { shape: inInputOrder.map((g) => g.reduce((n, r) => n * shape[kept[r]], 1)), perm: groups.map((g) => inInputOrder.indexOf(g)) };
}

/**
 * Transpose for `wasm` above rank 4 (a transformer's [B, T, 3, heads, d] → [3, B, heads, T, d]):
 * the backend's kernel is about a hundred times slower there than at rank 4 or less. The axes are
 * coalesced; what is still above rank 4 runs as moves of one axis at a time, each of rank 4 at most
 * (the axes before, between and after the moved one stay in order).
 */
function wasmTransposeLowRank(original: tf.KernelConfig) {
  return ({ inputs, backend, attrs }: { inputs: Inputs; backend: unknown; attrs: Attrs }): TensorInfo => {
    const x = inputs.x!;
    const perm = attrs.perm as number[];
    if (x.shape.length <= 4) return original.kernelFunc({ inputs, backend, attrs } as never) as TensorInfo;
    const outShape = perm.map((axis) => x.shape[axis]);
    const transpose = (t: TensorInfo, p: number[]) => original.kernelFunc({ inputs: { x: t }, backend, attrs: { perm: p } } as never) as TensorInfo;
    const reduced = coalesceTranspose(x.shape, perm);
    // Nothing moves (unit axes only, or axes that keep their order): the data as it is.
    if (reduced.perm.length <= 1) return viewAs(wasmKernel('Identity')({ inputs: { x }, backend, attrs: {} }), outShape);
    if (reduced.perm.length <= 4) return viewAs(transpose(viewAs(x, reduced.shape), reduced.perm), outShape);
    let shape = reduced.shape;
    let order = shape.map((_, i) => i); // which reduced input axis each current axis is
    let current: TensorInfo | null = null; // the last move's result (x itself before any)
    for (let i = 0; i < reduced.perm.length; i++) {
      const j = order.indexOf(reduced.perm[i]);
      if (j === i) continue;
      const move = [...Array(shape.length).keys()].filter((a) => a !== j);
      move.splice(i, 0, j);
      const step = coalesceTranspose(shape, move);
      const next = transpose(viewAs(current ?? x, step.shape), step.perm);
      if (current) freeData(backend, current);
      current = next;
      shape = move.map((a) => shape[a]);
      order = move.map((a) => order[a]);
    }
    return viewAs(current!, outShape);
  };
}

/**
 * Identity for `wasm` without the copy: tensors never change in place, so a clone can share its
 * source's memory under a reference count (as Reshape and the cpu backend's Identity do). The
 * gradient tape clones every activation a backward pass needs, each a full copy on stock wasm.
 */
function wasmSharedIdentity(original: tf.KernelConfig) {
  return ({ inputs, backend, attrs }: { inputs: Inputs; backend: unknown; attrs: Attrs }): TensorInfo => {
    const x = inputs.x!;
    if (x.dtype === 'string') return original.kernelFunc({ inputs, backend, attrs } as never) as TensorInfo;
    (backend as { incRef(id: unknown): void }).incRef(x.dataId);
    return { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
  };
}

/**
 * GatherV2 for `wasm` as row copies of the flat input: the wasm kernel works out every output
 * element's source on its own, several times slower (warp inversion's bilinear sampling gathers
 * four corners a step). batchDims > 0, bool and out-of-range indices go to the original kernel.
 */
function wasmFlatGather(original: tf.KernelConfig) {
  return ({ inputs, backend, attrs }: { inputs: Inputs; backend: unknown; attrs: Attrs }): TensorInfo => {
    const { x, indices } = inputs as { x: TensorInfo; indices: TensorInfo };
    const batchDims = (attrs.batchDims as number | undefined) ?? 0;
    if (batchDims !== 0 || (x.dtype !== 'float32' && x.dtype !== 'int32') || indices.dtype !== 'int32')
      return original.kernelFunc({ inputs, backend, attrs } as never) as TensorInfo;
    const axis = tf.util.parseAxisParam(attrs.axis as number, x.shape)[0];
    const b = backend as WasmBackendLike & { typedArrayFromHeap(t: TensorInfo): Float32Array | Int32Array };
    const rows = b.readSync(indices.dataId) as Int32Array; // a copy: it outlives heap growth
    const dim = x.shape[axis];
    if (!rows.every((r) => r >= 0 && r < dim)) return original.kernelFunc({ inputs, backend, attrs } as never) as TensorInfo;
    const outer = tf.util.sizeFromShape(x.shape.slice(0, axis));
    const inner = tf.util.sizeFromShape(x.shape.slice(axis + 1));
    const out = b.makeOutput([...x.shape.slice(0, axis), ...indices.shape, ...x.shape.slice(axis + 1)], x.dtype);
    // Views taken after the allocation, which may grow (and so detach) the heap.
    const src = b.typedArrayFromHeap(x);
    const dst = b.typedArrayFromHeap(out);
    const k = rows.length;
    for (let o = 0; o < outer; o++)
      for (let i = 0; i < k; i++) {
        const from = (o * dim + rows[i]) * inner;
        const to = (o * k + i) * inner;
        if (inner === 1) dst[to] = src[from];
        else dst.set(src.subarray(from, from + inner), to);
      }
    return out;
  };
}

/**
 * The runs of contiguous input a slice reads: the output is `offsets.length` runs of `run`
 * elements, run i starting at `offsets[i]` of the flat input. The axes after the last one the
 * slice narrows are read whole, so they join the run. Runs shorter than `minRun` are not listed
 * (offsets null).
 */
function sliceRuns(shape: readonly number[], begin: readonly number[], size: readonly number[], minRun = 0): { run: number; offsets: number[] | null } {
  if (!shape.length) return { run: 1, offsets: [0] };
  const strides = shape.map((_, i) => tf.util.sizeFromShape(shape.slice(i + 1)));
  let last = shape.length - 1; // the innermost axis not read whole
  while (last > 0 && begin[last] === 0 && size[last] === shape[last]) last--;
  const run = size[last] * strides[last];
  if (run < minRun) return { run, offsets: null };
  let offsets = [begin[last] * strides[last]];
  for (let axis = last - 1; axis >= 0; axis--) {
    const next: number[] = [];
    for (let i = 0; i < size[axis]; i++) for (const o of offsets) next.push((begin[axis] + i) * strides[axis] + o);
    offsets = next;
  }
  return { run, offsets };
}

/**
 * Slice for `wasm` as copies of contiguous runs: the wasm kernel copies its input off the heap and
 * then moves element by element, several times slower. Every explicit padding's gradient is a
 * slice (MobileNetV2's ZeroPadding2D before each strided depthwise convolution).
 */
function wasmFlatSlice(original: tf.KernelConfig) {
  return ({ inputs, backend, attrs }: { inputs: Inputs; backend: unknown; attrs: Attrs }): TensorInfo => {
    const x = inputs.x!;
    const stock = () => original.kernelFunc({ inputs, backend, attrs } as never) as TensorInfo;
    if (x.dtype !== 'float32' && x.dtype !== 'int32') return stock();
    const [begin, size] = tf.slice_util.parseSliceParams(x as unknown as tf.Tensor, attrs.begin as number[], attrs.size as number[]);
    // Short runs (a slice along the last axis) cost more as copies than as the kernel's loop.
    const { run, offsets } = sliceRuns(x.shape, begin, size, 16);
    if (!offsets) return stock();
    const b = backend as WasmBackendLike & { typedArrayFromHeap(t: TensorInfo): Float32Array | Int32Array };
    const out = b.makeOutput(size, x.dtype);
    if (run === 0) return out;
    // Views taken after the allocation, which may grow (and so detach) the heap.
    const src = b.typedArrayFromHeap(x);
    const dst = b.typedArrayFromHeap(out);
    offsets.forEach((from, i) => dst.set(src.subarray(from, from + run), i * run));
    return out;
  };
}

/** wasm kernels that exist but are slow; wrapped with faster paths where those apply. */
export const WASM_ACCELERATED = [
  'Conv2DBackpropInput',
  'Tile',
  'MaxPoolGrad',
  'AvgPoolGrad',
  'BatchMatMul',
  '_FusedMatMul',
  'Identity',
  'GatherV2',
  'Transpose',
  'Slice',
] as const;
const WASM_WRAPPERS: Record<(typeof WASM_ACCELERATED)[number], (original: tf.KernelConfig) => unknown> = {
  Identity: wasmSharedIdentity,
  BatchMatMul: wasmMatMulUntransposed,
  _FusedMatMul: wasmMatMulUntransposed,
  Conv2DBackpropInput: wasmConv2dBackpropInput,
  Tile: (original) => flatTile('wasm', original),
  // The wasm kernel scans every window per input pixel; the flat one routes each output once.
  MaxPoolGrad: (original) => flatKernelFunc('wasm', 'MaxPoolGrad', original),
  // The same for average pools inside the input; padded ones go to the original.
  AvgPoolGrad: (original) => flatKernelFunc('wasm', 'AvgPoolGrad', original),
  GatherV2: wasmFlatGather,
  Transpose: wasmTransposeLowRank,
  Slice: wasmFlatSlice,
};

/**
 * Puts the listed wrapped wasm kernels back to the backend's own (`stock`), or wraps them again:
 * the bench times both in one process.
 */
export function useStockWasmKernels(names: ReadonlyArray<(typeof WASM_ACCELERATED)[number]>, stock: boolean): void {
  if (!stock) {
    accelerateWasmKernels();
    return;
  }
  for (const name of names) {
    const original = installed.get(`wasm/${name}`);
    if (!original) continue;
    tf.unregisterKernel(name, 'wasm');
    tf.registerKernel(original);
    installed.delete(`wasm/${name}`);
  }
}

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
