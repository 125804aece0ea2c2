// CLIP-style dual encoders end to end. The fixtures (scripts/fixtures/make-dual-fixtures.ts) are
// a small MNIST CLIP made here and two pairs of twins: a CoCoOp prompt learner with a
// BadCLIP-style backdoor and its clean twin, and an encoder pair poisoned in contrastive training
// and its clean twin. CLIP-Inspector's trigger inversion must flag each backdoored one with its
// target and neither twin. Cleaning them (the real trigger measured on the 2,000 test digits) is
// in test/quality/cleaning.test.ts.
import * as tf from '@tensorflow/tfjs';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { mnistSplit } from '../../src/data/mnist.js';
import { readNpy, writeNpy } from '../../src/data/npy.js';
import { selectBackend } from '../../src/engine/backend.js';
import { MemoryLogger } from '../../src/logger.js';
import { DualEncoderModel } from '../../src/model/dual/adapter.js';
import { loadModel } from '../../src/model/load.js';
import { readLocalModel } from '../../src/model/source.js';
import { DEFAULT_LIMITS } from '../../src/model/limits.js';
import { encode, floatTensor, maxAbsDiff, node, onnxModel, runReference } from '../helpers/onnx.js';
import { accuracyAndAsr } from '../helpers/measure.js';
import { REPO, runCli } from '../helpers/run.js';

const FIXTURES = path.join(REPO, 'test/fixtures/dual');
const fixture = (name: string) => path.join(FIXTURES, name);
const facts = (name: string) => JSON.parse(readFileSync(path.join(fixture(name), 'fixture.json'), 'utf8'));
const tmp = () => mkdtempSync(path.join(os.tmpdir(), 'bg-dual-'));
const test = mnistSplit('test');
const pct = (v: number) => `${(100 * v).toFixed(1)} %`;
const BACKDOORED = { prompt: 'cocoop-badclip-t7', contrastive: 'clip-blended-t3' };

/** CLIP-Inspector's budget: one epoch over 1,000 unlabelled images (the held-out digits; MNIST has no OOD set here). */
let policy: string;
beforeAll(async () => {
  await selectBackend({ choice: 'wasm', logger: new MemoryLogger() });
  policy = path.join(tmp(), 'policy.yml');
  writeFileSync(policy, 'budgets:\n  probe-images: 1000\n  inversion:\n    images: 1000\n');
});

