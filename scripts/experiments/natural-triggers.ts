// Experiments behind docs/detection.md's "what did not separate" (issue 19): can the trigger
// inversion tell a backdoor's target from a naturally easy class by something other than its
// ASR against the other classes? Each reads a zoo model, its cached benchmark scan
// (.cache/eval/rows) and its domain's probes (.cache/eval/probes), so run `npm run eval` first.
//   MODE=per-image  universal-trigger ASR (from the scan, at ε, ½ε, ¼ε) beside per-image PGD's
//                   success toward each class at the same sizes (N probes, STEPS signed steps)
//   MODE=small-eps  universal triggers optimised at each of EPS (not scaled down), EPOCHS epochs
//   MODE=pairs      one trigger per (source, target) pair, PER images of each source (STEPS Adam steps)
//   MODE=per-image tsx scripts/experiments/natural-triggers.ts signs10-resnet-clean-s1 signs10-cnn-wanet-t6-s323
import * as tf from '@tensorflow/tfjs';
import { readFileSync } from 'node:fs';
import type { ImageSet } from '../../src/data/types.js';
import { selectBackend } from '../../src/engine/backend.js';
import { MemoryLogger } from '../../src/logger.js';
import type { ModelUnderTest } from '../../src/model/adapter.js';
import { loadModel } from '../../src/model/load.js';
import { reconstructTriggers, type ClassInversion } from '../../src/scan/inversion.js';
import { classMajor, presentClasses, targetMargins, winMask } from '../../src/scan/objective.js';
import { EVAL_ROWS, evalProbes } from './records.js';

const env = (name: string, fallback: string) => process.env[name] ?? fallback;
const MODE = env('MODE', 'per-image');
const SIZES = [1, 0.5, 0.25];
const pct = (v: number) => (Number.isNaN(v) ? '  -' : (100 * v).toFixed(0).padStart(3));

await selectBackend({ choice: 'auto', logger: new MemoryLogger() });
for (const name of process.argv.slice(2)) {
  const card = JSON.parse(readFileSync(`zoo/${name}/zoo-card.json`, 'utf8')) as { domain?: string; attack?: { family: string; target: number } };
  const cached = JSON.parse(readFileSync(`${EVAL_ROWS}/${name}.json`, 'utf8')) as {
    report: { verdict: string; scans: Array<{ method: string; options: { epsilon: number }; perClass: ClassInversion[] }> };
  };
  const scan = cached.report.scans.find((s) => s.method === 'trigger-inversion')!;
  const eps = scan.options.epsilon;
  const { model } = await loadModel(`zoo/${name}`);
  const [H, W, C] = model.inputShape;
  const probeImages = evalProbes(EVAL_ROWS, card.domain);
  const probes = tf.tensor4d(probeImages.x, [probeImages.count, H, W, C]);
  const logits = tf.tidy(() => model.logits(probes));
  const present = await presentClasses(logits, model.decision);
  logits.dispose();
  console.log(`\n${name}: verdict ${cached.report.verdict}, ${card.attack ? `${card.attack.family} → ${card.attack.target}` : 'clean'}, ε ${eps}`);
  if (MODE === 'per-image') perImage(model, probes, present, eps, scan.perClass);
  else if (MODE === 'small-eps') await smallEps(model, probeImages.x, probeImages.count, scan.perClass);
  else pairs(model, probes, present, eps);
  probes.dispose();
  model.dispose();
}

/** Share of the rows not already of their target class that `won` sends there, per target class. */
function successByClass(won: boolean[], present: number[][], K: number, n: number): number[] {
  return Array.from({ length: K }, (_, c) => {
    const rows = [...Array(n).keys()].filter((i) => !present[i].includes(c));
    return rows.length ? rows.filter((i) => won[c * n + i]).length / rows.length : NaN;
  });
}

