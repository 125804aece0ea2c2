// The PyTorch exports in test/fixtures/onnx (scripts/fixtures/make-onnx-fixtures.py): loaded
// through the gate's ONNX import and checked against onnxruntime-node on real MNIST digits,
// their accuracy against what PyTorch measured, their input gradients against finite
// differences, and the written-back ONNX against onnxruntime again. Then the refusals.
import * as tf from '@tensorflow/tfjs';
import * as ort from 'onnxruntime-node';
import { cpSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { mnistSplit } from '../../src/data/mnist.js';
import { selectBackend, type BackendChoice } from '../../src/engine/backend.js';
import { MemoryLogger } from '../../src/logger.js';
import { loadModel } from '../../src/model/load.js';
import { DEFAULT_LIMITS } from '../../src/model/limits.js';
import { ONNX_DTYPE } from '../../src/model/onnx/proto.js';
import { readLocalModel } from '../../src/model/source.js';
import { encode, floatTensor, int64Tensor, maxAbsDiff, node, onnxModel } from '../helpers/onnx.js';

const FIXTURES = path.resolve('test/fixtures/onnx');
const MODELS = ['cnn-mnist', 'cnn-badnets-mnist', 'vit-mnist', 'resnet-mnist', 'resnet-badnets-mnist'] as const;
const test = mnistSplit('test');
const tmp = () => mkdtempSync(path.join(os.tmpdir(), 'bg-onnx-'));

/** onnxruntime's logits for the first n test digits, normalised as the fixture's gate.json says. */
async function referenceLogits(file: string, n: number): Promise<Float32Array> {
  const gate = JSON.parse(readFileSync(path.join(path.dirname(file), 'gate.json'), 'utf8')) as { input: { mean?: number[]; std?: number[] } };
  const [mean, std] = [gate.input.mean?.[0] ?? 0, gate.input.std?.[0] ?? 1];
  const session = await ort.InferenceSession.create(readFileSync(file), { logSeverityLevel: 3 });
  const x = Float32Array.from(test.x.subarray(0, n * 784), (v) => (v - mean) / std);
  const out = await session.run({ [session.inputNames[0]]: new ort.Tensor('float32', x, [n, 1, 28, 28]) });
  await session.release();
  return out[session.outputNames[0]].data as Float32Array;
}

const digits = (n: number, from = 0) => tf.tensor4d(test.x.subarray(from * 784, (from + n) * 784), [n, 28, 28, 1]);

for (const backend of ['cpu', 'wasm'] as BackendChoice[]) {
  describe(`PyTorch ONNX exports (${backend})`, () => {
    beforeAll(async () => {
      await selectBackend({ choice: backend, logger: new MemoryLogger() });
    });

    for (const name of MODELS) {
      it(`${name}: logits match onnxruntime-node to 1e-4 on 64 test digits`, async () => {
        const { model, source } = await loadModel(path.join(FIXTURES, name));
        expect(source.format).toBe('onnx');
        expect(model.inputShape).toEqual([28, 28, 1]);
        expect(model.numClasses).toBe(10);
        const ours = model.logits(digits(64)).dataSync();
        expect(maxAbsDiff(ours, await referenceLogits(path.join(FIXTURES, name, 'model.onnx'), 64))).toBeLessThan(1e-4);
        model.dispose();
      });
    }
  });
}

describe('PyTorch ONNX exports: behaviour', () => {
  beforeAll(async () => {
    await selectBackend({ choice: 'wasm', logger: new MemoryLogger() });
  });

  it('classify the 2,000 test digits as accurately as PyTorch measured (fixture.json)', async () => {
    for (const name of MODELS) {
      const { model } = await loadModel(path.join(FIXTURES, name));
      const facts = JSON.parse(readFileSync(path.join(FIXTURES, name, 'fixture.json'), 'utf8')) as { testAccuracy: number };
      let correct = 0;
      for (let s = 0; s < test.count; s += 500) {
        const pred = tf.tidy(() => tf.argMax(model.logits(digits(500, s)), -1).dataSync());
        pred.forEach((p, i) => (correct += p === test.labels[s + i] ? 1 : 0));
      }
      expect(Math.abs(correct / test.count - facts.testAccuracy), name).toBeLessThan(0.002);
      model.dispose();
    }
  });

  it('input gradients (through normalisation, layouts, BN, pools, strided and residual convolutions, attention) match central differences', async () => {
    for (const name of ['cnn-mnist', 'vit-mnist', 'resnet-mnist']) {
      const { model } = await loadModel(path.join(FIXTURES, name));
      const x = digits(1, 7);
      const f = (v: tf.Tensor) => tf.sum(tf.mul(model.logits(v as tf.Tensor4D), tf.range(1, 11)));
      const grad = tf.grad(f)(x).dataSync();
      // Pixels with the largest gradients, away from max-pool ties.
      const top = Array.from(grad.keys())
        .sort((a, b) => Math.abs(grad[b]) - Math.abs(grad[a]))
        .slice(0, 5);
      for (const i of top) {
        const h = 1e-2;
        const step = (d: number) => {
          const v = x.dataSync().slice();
          v[i] += d;
          return f(tf.tensor4d(v, x.shape)).dataSync()[0];
        };
        const numeric = (step(h) - step(-h)) / (2 * h);
        expect(Math.abs(numeric - grad[i]) / Math.max(1, Math.abs(grad[i])), `${name} pixel ${i}`).toBeLessThan(0.05);
      }
      model.dispose();
    }
  });

  it('writes a changed model back as ONNX that onnxruntime runs to the same logits, without touching an existing file', async () => {
    const { model, source } = await loadModel(path.join(FIXTURES, 'cnn-mnist'));
    const vars = model.trainableVariables();
    expect(vars.length).toBeGreaterThan(4);
    // Change the weights the way a cleaner would.
    for (const v of vars) v.assign(tf.mul(v, 0.9));
    const dir = tmp();
    await model.save(dir);
    cpSync(path.join(FIXTURES, 'cnn-mnist', 'gate.json'), path.join(dir, 'gate.json'));
    const ours = model.logits(digits(32)).dataSync();
    expect(maxAbsDiff(ours, await referenceLogits(path.join(dir, 'model.onnx'), 32))).toBeLessThan(1e-4);
    const reread = readLocalModel(dir, DEFAULT_LIMITS);
    expect(reread.format).toBe('onnx');
    expect(reread.digest).not.toBe(source.digest);
    const before = readFileSync(path.join(dir, 'model.onnx'));
    await expect(model.save(dir)).rejects.toThrow(/model\.onnx: already exists; refusing to overwrite it/);
    expect(readFileSync(path.join(dir, 'model.onnx')).equals(before)).toBe(true);
    model.dispose();
  });
});

describe('ONNX refusals name the file and the problem', () => {
  beforeAll(async () => {
    await selectBackend({ choice: 'cpu', logger: new MemoryLogger() });
  });

  const image = { name: 'input', dims: ['batch', 1, 4, 4] as Array<number | string> };
  const logits = { name: 'logits', dims: ['batch', 2] as Array<number | string> };
  const write = (bytes: Uint8Array, name = 'model.onnx') => {
    const dir = tmp();
    writeFileSync(path.join(dir, name), bytes);
    return path.join(dir, name);
  };
  /** A tiny valid classifier: flatten, Gemm to 2 classes. */
  const tiny = (extra: Parameters<typeof onnxModel>[0]['nodes'] = [], opset = 17) =>
    onnxModel({
      opset,
      nodes: [
        node('Flatten', ['input'], ['f']),
        node('Gemm', ['f', 'w'], ['h'], { transB: 1 }),
        ...extra,
        node('Identity', [extra.length ? extra.at(-1)!.output![0] : 'h'], ['logits']),
      ],
      inputs: [image],
      outputs: [logits],
      initializers: [
        floatTensor(
          'w',
          [2, 16],
          Array.from({ length: 32 }, (_, i) => (i % 5) / 10),
        ),
      ],
    });

  it('a tiny classifier loads (the baseline the refusals change one thing of)', async () => {
    const { model } = await loadModel(write(encode(tiny())));
    expect(model.numClasses).toBe(2);
    expect(model.inputShape).toEqual([4, 4, 1]);
  });

  it('lists every unsupported op, with counts, in one error', async () => {
    const m = tiny([
      node('Resize', ['h'], ['r']),
      node('NonMaxSuppression', ['r'], ['n']),
      node('Resize', ['n'], ['r2']),
      node('FusedConv', ['r2'], ['q'], {}, 'com.microsoft'),
    ]);
    const file = write(encode(m));
    await expect(loadModel(file)).rejects.toThrow(
      new RegExp(
        `${file.replace(/[.]/g, '\\.')}: uses ONNX ops the gate cannot run: com\\.microsoft\\.FusedConv, NonMaxSuppression, Resize \\(×2\\)\\. Supported: .*Conv`,
      ),
    );
  });

  it('refuses opsets outside 13–21, naming the fix', async () => {
    await expect(loadModel(write(encode(tiny([], 11))))).rejects.toThrow(
      /uses opset 11; the gate runs opsets 13–21 \(re-export with torch\.onnx\.export\(\.\.\., opset_version=17\)\)/,
    );
  });

  it('refuses a truncated or non-ONNX file', async () => {
    const bytes = encode(tiny());
    await expect(loadModel(write(bytes.subarray(0, bytes.length - 7)))).rejects.toThrow(/model\.onnx: is not a valid ONNX model \(protobuf: /);
    await expect(loadModel(write(Buffer.from('{"format": "layers-model"}')))).rejects.toThrow(/model\.onnx: is not (a valid ONNX model|an ONNX model)/);
  });

  it('refuses a model that is not an image classifier', async () => {
    const m = onnxModel({ nodes: [node('Identity', ['x'], ['logits'])], inputs: [{ name: 'x', dims: ['batch', 10] }], outputs: [logits] });
    await expect(loadModel(write(encode(m)))).rejects.toThrow(/model\.onnx: wrong input rank: input 'x' is \[\?, 10\] \(rank 2\)/);
    const dynamic = tiny();
    dynamic.graph!.input![0].type!.tensorType!.shape!.dim = [{ dimParam: 'b' }, { dimValue: 1 }, { dimParam: 'h' }, { dimParam: 'w' }];
    await expect(loadModel(write(encode(dynamic)))).rejects.toThrow(/must fix height, width and channels/);
  });

  it('refuses non-finite weights and a raw-data size that does not match the dims', async () => {
    const nan = tiny();
    nan.graph!.initializer![0] = floatTensor(
      'w',
      [2, 16],
      Array.from({ length: 32 }, (_, i) => (i === 5 ? NaN : 0)),
    );
    await expect(loadModel(write(encode(nan)))).rejects.toThrow(/tensor 'w' holds a non-finite value \(NaN\) at element 5/);
    const short = tiny();
    short.graph!.initializer![0] = { ...floatTensor('w', [2, 16], new Float32Array(30)) };
    await expect(loadModel(write(encode(short)))).rejects.toThrow(/tensor 'w' has 120 bytes of raw data; its dims \[2, 16\] need 128/);
    const huge = tiny();
    huge.graph!.initializer![0] = { name: 'w', dims: [1 << 20, 1 << 20], dataType: ONNX_DTYPE.FLOAT };
    await expect(loadModel(write(encode(huge)))).rejects.toThrow(/tensor 'w' declares 1099511627776 elements, above the limit of/);
  });

  it('refuses a graph that would build a huge tensor at run time (ConstantOfShape, Expand, Tile, Range, Pad)', async () => {
    const m = tiny([node('ConstantOfShape', ['big'], ['c']), node('Add', ['h', 'c'], ['hc'])]);
    m.graph!.initializer!.push(int64Tensor('big', [2], [100_000, 100_000]));
    await expect(loadModel(write(encode(m)))).rejects.toThrow(
      /model\.onnx: could not run: node 'ConstantOfShape_c' \(ConstantOfShape\): would make a tensor of shape \[100000, 100000\], above the limit of \d+ elements/,
    );
  });

  it('reads external data beside the model, and refuses one outside its directory or missing', async () => {
    const m = tiny();
    const weights = Float32Array.from({ length: 32 }, (_, i) => (i % 5) / 10);
    m.graph!.initializer![0] = {
      name: 'w',
      dims: [2, 16],
      dataType: ONNX_DTYPE.FLOAT,
      dataLocation: 1,
      externalData: [
        { key: 'location', value: 'weights.bin' },
        { key: 'offset', value: '4' },
        { key: 'length', value: '128' },
      ],
    };
    const file = write(encode(m));
    writeFileSync(path.join(path.dirname(file), 'weights.bin'), Buffer.concat([Buffer.alloc(4), Buffer.from(weights.buffer)]));
    const { model, source } = await loadModel(file);
    expect(source.files.map((f) => f.name)).toEqual(['model.onnx', 'weights.bin']);
    const inline = await loadModel(write(encode(tiny())));
    const x = tf.randomUniform([2, 4, 4, 1], 0, 1, 'float32', 3) as tf.Tensor4D;
    expect(maxAbsDiff(model.logits(x).dataSync(), inline.model.logits(x).dataSync())).toBe(0);
    m.graph!.initializer![0].externalData![0].value = '../outside.bin';
    await expect(loadModel(write(encode(m)))).rejects.toThrow(/model\.onnx: external data '\.\.\/outside\.bin' is outside the model's directory/);
    m.graph!.initializer![0].externalData![0].value = 'absent.bin';
    await expect(loadModel(write(encode(m)))).rejects.toThrow(/model\.onnx: missing external data file 'absent\.bin'/);
  });

  it('a directory holding a model.onnx is read as ONNX; a Git LFS pointer is named as one', async () => {
    const file = write(encode(tiny()));
    expect(readLocalModel(path.dirname(file), DEFAULT_LIMITS).format).toBe('onnx');
    await expect(loadModel(write(Buffer.from('version https://git-lfs.github.com/spec/v1\noid sha256:abc\nsize 12\n')))).rejects.toThrow(
      /model\.onnx: is a Git LFS pointer, not the model/,
    );
  });

  it('NCHW in gate.json is refused for a tfjs model', async () => {
    const dir = tmp();
    cpSync(path.resolve('examples/models/cnn-clean-s1'), dir, { recursive: true });
    writeFileSync(path.join(dir, 'gate.json'), JSON.stringify({ input: { range: [0, 1], layout: 'NCHW' } }));
    await expect(loadModel(dir)).rejects.toThrow(/gate\.json: input\.layout NCHW applies to ONNX models; tfjs models take NHWC images/);
  });
});
