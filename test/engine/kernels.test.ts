import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { beforeAll, describe, expect, it } from 'vitest';
import { installFlatKernels, uninstallFlatKernels, CPU_REPLACED, WASM_ACCELERATED, WASM_SUPPLIED } from '../../src/engine/kernels/register.js';
import { initWasm } from '../../src/engine/backend.js';
import { mulberry32 } from '../../src/util/random.js';

type Case = { name: string; inputs: Record<string, tf.Tensor>; attrs: Record<string, unknown> };

/** Random conv problems spanning strides 1–2, same/valid padding, 1–64 channels, batch 1–64. */
function randomCases(seed: number, count: number): Case[] {
  const rand = mulberry32(seed);
  const pick = <T>(xs: T[]) => xs[Math.floor(rand() * xs.length)];
  const cases: Case[] = [];
  for (let i = 0; i < count; i++) {
    const batch = pick([1, 2, 7, 64]);
    const channels = pick([1, 3, 8, 17, 64]);
    const outChannels = pick([1, 4, 16, 64]);
    const size = batch * channels >= 512 ? pick([5, 8]) : pick([5, 9, 14]);
    const k = pick([1, 3, 5]);
    const stride = pick([1, 2]);
    const pad = pick(['same', 'valid'] as const);
    const mult = pick([1, 2]);
    const x = tf.randomNormal([batch, size, size, channels], 0, 1, 'float32', seed + i);
    const w = tf.randomNormal([k, k, channels, outChannels], 0, 1, 'float32', seed + i + 1);
    const dw = tf.randomNormal([k, k, channels, mult], 0, 1, 'float32', seed + i + 2);
    const y = tf.conv2d(x as tf.Tensor4D, w as tf.Tensor4D, stride, pad);
    const yd = tf.depthwiseConv2d(x as tf.Tensor4D, dw as tf.Tensor4D, stride, pad);
    const dy = tf.randomNormal(y.shape, 0, 1, 'float32', seed + i + 3);
    const dyd = tf.randomNormal(yd.shape, 0, 1, 'float32', seed + i + 4);
    const common = { strides: [stride, stride], pad, dataFormat: 'NHWC', dilations: [1, 1] };
    const bias = tf.randomNormal([outChannels], 0, 1, 'float32', seed + i + 5);
    const tag = `b${batch} ${size}x${size}x${channels}→${outChannels} k${k} s${stride} ${pad}`;
    cases.push(
      { name: `Conv2D ${tag}`, inputs: { x, filter: w }, attrs: common },
      { name: `FusedConv2D relu ${tag}`, inputs: { x, filter: w, bias }, attrs: { ...common, activation: 'relu' } },
      { name: `Conv2DBackpropFilter ${tag}`, inputs: { x, dy }, attrs: { ...common, filterShape: w.shape } },
      { name: `Conv2DBackpropInput ${tag}`, inputs: { dy, filter: w }, attrs: { ...common, inputShape: x.shape } },
      { name: `DepthwiseConv2dNative ${tag} m${mult}`, inputs: { x, filter: dw }, attrs: common },
      { name: `DepthwiseConv2dNativeBackpropInput ${tag} m${mult}`, inputs: { dy: dyd, filter: dw }, attrs: { ...common, inputShape: x.shape } },
      { name: `DepthwiseConv2dNativeBackpropFilter ${tag} m${mult}`, inputs: { x, dy: dyd }, attrs: { ...common, filterShape: dw.shape } },
    );
    if (k > 1) {
      const pooled = tf.maxPool(x as tf.Tensor4D, k, stride, pad);
      const dyp = tf.randomNormal(pooled.shape, 0, 1, 'float32', seed + i + 6);
      cases.push({ name: `MaxPoolGrad ${tag}`, inputs: { dy: dyp, input: x, output: pooled }, attrs: { filterSize: [k, k], strides: [stride, stride], pad } });
      cases.push({ name: `AvgPoolGrad ${tag}`, inputs: { dy: dyp, input: x }, attrs: { filterSize: [k, k], strides: [stride, stride], pad } });
    }
  }
  // The usual 2×2, stride-2 pooling (its own unrolled path when no window leaves the input), on
  // even and odd sizes, with ties (a ReLU's zeros: the first maximum in window order gets dy).
  for (const [j, [size, pad]] of (
    [
      [14, 'valid'],
      [9, 'valid'],
      [9, 'same'],
      [8, 'same'],
    ] as const
  ).entries()) {
    const x = tf.relu(tf.randomNormal([3, size, size, 5], 0, 1, 'float32', seed + 100 + j));
    const pooled = tf.maxPool(x as tf.Tensor4D, 2, 2, pad);
    const dy = tf.randomNormal(pooled.shape, 0, 1, 'float32', seed + 200 + j);
    cases.push({
      name: `MaxPoolGrad 2x2 s2 ${size}px ${pad} relu`,
      inputs: { dy, input: x, output: pooled },
      attrs: { filterSize: [2, 2], strides: [2, 2], pad },
    });
    cases.push({ name: `AvgPoolGrad 2x2 s2 ${size}px ${pad}`, inputs: { dy, input: x }, attrs: { filterSize: [2, 2], strides: [2, 2], pad } });
  }
  // Strided input gradients (a ResNet's downsampling and its 1×1 projections, a MobileNet's
  // strided depthwise convolutions): wasm runs them by phases, or spreads dy onto the stride grid
  // (one input channel; a phase that would need negative padding). Odd and even sizes, strides 2,
  // 3 and 2×1, PyTorch's explicit pads.
  const explicit = (p: number) => [
    [0, 0],
    [p, p],
    [p, p],
    [0, 0],
  ];
  for (const [j, [size, k, channels, stride, pad]] of (
    [
      [14, 1, 16, 2, 'valid'],
      [15, 1, 8, 2, 'same'],
      [14, 3, 16, 2, 'same'],
      [13, 3, 5, 2, 'valid'],
      [12, 5, 1, 2, 'same'],
      [28, 3, 16, 2, explicit(1)],
      [10, 2, 3, 2, explicit(1)],
      [17, 4, 6, 3, 'same'],
      [16, 2, 7, 2, 'valid'],
      [12, 3, 5, [2, 1], 'same'],
    ] as Array<[number, number, number, number | [number, number], 'same' | 'valid' | number[][]]>
  ).entries()) {
    const strides = typeof stride === 'number' ? [stride, stride] : stride;
    const x = tf.randomNormal([3, size, size, channels], 0, 1, 'float32', seed + 400 + j);
    const w = tf.randomNormal([k, k, channels, 6], 0, 1, 'float32', seed + 410 + j);
    const dw = tf.randomNormal([k, k, channels, 1], 0, 1, 'float32', seed + 430 + j);
    const padding = pad as 'same';
    const dy = tf.randomNormal(tf.conv2d(x as tf.Tensor4D, w as tf.Tensor4D, stride, padding).shape, 0, 1, 'float32', seed + 420 + j);
    const dyd = tf.randomNormal(tf.depthwiseConv2d(x as tf.Tensor4D, dw as tf.Tensor4D, stride, padding).shape, 0, 1, 'float32', seed + 440 + j);
    const attrs = { strides, pad, dataFormat: 'NHWC', dilations: [1, 1], inputShape: x.shape };
    const tag = `stride ${strides.join('×')} ${size}x${size}x${channels} k${k} ${typeof pad === 'string' ? pad : `pad ${pad[1][0]}`}`;
    cases.push({ name: `Conv2DBackpropInput ${tag}`, inputs: { dy, filter: w }, attrs });
    cases.push({ name: `DepthwiseConv2dNativeBackpropInput ${tag}`, inputs: { dy: dyd, filter: dw }, attrs });
  }
  // Products with either operand transposed (a dense layer's input gradient is dy·Wᵀ).
  for (const [j, [batch, m, k, n]] of (
    [
      [1, 7, 33, 5],
      [3, 16, 8, 12],
    ] as const
  ).entries())
    for (const transposeA of [false, true])
      for (const transposeB of [false, true]) {
        // Rank 3, as tf.matMul hands every product to the kernels.
        const shape = (rows: number, cols: number, t: boolean) => [batch, ...(t ? [cols, rows] : [rows, cols])];
        const a = tf.randomNormal(shape(m, k, transposeA), 0, 1, 'float32', seed + 300 + j);
        const b = tf.randomNormal(shape(k, n, transposeB), 0, 1, 'float32', seed + 310 + j);
        const bias = tf.randomNormal([n], 0, 1, 'float32', seed + 320 + j);
        const tag = `b${batch} ${m}x${k}x${n}${transposeA ? ' Aᵀ' : ''}${transposeB ? ' Bᵀ' : ''}`;
        cases.push({ name: `BatchMatMul ${tag}`, inputs: { a, b }, attrs: { transposeA, transposeB } });
        // Fused products come from dense layers, one matrix (wasm's own kernel differs from cpu's on batches).
        if (batch === 1) cases.push({ name: `_FusedMatMul relu ${tag}`, inputs: { a, b, bias }, attrs: { transposeA, transposeB, activation: 'relu' } });
      }
  // A batch of matrices times one matrix (a transformer's dense layers and their input
  // gradients): wasm runs it as one product of the batch's rows.
  for (const [j, [aShape, bShape, transposeB]] of (
    [
      [[4, 5, 7], [7, 3], false],
      [[4, 5, 7], [1, 7, 3], false],
      [[2, 3, 5, 7], [7, 6], false],
      [[4, 5, 7], [3, 7], true],
      [[1, 5, 7], [7, 3], false],
    ] as Array<[number[], number[], boolean]>
  ).entries()) {
    const a = tf.randomNormal(aShape, 0, 1, 'float32', seed + 500 + j);
    const b = tf.randomNormal(bShape, 0, 1, 'float32', seed + 510 + j);
    cases.push({
      name: `BatchMatMul one matrix ${aShape.join('x')} × ${bShape.join('x')}${transposeB ? 'ᵀ' : ''}`,
      inputs: { a, b },
      attrs: { transposeA: false, transposeB },
    });
  }
  // Transposes above rank 4 (a transformer's query/key/value split), with unit axes and axes
  // that move together; wasm runs them at rank 4 or less.
  for (const [j, [shape, perm]] of (
    [
      [
        [5, 7, 3, 2, 4],
        [2, 0, 3, 1, 4],
      ],
      [
        [3, 5, 2, 7, 4],
        [4, 3, 2, 1, 0],
      ],
      [
        [2, 1, 3, 4, 5, 2],
        [5, 2, 0, 4, 1, 3],
      ],
      [
        [2, 3, 4, 5, 6],
        [0, 1, 2, 3, 4],
      ],
      [
        [2, 3, 1, 5, 6],
        [0, 2, 1, 3, 4],
      ],
      [
        [1, 1, 1, 1, 3],
        [4, 3, 2, 1, 0],
      ],
    ] as Array<[number[], number[]]>
  ).entries())
    cases.push({
      name: `Transpose ${shape.join('x')} [${perm.join(',')}]`,
      inputs: { x: tf.randomNormal(shape, 0, 1, 'float32', seed + 520 + j) },
      attrs: { perm },
    });
  // Windows that tile the image without overlap (stride = filter, no padding: patch embeddings,
  // ConvNeXt's 2×2 downsampling), with rows and columns no window reads.
  for (const [j, [size, k, channels]] of (
    [
      [28, 7, 1],
      [16, 4, 3],
      [10, 4, 2],
      [9, 2, 5],
    ] as const
  ).entries()) {
    const x = tf.randomNormal([3, size, size, channels], 0, 1, 'float32', seed + 530 + j);
    const w = tf.randomNormal([k, k, channels, 6], 0, 1, 'float32', seed + 540 + j);
    const dy = tf.randomNormal(tf.conv2d(x as tf.Tensor4D, w as tf.Tensor4D, k, 'valid').shape, 0, 1, 'float32', seed + 550 + j);
    const attrs = { strides: [k, k], pad: 'valid', dataFormat: 'NHWC', dilations: [1, 1], inputShape: x.shape };
    cases.push({ name: `Conv2DBackpropInput patches ${size}x${size}x${channels} k${k} s${k}`, inputs: { dy, filter: w }, attrs });
  }
  return cases;
}

