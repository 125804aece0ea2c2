// Experiment behind src/clean/warp.ts (issue 4's WaNet gap): for each zoo model, the ASR of warps
// inverted at its target (class 0 for clean models) on the bundled 600 clean digits, and with
// ROUNDS=n > 0 the true trigger's ASR and accuracy after at most n rounds of adversarial warp
// unlearning (STOP: the fresh-warp ASR that ends it, WARPS: fresh warps per round). SHIFT sets
// the warp's largest displacement (px); CLASSES=all inverts a warp at every class instead.
//   tsx scripts/experiments/warp-inversion.ts cnn-wanet-t0 bn-cnn-wanet-t5 cnn-clean-s1
import { readFileSync } from 'node:fs';
import { accuracyOf, perClassSubset } from '../../src/clean/training.js';
import { invertWarp, unlearnWarps } from '../../src/clean/warp.js';
import { mnistSplit } from '../../src/data/mnist.js';
import { selectBackend } from '../../src/engine/backend.js';
import { MemoryLogger } from '../../src/logger.js';
import { loadModel } from '../../src/model/load.js';
import { attackSuccessRate } from '../../src/zoo/train.js';

await selectBackend({ choice: 'wasm', logger: new MemoryLogger() });
const clean = perClassSubset(mnistSplit('heldout'), 60);
const test = mnistSplit('test');
const pct = (v: number) => `${(100 * v).toFixed(1)} %`;
const shift = process.env.SHIFT ? { maxShift: Number(process.env.SHIFT) } : {};

for (const name of process.argv.slice(2)) {
  const card = JSON.parse(readFileSync(`zoo/${name}/zoo-card.json`, 'utf8'));
  const target: number = card.attack?.target ?? 0;
  const { model } = await loadModel(`zoo/${name}`);
  const layers = model.editableLayers!.model;
  if (process.env.CLASSES === 'all') {
    const asr = Array.from({ length: model.numClasses }, (_, c) => Math.max(...[0, 1].map((seed) => invertWarp(model, clean, c, { seed, ...shift }).asr)));
    console.log(`${name}: warp ASR by class (best of 2): ${asr.map(pct).join(', ')}`);
    continue;
  }
  const t0 = performance.now();
  const warps = [0, 1].map((seed) => invertWarp(model, clean, target, { seed, ...shift }));
  console.log(
    `${name}: class ${target}: warp ASR ${warps.map((w) => pct(w.asr)).join(' / ')} (max shift ${warps.map((w) => w.maxShift.toFixed(2)).join(' / ')} px) in ${((performance.now() - t0) / 1000).toFixed(1)} s`,
  );
  const rounds = Number(process.env.ROUNDS ?? 0);
  if (!rounds || !card.attack) continue;
  const before = { acc: accuracyOf(model, test), asr: attackSuccessRate(layers, test, card.attack) };
  const log = await unlearnWarps(model, clean, target, warps, {
    rounds,
    stopAsr: Number(process.env.STOP ?? 0.2),
    warpsPerRound: Number(process.env.WARPS ?? 2),
  });
  const trace = log.details.rounds.map((r) => r.freshAsr.map(pct).join('/')).join(', ');
  console.log(`  fresh warps per round: ${trace}`);
  console.log(
    `  ${log.details.rounds.length} rounds: true ASR ${pct(before.asr)} → ${pct(attackSuccessRate(layers, test, card.attack))}, accuracy ${pct(before.acc)} → ${pct(accuracyOf(model, test))}, residual warp ASR ${pct(log.residualAsr)}, ${log.seconds.toFixed(0)} s`,
  );
}
