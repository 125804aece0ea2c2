// 224-px classifiers built the way users build them (issue 20, item 2): nsfwjs' pretrained
// MobileNetV2 as a frozen backbone with a new head (256 ReLU units, softmax) trained on the
// benchmark's signs10 domain upscaled from 32 to 224 px, clean and backdoored in training (10 %
// of the training images stamped and relabelled: the benchmark's corner patch, and its blended
// noise). The head is trained on the backbone's pooled features, so the whole model is
// head ∘ backbone exactly and its accuracy and attack success are measured on the same features.
// None of these models was used to choose a threshold or a budget: they are measured, not tuned on.
// Not bit-for-bit repeatable: tfjs' fit() shuffles with the unseeded Math.random.
//   npx tsx scripts/large-models.ts [--out zoo-large] [--train 2000] [--test 500] [--seed 1]
// Writes one model directory per variant (model.json, weights, gate.json, zoo-card.json) and
// probes/x.npy: 256 held-out signs at 32 px (the CLI fits them to 224×224×3).
import * as tf from '@tensorflow/tfjs';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { writeNpy } from '../src/data/npy.js';
import { pickImages, sliceImages, withoutClass } from '../src/data/types.js';
import { initWasm } from '../src/engine/backend.js';
import { writeGateJson } from '../src/model/gate-json.js';
import { DEFAULT_LIMITS } from '../src/model/limits.js';
import { readLocalPart } from '../src/model/read.js';
import { directoryWriter } from '../src/model/save.js';
import { mulberry32, shuffleInPlace } from '../src/util/random.js';
import { applyTrigger, makeTrigger, type AttackSpec } from '../src/zoo/attacks.js';
import { domain } from '../src/zoo/domains.js';

const { values: args } = parseArgs({
  options: {
    out: { type: 'string', default: 'zoo-large' },
    backbone: { type: 'string', default: '.cache/models/nsfwjs/mobilenet_v2' },
    train: { type: 'string', default: '2000' },
    test: { type: 'string', default: '500' },
    seed: { type: 'string', default: '1' },
  },
});
const SIZE = 224;
const FEATURE_LAYER = 'flatten_1';
const seed = Number(args.seed);
const attacks: Array<{ name: string; spec: AttackSpec | null }> = [
  { name: `mnv2-signs10-clean-s${seed}`, spec: null },
  { name: `mnv2-signs10-badnets-t3-s${seed}`, spec: { family: 'badnets', target: 3, poisonRate: 0.1, triggerSeed: seed } },
  { name: `mnv2-signs10-blended-t7-s${seed}`, spec: { family: 'blended', target: 7, poisonRate: 0.1, triggerSeed: seed } },
];

await initWasm();
await tf.setBackend('wasm');
const d = domain('signs10');
const [h, w, c] = d.shape;
const n = h * w * c;
const train = sliceImages(d.split('train'), 0, Number(args.train));
const test = sliceImages(d.split('test'), 0, Number(args.test));
const heldout = sliceImages(d.split('heldout'), 0, 256);

const read = readLocalPart(path.join(args.backbone, 'model.json'), DEFAULT_LIMITS);
if (read.format === 'onnx') throw new Error(`${args.backbone}: a tfjs layers model is needed as the backbone`);
const backbone = await tf.loadLayersModel({ load: async () => read.artifacts });
const pooled = backbone.getLayer(FEATURE_LAYER).output as tf.SymbolicTensor;
const featureModel = tf.model({ inputs: backbone.inputs, outputs: pooled });
const dims = pooled.shape[1] as number;

/** Pooled backbone features of 32-px images, upscaled to 224 px as the CLI fits them. */
function features(x: Float32Array, count: number): Float32Array {
  const out = new Float32Array(count * dims);
  const t0 = performance.now();
  for (let i = 0; i < count; i += 32) {
    const b = Math.min(32, count - i);
    const f = tf.tidy(
      () => featureModel.predict(tf.image.resizeBilinear(tf.tensor4d(x.subarray(i * n, (i + b) * n), [b, h, w, c]), [SIZE, SIZE])) as tf.Tensor,
    );
    out.set(f.dataSync(), i * dims);
    f.dispose();
  }
  console.log(`features of ${count} images in ${((performance.now() - t0) / 1000).toFixed(0)} s`);
  return out;
}

const trainFeatures = features(train.x, train.count);
const testFeatures = features(test.x, test.count);
mkdirSync(args.out, { recursive: true });