const run = (c: Case) => {
  const kernel = c.name.split(' ')[0];
  const out = tf.engine().runKernel(kernel, c.inputs as unknown as tf.NamedTensorMap, c.attrs as tf.NamedAttrMap) as tf.Tensor;
  const values = out.dataSync() as Float32Array;
  return { shape: out.shape, values: Float32Array.from(values) };
};

/** Largest |a−b| relative to the largest |reference| value (1e-4 is the bar). */
function relativeError(a: Float32Array, ref: Float32Array): number {
  let maxDiff = 0;
  let maxRef = 1e-12;
  for (let i = 0; i < ref.length; i++) {
    maxDiff = Math.max(maxDiff, Math.abs(a[i] - ref[i]));
    maxRef = Math.max(maxRef, Math.abs(ref[i]));
  }
  return maxDiff / maxRef;
}

describe('flat kernels match the stock tfjs cpu kernels', () => {
  let cases: Case[];
  let reference: Map<string, { shape: number[]; values: Float32Array }>;

  beforeAll(async () => {
    await tf.setBackend('cpu');
    uninstallFlatKernels('cpu');
    cases = randomCases(42, 14);
    reference = new Map(cases.map((c) => [c.name, run(c)]));
  });

  it('on cpu, every replaced kernel agrees to 1e-4 relative error', () => {
    installFlatKernels('cpu', CPU_REPLACED);
    let checked = 0;
    for (const c of cases) {
      const got = run(c);
      const ref = reference.get(c.name)!;
      expect(got.shape, c.name).toEqual(ref.shape);
      expect(relativeError(got.values, ref.values), c.name).toBeLessThan(1e-4);
      checked++;
    }
    expect(checked).toBeGreaterThan(90);
    uninstallFlatKernels('cpu');
  });

  it('on wasm, the supplied and accelerated kernels agree with the cpu reference', async () => {
    await initWasm();
    const supplied = new Set<string>([...WASM_SUPPLIED, ...WASM_ACCELERATED]);
    const wasmCases = cases.filter((c) => supplied.has(c.name.split(' ')[0]));
    expect(tf.getKernel('Conv2DBackpropFilter', 'wasm')).toBeDefined();
    await tf.setBackend('wasm');
    for (const c of wasmCases) {
      const inputs = Object.fromEntries(Object.entries(c.inputs).map(([k, t]) => [k, tf.tensor(t.dataSync(), t.shape)]));
      const got = run({ ...c, inputs });
      const ref = reference.get(c.name)!;
      expect(got.shape, c.name).toEqual(ref.shape);
      expect(relativeError(got.values, ref.values), c.name).toBeLessThan(1e-4);
    }
    expect(wasmCases.length).toBeGreaterThan(30);
    await tf.setBackend('cpu');
  });
});

