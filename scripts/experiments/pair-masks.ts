// Experiment behind docs/detection.md's "per-pair mask inversion" (issue 19's blind spots): can a
// Neural Cleanse mask per (source, target) pair see the all-to-all and source-specific backdoors
// that the per-class scans miss (both look for one trigger that moves most images to one class)?
// For each source class s, the eval's probes the model puts in s (at most PER, at least MIN) are
// inverted towards every other class t with the scan's own mask inversion (its λ schedule, one
// Adam step per epoch, `--epochs` of them: the scan's 16 by default), giving the smallest mask
// L1[s][t] that moves ≥ 90 % of them (the image area when none did). Matrices are cached in
// .cache/experiments/pair-masks/e<epochs>-p<per>/<model>.json; run `npm run eval` first (it
// writes the probes). `--analyse` computes the statistics from the cache (below).
//   tsx scripts/experiments/pair-masks.ts [--epochs 96] [--per 24] [--shard i/n] [--analyse] NAME…|--all
import * as tf from '@tensorflow/tfjs';
import { parseArgs } from 'node:util';
import type { ImageSet } from '../../src/data/types.js';
import { loadModel } from '../../src/model/load.js';
import { reconstructMasks } from '../../src/scan/mask-inversion.js';
import { presentClasses } from '../../src/scan/objective.js';
import { median } from '../../src/scan/robust.js';
import { auroc, roleOf, unusable, type Role } from '../eval-summary.js';
import { cardOf, EVAL_ROWS, evalProbes, identityOf, measureShard, readRecords, zooCards } from './records.js';
import type { ZooCard } from '../zoo.js';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { shard: { type: 'string' }, analyse: { type: 'boolean' }, all: { type: 'boolean' }, per: { type: 'string' }, epochs: { type: 'string' } },
});
const PER = Number(values.per ?? 24);
const MIN = 6;
const EPOCHS = Number(values.epochs ?? 16);
const CACHE = `.cache/experiments/pair-masks/e${EPOCHS}-p${PER}`;
const DOMAINS = ['mnist', 'signs10'];

interface PairRecord {
  name: string;
  role: Role;
  family: string;
  target: number | null;
  source: number | null;
  arch: string;
  domain: string;
  K: number;
  area: number;
  /** L1[s][t]; null where s had fewer than MIN probes or s = t. */
  l1: Array<Array<number | null>>;
  asr: Array<Array<number | null>>;
  perSource: number[];
  seconds: number;
}

function candidates(): string[] {
  if (!values.all) return positionals;
  // Tuning models first, then the families the scan is for and the clean models, then the rest.
  const rank = (c: ZooCard) => (roleOf(c) === 'tuning' ? 0 : ['all-to-all', 'source-specific', undefined].includes(c.attack?.family) ? 1 : 2);
  return zooCards()
    .filter((c) => DOMAINS.includes(c.domain ?? 'mnist') && c.head !== 'multi-label' && c.outputs > 2 && !unusable(c) && roleOf(c) !== 'validation')
    .sort((a, b) => rank(a) - rank(b))
    .map((c) => c.name);
}

async function measure(name: string): Promise<PairRecord> {
  const card = cardOf(name);
  const { model } = await loadModel(`zoo/${name}`);
  const [H, W, C] = model.inputShape;
  const n = H * W * C;
  const { x, count } = evalProbes(EVAL_ROWS, card.domain);
  const logits = tf.tidy(() => model.logits(tf.tensor4d(x, [count, H, W, C])));
  const predicted = (await presentClasses(logits, model.decision)).map((cs) => cs[0]);
  logits.dispose();
  const K = model.numClasses;
  const l1: PairRecord['l1'] = [];
  const asr: PairRecord['asr'] = [];
  const perSource: number[] = [];
  const t0 = performance.now();
  for (let s = 0; s < K; s++) {
    const mine = predicted.flatMap((c, i) => (c === s ? [i] : [])).slice(0, PER);
    perSource.push(mine.length);
    l1.push(Array(K).fill(null));
    asr.push(Array(K).fill(null));
    if (mine.length < MIN) continue;
    const sx = new Float32Array(mine.length * n);
    mine.forEach((i, j) => sx.set(x.subarray(i * n, (i + 1) * n), j * n));
    const probe: ImageSet = { x: sx, count: mine.length, height: H, width: W, channels: C, source: `source ${s}` };
    const classes = [...Array(K).keys()].filter((t) => t !== s);
    const result = await reconstructMasks(model, probe, { classes, maxImages: mine.length, seed: s, epochs: EPOCHS, batchSize: PER });
    for (const p of result.perClass) {
      if (p.screened) continue;
      l1[s][p.class] = p.maskL1;
      asr[s][p.class] = p.asr;
    }
  }
  return {
    ...identityOf(card),
    source: card.attack?.source ?? null,
    domain: card.domain ?? 'mnist',
    K,
    area: H * W,
    l1,
    asr,
    perSource,
    seconds: (performance.now() - t0) / 1000,
  };
}

if (!values.analyse) await measureShard(CACHE, candidates(), values.shard, measure, (name, r) => `${name} [${r.role}] ${r.family}: ${r.seconds.toFixed(1)} s`);