function perImage(model: ModelUnderTest, probes: tf.Tensor4D, present: number[][], eps: number, universal: ClassInversion[]): void {
  const n = Number(env('N', '48'));
  const steps = Number(env('STEPS', '10'));
  const K = model.numClasses;
  const targets = classMajor([...Array(K).keys()], n);
  const x = tf.tile(tf.slice(probes, 0, n), [K, 1, 1, 1]) as tf.Tensor4D;
  const stamped = (d: tf.Tensor4D) => tf.clipByValue(tf.add(x, d), 0, 1) as tf.Tensor4D;
  const grad = tf.grad((d: tf.Tensor) => tf.sum(targetMargins(model.logits(stamped(d as tf.Tensor4D)), targets, model.decision)));
  const success = SIZES.map((size) => {
    let delta = tf.zerosLike(x);
    for (let i = 0; i < steps; i++) {
      const next = tf.tidy(() =>
        tf.clipByValue(tf.sub(delta, tf.mul(tf.sign(grad(delta)), (2.5 * size * eps) / steps)), -size * eps, size * eps),
      ) as tf.Tensor4D;
      delta.dispose();
      delta = next;
    }
    const won = Array.from(tf.tidy(() => winMask(model.logits(stamped(delta)), targets, model.decision)).dataSync(), (w) => w > 0);
    delta.dispose();
    return successByClass(won, present, K, n);
  });
  x.dispose();
  console.log('class | universal ε ½ε ¼ε | per-image ε ½ε ¼ε');
  universal.forEach((u, c) =>
    console.log(`${String(c).padStart(5)} | ${[u.asr, u.halfAsr, u.quarterAsr].map(pct).join(' ')} | ${success.map((s) => pct(s[c])).join(' ')}`),
  );
}

async function smallEps(model: ModelUnderTest, x: Float32Array, count: number, universal: ClassInversion[]): Promise<void> {
  const [height, width, channels] = model.inputShape;
  const probe: ImageSet = { x, count, height, width, channels, source: 'benchmark probes' };
  const epsilons = env('EPS', '0.075,0.0375').split(',').map(Number);
  const runs: Awaited<ReturnType<typeof reconstructTriggers>>[] = [];
  for (const epsilon of epsilons) runs.push(await reconstructTriggers(model, probe, { epsilon, epochs: Number(env('EPOCHS', '2')) }));
  console.log(`class | scaled from ε: ½ε ¼ε | ${epsilons.map((e) => `optimised at ${e}`).join(' | ')}`);
  universal.forEach((u, c) =>
    console.log(`${String(c).padStart(5)} | ${pct(u.halfAsr)} ${pct(u.quarterAsr)} | ${runs.map((r) => pct(r.perClass[c].asr)).join(' | ')}`),
  );
}

function pairs(model: ModelUnderTest, probes: tf.Tensor4D, present: number[][], eps: number): void {
  const per = Number(env('PER', '16'));
  const K = model.numClasses;
  const [H, W, C] = model.inputShape;
  // Each source's first `per` probes (cycled when it has fewer, skipped under 3).
  const bySource = Array.from({ length: K }, (_, s) => present.flatMap((p, i) => (p[0] === s ? [i] : [])));
  const list = bySource.flatMap((idx, s) => (idx.length < 3 ? [] : [...Array(K).keys()].filter((t) => t !== s).map((t) => ({ s, t, idx }))));
  const P = list.length;
  const x = tf.gather(
    probes,
    list.flatMap((p) => Array.from({ length: per }, (_, i) => p.idx[i % p.idx.length])),
  ) as tf.Tensor4D;
  const targets = list.flatMap((p) => new Array<number>(per).fill(p.t));
  // Row r gets pair ⌊r / per⌋'s trigger: a one-hot matrix product (the wasm backend has no gather gradient).
  const expand = tf
    .oneHot(
      tf.tensor1d(
        targets.map((_, r) => Math.floor(r / per)),
        'int32',
      ),
      P,
    )
    .toFloat();
  const stamped = (d: tf.Tensor, scale = 1) =>
    tf.clipByValue(tf.add(x, tf.reshape(tf.matMul(expand, tf.reshape(tf.mul(d, scale), [P, H * W * C])), [P * per, H, W, C])), 0, 1) as tf.Tensor4D;
  const delta = tf.variable(tf.zeros([P, H, W, C]));
  const optimizer = tf.train.adam(0.1);
  for (let i = 0; i < Number(env('STEPS', '8')); i++) {
    optimizer.minimize(() => tf.mean(targetMargins(model.logits(stamped(delta)), targets, model.decision)) as tf.Scalar, false, [delta]);
    tf.tidy(() => delta.assign(tf.clipByValue(delta, -eps, eps)));
  }
  for (const size of SIZES) {
    const won = Array.from(tf.tidy(() => winMask(model.logits(stamped(delta, size)), targets, model.decision)).dataSync(), (w) => w > 0);
    const asr = [...Array(K)].map(() => new Array<number>(K).fill(NaN));
    list.forEach((p, j) => (asr[p.s][p.t] = won.slice(j * per, (j + 1) * per).filter(Boolean).length / per));
    console.log(`pair-trigger ASR at ${size}ε (rows: source, columns: target)`);
    asr.forEach((row, s) => console.log(`${String(s).padStart(3)} ${row.map(pct).join(' ')}`));
  }
  delta.dispose();
  x.dispose();
  expand.dispose();
}