describe('dual-encoder models', () => {
  it('computes zero-shot logits as scale · cos(image, class text), as accurately as the fixture card says', async () => {
    for (const name of ['clip-clean', 'cocoop-clean']) {
      const model = (await loadModel(fixture(name))).model as DualEncoderModel;
      expect(model.format).toBe('dual-encoder');
      expect(model.numClasses).toBe(10);
      const x = tf.tensor4d(test.x.subarray(0, 8 * 784), [8, 28, 28, 1]);
      const v = model.encodeImages(x);
      const t = model.classTexts(v);
      // Per image: the cosine with each class text (t is [K, D], or [N, K, D] with a meta-net).
      const cos = t.rank === 2 ? tf.matMul(v, t as tf.Tensor2D, false, true) : tf.sum(tf.mul(tf.expandDims(v, 1), t), -1);
      const logits = model.logits(x).arraySync() as number[][];
      (cos.arraySync() as number[][]).forEach((row, i) => row.forEach((c, k) => expect(logits[i][k]).toBeCloseTo(model.logitScale * c, 4)));
      expect(Math.max(...(cos.dataSync() as Float32Array).map(Math.abs))).toBeLessThanOrEqual(1 + 1e-5);
      const accuracy = accuracyAndAsr(model, (z) => z, 0).accuracy;
      expect(Math.abs(accuracy - facts(name).zeroShotAccuracy)).toBeLessThan(0.005);
      expect(accuracy).toBeGreaterThan(0.95);
      model.dispose();
    }
  });

  it('takes an ONNX image encoder and fixed class embeddings, and writes the encoder back as ONNX', async () => {
    // The PyTorch CNN export as the image tower, one-hot class embeddings: cos(v, e_k) = v_k / ‖v‖,
    // so the zero-shot answer must be the classifier's own.
    const dir = tmp();
    cpSync(path.join(REPO, 'test/fixtures/onnx/cnn-mnist/model.onnx'), path.join(dir, 'image.onnx'));
    const eye = new Float32Array(100);
    for (let k = 0; k < 10; k++) eye[k * 11] = 1;
    writeNpy(path.join(dir, 'classes.npy'), eye, [10, 10]);
    const gate = JSON.parse(readFileSync(path.join(REPO, 'test/fixtures/onnx/cnn-mnist/gate.json'), 'utf8'));
    writeFileSync(
      path.join(dir, 'dual-encoder.json'),
      JSON.stringify({
        format: 'backdoor-gate/dual-encoder',
        version: 1,
        image_encoder: 'image.onnx',
        input: gate.input,
        classes: gate.classes,
        logit_scale: 20,
        text: { class_embeddings: 'classes.npy' },
      }),
    );
    const dual = (await loadModel(dir)).model;
    const classifier = (await loadModel(path.join(REPO, 'test/fixtures/onnx/cnn-mnist'))).model;
    const x = tf.tensor4d(test.x.subarray(0, 200 * 784), [200, 28, 28, 1]);
    expect(Array.from(tf.argMax(dual.logits(x), -1).dataSync())).toEqual(Array.from(tf.argMax(classifier.logits(x), -1).dataSync()));
    expect(dual.trainableVariables().length).toBeGreaterThan(0);
    const out = path.join(tmp(), 'saved');
    await dual.save(out);
    const saved = JSON.parse(readFileSync(path.join(out, 'dual-encoder.json'), 'utf8'));
    expect(saved).toMatchObject({ image_encoder: 'image/model.onnx', text: { class_embeddings: 'text/class_embeddings.npy' } });
    const again = (await loadModel(out)).model;
    expect(tf.max(tf.abs(tf.sub(again.logits(x), dual.logits(x)))).dataSync()[0]).toBeLessThan(1e-4);
  });

  it('takes an ONNX text encoder: the same logits as the tfjs one, onnxruntime agrees, written back as ONNX', async () => {
    // clip-clean's text tower (Dense on each token, Flatten, Dense, Dense) rewritten as an ONNX graph.
    const tfjs = (await loadModel(fixture('clip-clean'))).model as DualEncoderModel;
    const [k1, b1, k2, b2, k3, b3] = tfjs.towerVariables().text;
    const w = (name: string, v: tf.Variable) => floatTensor(name, v.shape, v.dataSync());
    const graph = onnxModel({
      inputs: [{ name: 'tokens', dims: ['batch', 6, 16] }],
      outputs: [{ name: 'embedding', dims: ['batch', 32] }],
      initializers: [w('k1', k1), w('b1', b1), w('k2', k2), w('b2', b2), w('k3', k3), w('b3', b3)],
      nodes: [
        node('MatMul', ['tokens', 'k1'], ['h1']),
        node('Add', ['h1', 'b1'], ['h1b']),
        node('Relu', ['h1b'], ['r1']),
        node('Flatten', ['r1'], ['f'], { axis: 1 }),
        node('Gemm', ['f', 'k2', 'b2'], ['h2']),
        node('Relu', ['h2'], ['r2']),
        node('Gemm', ['r2', 'k3', 'b3'], ['embedding']),
      ],
    });
    const dir = path.join(tmp(), 'onnx-text');
    cpSync(fixture('clip-clean'), dir, { recursive: true });
    rmSync(path.join(dir, 'text', 'model.json'));
    writeFileSync(path.join(dir, 'text.onnx'), encode(graph));
    const file = path.join(dir, 'dual-encoder.json');
    writeFileSync(
      file,
      JSON.stringify({ ...JSON.parse(readFileSync(file, 'utf8')), text: { ...JSON.parse(readFileSync(file, 'utf8')).text, encoder: 'text.onnx' } }),
    );
    const onnx = (await loadModel(dir)).model as DualEncoderModel;
    const x = tf.tensor4d(test.x.subarray(0, 64 * 784), [64, 28, 28, 1]);
    expect(tf.max(tf.abs(tf.sub(onnx.logits(x), tfjs.logits(x)))).dataSync()[0]).toBeLessThan(1e-4);
    // onnxruntime on the same token sequences (table rows, zero padding) gives the same embeddings.
    const captions = ['a photo of the digit seven', 'the number two', 'nine'].map((c) => onnx.tokenizeCaption(c));
    const table = readNpy(path.join(dir, 'text', 'token_embedding.npy')).data as Float32Array;
    const seq = new Float32Array(captions.length * 6 * 16);
    captions.forEach((ids, n) => ids.forEach((id, j) => seq.set(table.subarray(id * 16, (id + 1) * 16), (n * 6 + j) * 16)));
    const ref = (await runReference(encode(graph), { tokens: { data: seq, dims: [captions.length, 6, 16] } })).embedding.data;
    const refNormalised = tf.tidy(() => {
      const r = tf.tensor2d(ref, [captions.length, 32]);
      return tf.div(r, tf.norm(r, 2, -1, true)).dataSync();
    });
    expect(maxAbsDiff(onnx.encodeTokenIds(captions).dataSync(), refNormalised)).toBeLessThan(1e-5);
    const out = path.join(tmp(), 'saved');
    await onnx.save(out);
    expect(JSON.parse(readFileSync(path.join(out, 'dual-encoder.json'), 'utf8')).text.encoder).toBe('text/model.onnx');
    expect(tf.max(tf.abs(tf.sub((await loadModel(out)).model.logits(x), tfjs.logits(x)))).dataSync()[0]).toBeLessThan(1e-4);
  });

  it('reads how the class prompts are made from the manifest: templates, CoOp context, CoCoOp meta-net, given embeddings', async () => {
    const kindOf = async (name: string, edit: (m: any) => void = () => {}) => {
      const dir = path.join(tmp(), 'm');
      cpSync(fixture(name), dir, { recursive: true });
      const file = path.join(dir, 'dual-encoder.json');
      const m = JSON.parse(readFileSync(file, 'utf8'));
      edit(m);
      writeFileSync(file, JSON.stringify(m));
      const { model } = await loadModel(dir);
      const kind = model.classPrompts;
      model.dispose();
      return kind;
    };
    expect(await kindOf('clip-clean')).toBe('templates');
    expect(await kindOf('cocoop-clean')).toBe('cocoop');
    // The same context vectors without the meta-net are a CoOp prompt learner.
    expect(await kindOf('cocoop-clean', (m) => delete m.text.prompt_learner.meta_net)).toBe('coop');
  });

  it('refuses a bad manifest, naming the file and the problem', async () => {
    const bad = (edit: (m: any) => void, message: RegExp) => {
      const dir = path.join(tmp(), 'm');
      cpSync(fixture('clip-clean'), dir, { recursive: true });
      const file = path.join(dir, 'dual-encoder.json');
      const m = JSON.parse(readFileSync(file, 'utf8'));
      edit(m);
      writeFileSync(file, JSON.stringify(m));
      return expect(loadModel(dir)).rejects.toThrow(message);
    };
    await bad((m) => (m.format = 'clip'), /dual-encoder\.json: is not a valid dual-encoder manifest: format/);
    await bad((m) => (m.image_encoder = '../../etc/model.json'), /dual-encoder\.json: weight path '\.\.\/\.\.\/etc\/model\.json' escapes the model directory/);
    await bad((m) => (m.text.encoder = 'text/missing.json'), /dual-encoder\.json: names part 'text\/missing\.json', which does not exist/);
    await bad((m) => (m.classes[3] = 'trois'), /dual-encoder\.json: class name 'trois' uses the word 'trois', which is not in the vocabulary/);
    await bad((m) => m.text.vocab.pop(), /token_embedding has 19 rows but the vocabulary has 18 words/);
    await bad((m) => delete m.text.templates, /text: a text encoder needs templates or a prompt_learner/);
  });

  it('writes every part to a new directory with one digest over them, and reads back the same logits', async () => {
    const { model, source } = await loadModel(fixture('cocoop-clean'));
    const out = path.join(tmp(), 'copy');
    await model.save(out);
    await expect(model.save(out)).rejects.toThrow(/dual-encoder\.json: already exists; refusing to overwrite it/);
    const again = await loadModel(out);
    expect(again.source.digest).toBe(readLocalModel(out, DEFAULT_LIMITS).digest);
    expect(again.source.files.map((f) => f.name)).toEqual(
      expect.arrayContaining(['dual-encoder.json', 'image/model.json', 'text/token_embedding.npy', 'prompt/context.npy', 'prompt/meta-net/model.json']),
    );
    const x = tf.tensor4d(test.x.subarray(0, 16 * 784), [16, 28, 28, 1]);
    const diff = tf.max(tf.abs(tf.sub(model.logits(x), again.model.logits(x)))).dataSync()[0];
    expect(diff).toBeLessThan(1e-5);
    // Any changed part changes the digest.
    writeNpy(path.join(out, 'prompt', 'context.npy'), new Float32Array(4 * 16), [4, 16]);
    expect(readLocalModel(out, DEFAULT_LIMITS).digest).not.toBe(again.source.digest);
    expect(source.digest).toMatch(/^sha256:/);
  });
});