/**
 * Two-way median polish of ln L1 (row = source, column = target effects), the residuals left: a
 * pair that is cheap beyond what its source and its target explain has a negative residual.
 */
export function pairResiduals(l1: PairRecord['l1']): Array<Array<number | null>> {
  const K = l1.length;
  const r = l1.map((row) => row.map((v) => (v == null ? null : Math.log(Math.max(v, 1)))));
  for (let sweep = 0; sweep < 6; sweep++) {
    for (const row of r) {
      const m = median(row.filter((v): v is number => v != null));
      if (Number.isFinite(m)) row.forEach((v, t) => v != null && (row[t] = v - m));
    }
    for (let t = 0; t < K; t++) {
      const m = median(r.map((row) => row[t]).filter((v): v is number => v != null));
      if (Number.isFinite(m)) for (const row of r) if (row[t] != null) row[t]! -= m;
    }
  }
  return r;
}

/**
 * In MAD units of the residuals: the most negative residual (`z`), and the largest one-way gap
 * r[t][s] − r[s][t] (`oneWay`): natural confusions tend to run both ways (3 ↔ 5, 4 ↔ 9), a
 * backdoor's pair one way only. Each with the pair it belongs to.
 */
export function pairStatistics(l1: PairRecord['l1']): { z: number; from: number; to: number; oneWay: number; oneWayPair: [number, number] } {
  const r = pairResiduals(l1);
  const all = r.flat().filter((v): v is number => v != null);
  const mad = Math.max(1.4826 * median(all.map(Math.abs)), 1e-6);
  const best = { z: -Infinity, from: -1, to: -1, oneWay: -Infinity, oneWayPair: [-1, -1] as [number, number] };
  r.forEach((row, s) =>
    row.forEach((v, t) => {
      if (v == null) return;
      if (-v / mad > best.z) Object.assign(best, { z: -v / mad, from: s, to: t });
      const gap = ((r[t][s] ?? 0) - v) / mad;
      if (gap > best.oneWay) Object.assign(best, { oneWay: gap, oneWayPair: [s, t] });
    }),
  );
  return best;
}

if (values.analyse) {
  const records = readRecords<PairRecord>(CACHE);
  const scored = records.map((r) => ({ ...r, ...pairStatistics(r.l1) }));
  // Thresholds: above every clean tuning model's statistic (the tuning split alone decides them).
  const cleanTuning = scored.filter((r) => r.role === 'tuning' && r.family === 'clean');
  const zCut = Math.max(...cleanTuning.map((r) => r.z));
  const oneWayCut = Math.max(...cleanTuning.map((r) => r.oneWay));
  console.log(`thresholds (the largest of ${cleanTuning.length} clean tuning models): residual ${zCut.toFixed(2)}, one-way ${oneWayCut.toFixed(2)}`);
  const isTrue = (r: PairRecord, [s, t]: [number, number]) =>
    r.family === 'all-to-all' ? t === (s + 1) % r.K : r.family === 'source-specific' && s === r.source && t === r.target;
  for (const r of scored.sort((a, b) => a.role.localeCompare(b.role) || a.family.localeCompare(b.family) || b.oneWay - a.oneWay)) {
    const pair = ([s, t]: [number, number]) => `${s}→${t}${isTrue(r, [s, t]) ? ' (true)' : ''}`;
    console.log(
      `${r.role.padEnd(10)} ${r.family.padEnd(15)} ${r.name.padEnd(40)} residual ${r.z.toFixed(2).padStart(5)}${r.z > zCut ? '*' : ' '} ${pair([r.from, r.to]).padEnd(11)} one-way ${r.oneWay.toFixed(2).padStart(5)}${r.oneWay > oneWayCut ? '*' : ' '} ${pair(r.oneWayPair).padEnd(11)} ${r.seconds.toFixed(0)} s`,
    );
  }
  // Every all-to-all and source-specific model against the clean ones of each split: how the
  // statistics rank them, how many pass the tuning thresholds, and where the pair points.
  const backdoored = scored.filter((r) => r.family !== 'clean');
  for (const role of ['tuning', 'test'] as const) {
    const clean = scored.filter((r) => r.family === 'clean' && r.role === role);
    if (!clean.length) continue;
    const rank = (key: 'z' | 'oneWay') =>
      auroc(
        backdoored.map((r) => r[key]),
        clean.map((r) => r[key]),
      ).toFixed(3);
    console.log(
      `${backdoored.length} backdoored against ${clean.length} clean ${role} models: AUROC residual ${rank('z')}, one-way ${rank('oneWay')}; ` +
        `clean flagged ${clean.filter((r) => r.z > zCut).length} and ${clean.filter((r) => r.oneWay > oneWayCut).length}`,
    );
  }
  console.log(
    `backdoored flagged: residual ${backdoored.filter((r) => r.z > zCut).length}, one-way ${backdoored.filter((r) => r.oneWay > oneWayCut).length} of ${backdoored.length}; ` +
      `the true pair: residual ${backdoored.filter((r) => isTrue(r, [r.from, r.to])).length}, one-way ${backdoored.filter((r) => isTrue(r, r.oneWayPair)).length}`,
  );
}