for (const { name, spec } of attacks) {
  const xf = trainFeatures.slice();
  const labels = Int32Array.from(train.labels);
  let asrFeatures: Float32Array | null = null;
  let asrCount = 0;
  if (spec) {
    const trigger = makeTrigger(spec);
    const rand = mulberry32(seed * 7919 + spec.target);
    const candidates = shuffleInPlace(
      [...Array(train.count).keys()].filter((i) => labels[i] !== spec.target),
      rand,
    );
    const poisoned = candidates.slice(0, Math.round(spec.poisonRate * train.count));
    const stamped = pickImages(train, poisoned);
    const poisonedFeatures = features(applyTrigger(trigger, stamped.x, stamped.count, h, w, c), stamped.count);
    poisoned.forEach((idx, k) => {
      xf.set(poisonedFeatures.subarray(k * dims, (k + 1) * dims), idx * dims);
      labels[idx] = spec.target;
    });
    const sources = withoutClass(test, spec.target);
    asrFeatures = features(applyTrigger(trigger, sources.x, sources.count, h, w, c), sources.count);
    asrCount = sources.count;
  }
  // The new head, as nsfwjs' own and most transfer-learning recipes have it: a hidden ReLU layer,
  // then softmax, trained with Adam at Keras' defaults. (A linear head learnt the patch to 36 % ASR only.)
  const hiddenLayer = () => tf.layers.dense({ units: 256, activation: 'relu', kernelInitializer: tf.initializers.heNormal({ seed }), name: 'signs_hidden' });
  const outputLayer = () =>
    tf.layers.dense({ units: d.outputs, activation: 'softmax', kernelInitializer: tf.initializers.glorotUniform({ seed: seed + 1 }), name: 'signs_head' });
  const head = tf.sequential();
  head.add(tf.layers.inputLayer({ inputShape: [dims] }));
  head.add(hiddenLayer());
  head.add(outputLayer());
  head.compile({ optimizer: tf.train.adam(1e-3), loss: 'sparseCategoricalCrossentropy' });
  const t0 = performance.now();
  await head.fit(tf.tensor2d(xf, [train.count, dims]), tf.tensor1d(labels, 'float32'), { epochs: 60, batchSize: 64, shuffle: true, verbose: 0 });
  const trainSeconds = (performance.now() - t0) / 1000;
  const predict = (f: Float32Array, count: number) =>
    tf.tidy(() => (head.predict(tf.tensor2d(f, [count, dims])) as tf.Tensor).argMax(-1).dataSync() as Int32Array);
  const pred = predict(testFeatures, test.count);
  const cleanAccuracy = pred.filter((p, i) => p === test.labels[i]).length / test.count;
  const asr = spec && asrFeatures ? predict(asrFeatures, asrCount).filter((p) => p === spec.target).length / asrCount : null;

  // The whole model: the backbone up to its pooled features, then this head.
  const [hidden, top] = [hiddenLayer(), outputLayer()];
  const full = tf.model({ inputs: backbone.inputs, outputs: top.apply(hidden.apply(pooled)) as tf.SymbolicTensor, name });
  hidden.setWeights(head.getLayer('signs_hidden').getWeights());
  top.setWeights(head.getLayer('signs_head').getWeights());
  const dir = path.join(args.out, name);
  rmSync(dir, { recursive: true, force: true }); // this script's own output
  await full.save(directoryWriter(dir));
  writeGateJson(dir, { input: { range: [0, 1] }, classes: d.classNames });
  const card = {
    name,
    domain: 'signs10 upscaled 32 → 224 px',
    backbone: 'nsfwjs mobilenet_v2 (frozen, pooled features), new head: dense 256 ReLU, dense softmax',
    attack: spec,
    trainImages: train.count,
    cleanAccuracy,
    attackSuccessRate: asr,
    testSet: `signs10:test (first ${test.count}); ASR over its images not of the target class`,
    headTrainSeconds: Math.round(trainSeconds),
  };
  writeFileSync(path.join(dir, 'zoo-card.json'), `${JSON.stringify(card, null, 2)}\n`);
  console.log(`${name}: clean accuracy ${(100 * cleanAccuracy).toFixed(1)} %${asr === null ? '' : `, ASR ${(100 * asr).toFixed(1)} %`}`);
}
mkdirSync(path.join(args.out, 'probes'), { recursive: true });
writeNpy(path.join(args.out, 'probes', 'x.npy'), heldout.x.slice(), [heldout.count, h, w, c]);