describe('CLIP-Inspector on dual encoders (CLI)', () => {
  const scan = async (name: string) => {
    const report = path.join(tmp(), 'report.json');
    const r = await runCli([
      'scan',
      fixture(name),
      '--data',
      'mnist:heldout',
      '--policy',
      policy,
      '--backend',
      'wasm',
      '--scans',
      'inversion,mask-inversion',
      '--report',
      report,
    ]);
    const json = JSON.parse(readFileSync(report, 'utf8'));
    const inversion = json.scans.find((s: { method: string }) => s.method === 'trigger-inversion');
    return { code: r.code, stderr: r.stderr, verdict: json.verdict, target: json.suspectedTarget, inversion, prompts: json.model.classPrompts };
  };

  it('flags both backdoored fixtures with their targets and passes both clean twins', async () => {
    const results = await Promise.all([BACKDOORED.prompt, 'cocoop-clean', BACKDOORED.contrastive, 'clip-clean'].map(scan));
    const [prompt, promptTwin, contrastive, contrastiveTwin] = results;
    for (const [name, r] of [
      [BACKDOORED.prompt, prompt],
      [BACKDOORED.contrastive, contrastive],
    ] as const) {
      const target = facts(name).attack.target;
      const asr = r.inversion.perClass.map((p: { asr: number }) => pct(p.asr)).join(', ');
      console.log(
        `${name}: verdict ${r.verdict}, inversion target ${r.inversion.suspectedTarget}, anomaly ${r.inversion.anomaly.toFixed(2)}; reconstructed-trigger ASR per class ${asr}`,
      );
      expect(r.code, r.stderr).toBe(1);
      expect(r.inversion.suspectedTarget).toBe(target);
      expect(r.inversion.anomaly).toBeGreaterThan(2);
      expect(r.target).toBe(target);
    }
    // Each is judged by the power on its kind of class prompts, which the report names.
    expect([prompt.prompts, promptTwin.prompts, contrastive.prompts, contrastiveTwin.prompts]).toEqual(['cocoop', 'cocoop', 'templates', 'templates']);
    for (const r of [promptTwin, contrastiveTwin]) {
      console.log(`clean twin: verdict ${r.verdict}, inversion anomaly ${r.inversion.anomaly.toFixed(2)}`);
      expect(r.code, r.stderr).toBe(0);
      expect(r.verdict).toBe('clean');
      expect(r.inversion.suspectedTarget).toBeNull();
    }
  }, 600_000);
});
