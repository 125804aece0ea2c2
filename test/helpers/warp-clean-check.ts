// Child-process check for warp cleaning (minutes of synchronous training would block the test
// runner's worker): inverts warps on a model, optionally runs adversarial warp unlearning, and
// prints one JSON line with the measured figures.
//   node --import tsx test/helpers/warp-clean-check.ts <model dir> <target> <rounds (0: inversion only)> [max shift, px]
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { accuracyOf, perClassSubset } from '../../src/clean/training.js';
import { invertWarp, unlearnWarps } from '../../src/clean/warp.js';
import { mnistSplit } from '../../src/data/mnist.js';
import { selectBackend } from '../../src/engine/backend.js';
import { MemoryLogger } from '../../src/logger.js';
import { loadModel } from '../../src/model/load.js';
import { attackSuccessRate } from '../../src/zoo/train.js';

const [dir, targetArg, roundsArg, shiftArg] = process.argv.slice(2);
await selectBackend({ choice: 'wasm', logger: new MemoryLogger() });
const { model } = await loadModel(dir);
const card = JSON.parse(readFileSync(path.join(dir, 'zoo-card.json'), 'utf8'));
const target = Number(targetArg);
const clean = perClassSubset(mnistSplit('heldout'), 60);
const test = mnistSplit('test');
const layers = model.editableLayers!.model;
const trueAsr = () => (card.attack ? attackSuccessRate(layers, test, card.attack) : null);
const before = { accuracy: accuracyOf(model, test), asr: trueAsr() };
const warps = [0, 1].map((seed) => invertWarp(model, clean, target, { seed, ...(shiftArg ? { maxShift: Number(shiftArg) } : {}) }));
const result: Record<string, unknown> = { before, warpAsr: warps.map((w) => w.asr), maxShift: warps.map((w) => w.maxShift) };
if (Number(roundsArg) > 0) {
  const log = await unlearnWarps(model, clean, target, warps, { rounds: Number(roundsArg) });
  Object.assign(result, {
    after: { accuracy: accuracyOf(model, test), asr: trueAsr() },
    residualAsr: log.residualAsr,
    rounds: log.details?.rounds,
    seconds: log.seconds,
  });
}
console.log(JSON.stringify(result));
