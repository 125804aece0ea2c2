// `npm run eval:clean`: every cleaning method on the zoo's backdoored models (and, as a control,
// on clean ones): clean accuracy on 2,000 test digits and the true trigger's ASR before and
// after, the recovered trigger's ASR, runtime, and whether the re-scan passes. The defender's
// data: 600 labelled held-out digits (60 per class) to clean with, 256 held-out digits as probes.
//   tsx scripts/eval-clean.ts [--zoo zoo] [--methods unlearn,d3] [--only a,b] [--out eval-clean-results.json]
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs';
import { d3 } from '../src/clean/d3.js';
import { scanForTriggers } from '../src/clean/pipeline.js';
import { accuracyOf, perClassSubset } from '../src/clean/training.js';
import { recoveredTriggers } from '../src/clean/triggers.js';
import { unlearnTriggers, type CleanLog } from '../src/clean/unlearn.js';
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
    methods: { type: 'string', default: 'unlearn,d3' },
    only: { type: 'string' },
    out: { type: 'string', default: 'eval-clean-results.json' },
  },
});

/** The zoo's true trigger's ASR, measured as the zoo measures it (the adapter wraps its layers model). */
const trueAsr = (model: ModelUnderTest, test: LabelledImageSet, attack: AttackSpec) => attackSuccessRate((model as LayersModelAdapter).model, test, attack);

async function main(): Promise<void> {
  await selectBackend({ choice: 'wasm', logger: new MemoryLogger() });
  const manifest = path.join(values.zoo!, 'manifest.json');
  if (!existsSync(manifest)) throw new Error(`${manifest} not found: run npm run zoo first`);
  const only = values.only?.split(',');
  const cards = (JSON.parse(readFileSync(manifest, 'utf8')) as { models: ZooCard[] }).models.filter((c) => (only ? only.includes(c.name) : c.attack || c.name.endsWith('-s1')));
  const heldout = mnistSplit('heldout');
  const cleanSet = perClassSubset(heldout, 60);
  const probe = sliceImages(heldout, 0, 256);
  const test = mnistSplit('test');
  const methods = values.methods!.split(',');
  const rows: Array<Record<string, unknown>> = [];
  for (const card of cards) {
    for (const method of methods) {
      const { model } = await loadModel(path.join(values.zoo!, card.name));
      const before = { accuracy: accuracyOf(model, test), asr: card.attack ? trueAsr(model, test, card.attack) : null };
      const plan = await planRows(model);
      const found = scanForTriggers(model, probe, plan, 0);
      const triggers = recoveredTriggers(model.inputShape, found);
      let log: CleanLog;
      if (method === 'unlearn') {
        if (!triggers.length) {
          rows.push({ model: card.name, family: card.attack?.family ?? 'clean', method, skipped: 'no trigger recovered: nothing to unlearn', before });
          model.dispose();
          continue;
        }
        log = unlearnTriggers(model, cleanSet, triggers);
      } else if (method === 'd3') log = d3(model, cleanSet);
      else throw new Error(`unknown method ${method}`);
      const after = { accuracy: accuracyOf(model, test), asr: card.attack ? trueAsr(model, test, card.attack) : null };
      const rescan = scanForTriggers(model, probe, plan, 0);
      const row = {
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
      console.log(`${card.name.padEnd(24)} ${method.padEnd(8)} acc ${(100 * before.accuracy).toFixed(2)} → ${(100 * after.accuracy).toFixed(2)}  ASR ${before.asr === null ? '  -  ' : (100 * before.asr).toFixed(1)} → ${after.asr === null ? '-' : (100 * after.asr).toFixed(1)}  verdict ${row.verdictBefore} → ${row.verdictAfter}  ${log.seconds.toFixed(1)}s`);
      model.dispose();
    }
  }
  const summary: Record<string, unknown> = {};
  for (const method of methods) {
    const bad = rows.filter((r) => r.method === method && r.family !== 'clean' && !r.skipped) as Array<{ after: { asr: number }; accuracyDropPoints: number; verdictAfter: string; family: string; seconds: number }>;
    const ctrl = rows.filter((r) => r.method === method && r.family === 'clean' && !r.skipped) as Array<{ accuracyDropPoints: number }>;
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);
    summary[method] = {
      models: bad.length,
      meanAsrAfterPct: 100 * mean(bad.map((r) => r.after.asr)),
      meanAccuracyDropPoints: mean(bad.map((r) => r.accuracyDropPoints)),
      rescanPasses: `${bad.filter((r) => r.verdictAfter === 'clean').length}/${bad.length}`,
      perFamily: Object.fromEntries([...new Set(bad.map((r) => r.family))].map((f) => {
        const fr = bad.filter((r) => r.family === f);
        return [f, { asrAfterPct: 100 * mean(fr.map((r) => r.after.asr)), dropPoints: mean(fr.map((r) => r.accuracyDropPoints)) }];
      })),
      cleanModelsDropPoints: ctrl.map((r) => r.accuracyDropPoints),
      meanSeconds: mean(bad.map((r) => r.seconds)),
    };
  }
  writeFileSync(values.out!, `${JSON.stringify({ summary, rows, tfjs: tf.version.tfjs }, null, 2)}\n`);
  console.log(JSON.stringify(summary, null, 2));
}

main().catch((err) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
