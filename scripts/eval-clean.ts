// `npm run eval:clean`: every cleaning method on the zoo's backdoored models (and, as a control,
// on clean ones): clean accuracy on 2,000 test digits and the true trigger's ASR before and
// after, the recovered trigger's ASR, runtime, and whether the re-scan passes. The defender's
// data: 600 labelled held-out digits (60 per class) to clean with, 256 held-out digits as probes.
//   tsx scripts/eval-clean.ts [--zoo zoo] [--methods auto,unlearn,onp,d3,par] [--only a,b] [--out eval-clean-results.json]
//   tsx scripts/eval-clean.ts --merge a.json,b.json [--out eval-clean-results.json]
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs';
import { AUTO_METHOD, autoClean, cleanWith, scanForTriggers, type CleanMethod } from '../src/clean/pipeline.js';
import { accuracyOf, perClassSubset } from '../src/clean/training.js';
import { recoveredTriggers } from '../src/clean/triggers.js';
import type { CleanLog } from '../src/clean/unlearn.js';
import { mnistSplit } from '../src/data/mnist.js';
import { sliceImages, type LabelledImageSet } from '../src/data/types.js';
import { selectBackend } from '../src/engine/backend.js';
import { planRows } from '../src/engine/memory.js';
import { MemoryLogger } from '../src/logger.js';
import type { LayersModelAdapter, ModelUnderTest } from '../src/model/adapter.js';
import { loadModel } from '../src/model/load.js';
import type { AttackSpec } from '../src/zoo/attacks.js';
import { attackSuccessRate } from '../src/zoo/train.js';
import type { ZooCard } from './zoo.js';

const { values } = parseArgs({
  options: {
    zoo: { type: 'string', default: 'zoo' },
    methods: { type: 'string', default: 'auto,unlearn,onp,d3,par' },
    only: { type: 'string' },
    out: { type: 'string', default: 'eval-clean-results.json' },
    // Summarise earlier runs' rows together (e.g. two processes, one per architecture).
    merge: { type: 'string' },
  },
});

/** The zoo's true trigger's ASR, measured as the zoo measures it (the adapter wraps its layers model). */
const trueAsr = (model: ModelUnderTest, test: LabelledImageSet, attack: AttackSpec) => attackSuccessRate((model as LayersModelAdapter).model, test, attack);

function report(rows: Row[], methods: string[]): void {
  const summary = Object.fromEntries(methods.map((m) => [m, summarise(rows.filter((r) => r.method === m))]));
  writeFileSync(values.out!, `${JSON.stringify({ summary, rows, tfjs: tf.version.tfjs }, null, 2)}\n`);
  console.log(table(summary));
  console.log(JSON.stringify(summary, null, 2));
}

async function main(): Promise<void> {
  if (values.merge) {
    const rows = values.merge.split(',').flatMap((f) => (JSON.parse(readFileSync(f, 'utf8')) as { rows: Row[] }).rows);
    report(rows, [...new Set(rows.map((r) => r.method))]);
    return;
  }
  await selectBackend({ choice: 'wasm', logger: new MemoryLogger() });
  const manifest = path.join(values.zoo!, 'manifest.json');
  if (!existsSync(manifest)) throw new Error(`${manifest} not found: run npm run zoo first`);
  const only = values.only?.split(',');
  const cards = (JSON.parse(readFileSync(manifest, 'utf8')) as { models: ZooCard[] }).models.filter((c) =>
    only ? only.includes(c.name) : c.attack || c.name.endsWith('-s1'),
  );
  const heldout = mnistSplit('heldout');
  const cleanSet = perClassSubset(heldout, 60);
  const probe = sliceImages(heldout, 0, 256);
  const test = mnistSplit('test');
  const methods = values.methods!.split(',') as CleanMethod[];
  const rows: Row[] = [];
  for (const card of cards) {
    // One scan per model: every method starts from the same recovered trigger.
    const first = await loadModel(path.join(values.zoo!, card.name));
    const plan = await planRows(first.model);
    const before = { accuracy: accuracyOf(first.model, test), asr: card.attack ? trueAsr(first.model, test, card.attack) : null };
    const found = scanForTriggers(first.model, probe, plan, 0);
    // A clean model has no suspected target; its smallest mask stands in ("cleaned by mistake").
    const target = found.decision.suspectedTarget ?? found.mask.suspectedTarget ?? found.dense.suspectedTarget;
    const triggers = recoveredTriggers(first.model.inputShape, found).filter((t) => t.target === target);
    first.model.dispose();
    for (const method of methods) {
      const { model } = await loadModel(path.join(values.zoo!, card.name));
      let log: CleanLog;
      let rescanned: ReturnType<typeof scanForTriggers> | undefined;
      try {
        // auto runs as the pipeline does: rounds of clean + re-scan. A clean model's verdict would
        // stop it at once, so controls get one forced round of its method ("cleaned by mistake").
        if (method === 'auto' && card.attack) ({ log, last: rescanned } = autoClean(model, cleanSet, probe, plan, found, 0));
        else log = cleanWith(method === 'auto' ? AUTO_METHOD : method, model, cleanSet, triggers, 0);
      } catch (err) {
        rows.push({ model: card.name, family: card.attack?.family ?? 'clean', method, skipped: err instanceof Error ? err.message : String(err), before });
        model.dispose();
        continue;
      }
      const after = { accuracy: accuracyOf(model, test), asr: card.attack ? trueAsr(model, test, card.attack) : null };
      const rescan = rescanned ?? scanForTriggers(model, probe, plan, 0);
      const row: Row = {
        model: card.name,
        family: card.attack?.family ?? 'clean',
        method,
        before,
        after,
        accuracyDropPoints: 100 * (before.accuracy - after.accuracy),
        verdictBefore: found.decision.verdict,
        verdictAfter: rescan.decision.verdict,
        seconds: log.seconds,
        steps: log.steps,
      };
      rows.push(row);
      console.log(
        `${card.name.padEnd(24)} ${method.padEnd(8)} acc ${(100 * before.accuracy).toFixed(2)} → ${(100 * after.accuracy).toFixed(2)}  ASR ${before.asr === null ? '  -  ' : (100 * before.asr).toFixed(1)} → ${after.asr === null ? '-' : (100 * after.asr).toFixed(1)}  verdict ${row.verdictBefore} → ${row.verdictAfter}  ${log.seconds.toFixed(1)}s`,
      );
      model.dispose();
    }
  }
  report(rows, methods);
}