describe('wasm Identity shares memory', () => {
  it('a clone outlives its source, reads the same values and frees the memory once both are gone', async () => {
    await initWasm();
    await tf.setBackend('wasm');
    const before = tf.memory().numBytes;
    const buffers = tf.backend().numDataIds();
    const x = tf.tensor([1.5, -2, 3.25, 4], [2, 2]);
    const y = tf.clone(x);
    x.dispose();
    expect(Array.from(await y.data())).toEqual([1.5, -2, 3.25, 4]);
    const z = tf.add(y, 1); // the shared memory still feeds kernels
    expect(Array.from(await z.data())).toEqual([2.5, -1, 4.25, 5]);
    tf.dispose([y, z]);
    expect(tf.memory().numBytes).toBe(before);
    expect(tf.backend().numDataIds()).toBe(buffers); // the backend freed the shared buffer too
    await tf.setBackend('cpu');
  });
});

describe('wasm GatherV2', () => {
  it('gives what cpu gives, bit for bit, on any axis, with repeated and multi-dimensional indices and int32 data', async () => {
    await initWasm();
    const rand = mulberry32(11);
    const cases: Array<{ shape: number[]; axis: number; indexShape: number[]; dtype: 'float32' | 'int32' }> = [
      { shape: [64, 784, 1], axis: 1, indexShape: [784], dtype: 'float32' }, // warp sampling
      { shape: [5, 7, 3], axis: 0, indexShape: [9], dtype: 'float32' },
      { shape: [4, 6, 5], axis: 2, indexShape: [2, 3], dtype: 'float32' },
      { shape: [3, 8, 2, 4], axis: -2, indexShape: [5], dtype: 'int32' },
      { shape: [10], axis: 0, indexShape: [4, 4], dtype: 'int32' },
    ];
    for (const c of cases) {
      const dim = c.shape.at(c.axis)!;
      const size = c.shape.reduce((n, d) => n * d, 1);
      const values = Array.from({ length: size }, () => (c.dtype === 'int32' ? Math.floor(rand() * 1000) - 500 : rand() * 2 - 1));
      const rows = Array.from({ length: c.indexShape.reduce((n, d) => n * d, 1) }, () => Math.floor(rand() * dim));
      const run = async (backend: string) => {
        await tf.setBackend(backend);
        const y = tf.gather(tf.tensor(values, c.shape, c.dtype), tf.tensor(rows, c.indexShape, 'int32'), c.axis);
        return { shape: y.shape, values: Array.from(await y.data()), dtype: y.dtype };
      };
      const ref = await run('cpu');
      const got = await run('wasm');
      expect(got, JSON.stringify(c)).toEqual(ref);
    }
    await tf.setBackend('cpu');
  });
});

describe('wasm Slice', () => {
  it('gives what cpu gives, bit for bit, at ranks 1–6, with sizes of −1, empty slices, int32 data and short runs', async () => {
    await initWasm();
    const rand = mulberry32(17);
    const cases: Array<{ shape: number[]; begin: number[]; size: number[]; dtype: 'float32' | 'int32' }> = [
      { shape: [2, 15, 15, 24], begin: [0, 0, 0, 0], size: [2, 14, 14, 24], dtype: 'float32' }, // an explicit pad's gradient
      { shape: [2, 15, 15, 24], begin: [0, 1, 1, 0], size: [-1, 14, 14, -1], dtype: 'float32' },
      { shape: [3, 9, 7, 40], begin: [1, 2, 0, 0], size: [2, 5, 7, 40], dtype: 'float32' }, // rows whole: one run per image
      { shape: [3, 9, 7, 40], begin: [0, 0, 0, 8], size: [3, 9, 7, 16], dtype: 'float32' }, // channels narrowed
      { shape: [3, 9, 7, 40], begin: [0, 0, 0, 3], size: [3, 9, 7, 5], dtype: 'float32' }, // short runs: the stock kernel
      { shape: [100], begin: [17], size: [60], dtype: 'int32' },
      { shape: [6, 50], begin: [2, 0], size: [3, -1], dtype: 'int32' },
      { shape: [4, 5, 6, 7, 20], begin: [1, 0, 2, 1, 0], size: [2, 5, 3, 4, 20], dtype: 'float32' },
      { shape: [2, 3, 4, 5, 6, 30], begin: [0, 1, 0, 2, 1, 0], size: [2, 2, 4, 3, 5, 30], dtype: 'float32' },
      { shape: [5, 8, 32], begin: [0, 3, 0], size: [5, 0, 32], dtype: 'float32' },
      { shape: [4, 64], begin: [0, 0], size: [-1, -1], dtype: 'float32' },
    ];
    for (const c of cases) {
      const count = c.shape.reduce((n, d) => n * d, 1);
      const values = Array.from({ length: count }, () => (c.dtype === 'int32' ? Math.floor(rand() * 1000) - 500 : rand() * 2 - 1));
      const run = async (backend: string) => {
        await tf.setBackend(backend);
        const y = tf.slice(tf.tensor(values, c.shape, c.dtype), c.begin, c.size);
        return { shape: y.shape, values: Array.from(await y.data()), dtype: y.dtype };
      };
      const ref = await run('cpu');
      const got = await run('wasm');
      expect(got, JSON.stringify(c)).toEqual(ref);
    }
    expect(tf.getKernel('Slice', 'wasm')).toBeDefined();
    await tf.setBackend('cpu');
  });
});

describe('tileFlat', () => {
  it('matches tf.tile on cpu for mixed repetitions', async () => {
    const { tileFlat } = await import('../../src/engine/kernels/register.js');
    await tf.setBackend('cpu');
    const x = tf.randomNormal([2, 1, 3, 4], 0, 1, 'float32', 5);
    const reps = [3, 5, 1, 2];
    const expected = tf.tile(x, reps).dataSync();
    const got = tileFlat(x.dataSync() as Float32Array, x.shape, reps);
    expect(Array.from(got)).toEqual(Array.from(expected));
  });
});