interface Row {
  model: string;
  family: string;
  method: string;
  skipped?: string;
  before: { accuracy: number; asr: number | null };
  after?: { accuracy: number; asr: number | null };
  accuracyDropPoints?: number;
  verdictBefore?: string;
  verdictAfter?: string;
  seconds?: number;
  steps?: number;
}

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);
/**
 * value ≤ bar, up to float rounding: accuracies are counts over 2,000 digits, so a drop of 10
 * digits is 0.5 points, but 100 × (0.974 − 0.969) is 0.5000000000000004.
 */
const within = (value: number, bar: number) => value <= bar + 1e-9;

/** One method's figures: backdoored models (the bar) and clean controls. */
export function summarise(rows: Row[]) {
  const bad = rows.filter((r) => r.family !== 'clean' && !r.skipped);
  const ctrl = rows.filter((r) => r.family === 'clean' && !r.skipped);
  const perFamily = Object.fromEntries(
    [...new Set(bad.map((r) => r.family))].map((f) => {
      const fr = bad.filter((r) => r.family === f);
      return [f, { asrAfterPct: 100 * mean(fr.map((r) => r.after!.asr!)), dropPoints: mean(fr.map((r) => r.accuracyDropPoints!)) }];
    }),
  );
  const meanAsrAfterPct = 100 * mean(bad.map((r) => r.after!.asr!));
  const meanAccuracyDropPoints = mean(bad.map((r) => r.accuracyDropPoints!));
  const rescanPasses = bad.filter((r) => r.verdictAfter === 'clean').length;
  const cleanModelsDropPoints = ctrl.map((r) => r.accuracyDropPoints!);
  return {
    models: bad.length,
    skipped: rows.filter((r) => r.skipped).map((r) => `${r.model}: ${r.skipped}`),
    meanAsrAfterPct,
    meanAccuracyDropPoints,
    rescanPasses: `${rescanPasses}/${bad.length}`,
    perFamily,
    cleanModelsDropPoints,
    meanSeconds: mean(bad.map((r) => r.seconds!)),
    meetsBar:
      bad.length > 0 &&
      within(meanAsrAfterPct, 2) &&
      within(meanAccuracyDropPoints, 1) &&
      Object.values(perFamily).every((f) => within(f.asrAfterPct, 5) && within(f.dropPoints, 2)) &&
      rescanPasses === bad.length &&
      cleanModelsDropPoints.every((d) => within(d, 0.5)),
  };
}

/** The per-method table: the trade-offs side by side. */
function table(summary: Record<string, ReturnType<typeof summarise>>): string {
  const families = [...new Set(Object.values(summary).flatMap((s) => Object.keys(s.perFamily)))];
  const head = ['method', 'mean ASR %', 'mean drop pts', ...families.map((f) => `${f} ASR/drop`), 're-scan clean', 'controls drop', 's/model', 'bar'];
  const lines = Object.entries(summary).map(([m, s]) => [
    m,
    s.meanAsrAfterPct.toFixed(1),
    s.meanAccuracyDropPoints.toFixed(2),
    ...families.map((f) => (s.perFamily[f] ? `${s.perFamily[f].asrAfterPct.toFixed(1)} / ${s.perFamily[f].dropPoints.toFixed(2)}` : '-')),
    s.rescanPasses,
    s.cleanModelsDropPoints.map((d) => d.toFixed(2)).join(', ') || '-',
    s.meanSeconds.toFixed(0),
    s.meetsBar ? 'yes' : 'no',
  ]);
  return [head, head.map(() => '---'), ...lines].map((l) => `| ${l.join(' | ')} |`).join('\n');
}

main().catch((err) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
