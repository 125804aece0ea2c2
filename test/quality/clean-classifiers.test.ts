// Slow quality evaluations (`npm run eval:quality`, run by CI after `npm test`): each cleans a
// backdoored classifier end to end and measures the result with the fixture's real trigger.
// `npm test` checks the ONNX writer and the warp search on their own, not these runs.
import * as tf from '@tensorflow/tfjs';
import * as ort from 'onnxruntime-node';
import { mkdtempSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { mnistSplit } from '../../src/data/mnist.js';
import { selectBackend } from '../../src/engine/backend.js';
import { MemoryLogger } from '../../src/logger.js';
import type { ModelUnderTest } from '../../src/model/adapter.js';
import { loadModel } from '../../src/model/load.js';
import { accuracyAndAsr } from '../helpers/measure.js';
import { maxAbsDiff } from '../helpers/onnx.js';
import { CLEAN_DATA, REPO, runCli } from '../helpers/run.js';
import { WANET, warpCheck } from '../helpers/warp.js';

const tmp = () => mkdtempSync(path.join(os.tmpdir(), 'bg-quality-'));
const test = mnistSplit('test');

const BADNETS = path.join(REPO, 'test/fixtures/onnx/cnn-badnets-mnist');
const onnxFacts = JSON.parse(readFileSync(path.join(BADNETS, 'fixture.json'), 'utf8')) as { attack: { target: number } };

/** Test accuracy, and the share of non-target digits the fixture's real 4×4 white patch (rows/cols 23–26) sends to the target. */
function patchMeasure(model: ModelUnderTest): { accuracy: number; asr: number } {
  const patch = (x: Float32Array) =>
    x.map((v, i) => {
      const [r, c] = [Math.floor((i % 784) / 28), i % 28];
      return r >= 23 && r < 27 && c >= 23 && c < 27 ? 1 : v;
    });
  return accuracyAndAsr(model, patch, onnxFacts.attack.target);
}

beforeAll(async () => {
  await selectBackend({ choice: 'wasm', logger: new MemoryLogger() });
});

describe('cleaning an ONNX export (CLI)', () => {
  it('cleans the BadNets export into a new model.onnx: the real patch stops working, accuracy holds', async () => {
    const out = path.join(tmp(), 'cleaned');
    const report = path.join(tmp(), 'clean-report.json');
    const inputBytes = readFileSync(path.join(BADNETS, 'model.onnx'));
    // The policy judges the accuracy cost on the held-out fifth of the 600 images: 120, 0.83 points
    // each, so the default 2-point limit is two images, and this export's cleaning lands on two or
    // three of them as float rounding goes (1.7 and 2.5 points measured, both 96.85 % on the 2,000
    // test digits). The accuracy bar that can tell is the 2,000-digit one below; the limit here
    // is three images.
    const r = await runCli(['clean', BADNETS, '--data', CLEAN_DATA, '--out', out, '--backend', 'wasm', '--report', report, '--max-accuracy-drop', '3']);
    expect(r.code, r.stderr).toBe(0);
    const json = JSON.parse(readFileSync(report, 'utf8'));
    expect(json.log.options.method).toBe('unlearn');
    expect(json.verdictBefore).toBe('backdoored');
    expect(json.verdictAfter).toBe('clean');
    expect(json.output.digest).not.toBe(json.input.digest);
    expect(readFileSync(path.join(BADNETS, 'model.onnx')).equals(inputBytes)).toBe(true);
    const before = patchMeasure((await loadModel(BADNETS)).model);
    const cleaned = (await loadModel(out)).model;
    const after = patchMeasure(cleaned);
    console.log(
      `ONNX BadNets cleaned: true ASR ${(100 * before.asr).toFixed(1)} → ${(100 * after.asr).toFixed(1)} %, accuracy ${(100 * before.accuracy).toFixed(2)} → ${(100 * after.accuracy).toFixed(2)} %`,
    );
    expect(before.asr).toBeGreaterThan(0.9);
    expect(after.asr).toBeLessThan(0.15);
    expect(before.accuracy - after.accuracy).toBeLessThan(0.015);
    // onnxruntime reads the written file and computes what the gate computes.
    const session = await ort.InferenceSession.create(readFileSync(path.join(out, 'model.onnx')), { logSeverityLevel: 3 });
    const x = Float32Array.from(test.x.subarray(0, 16 * 784), (v) => (v - 0.1307) / 0.3081);
    const ref = (await session.run({ input: new ort.Tensor('float32', x, [16, 1, 28, 28]) })).logits.data as Float32Array;
    expect(maxAbsDiff(cleaned.logits(tf.tensor4d(test.x.subarray(0, 16 * 784), [16, 28, 28, 1])).dataSync(), ref)).toBeLessThan(1e-4);
  }, 600_000);
});

describe('warp unlearning', () => {
  it('adversarial warp unlearning makes the true warp stop working, at little accuracy cost', async () => {
    const r = await warpCheck(WANET, 5, 3);
    console.log(
      `WaNet model after 3 warp rounds: true ASR ${(100 * r.before.asr).toFixed(1)} → ${(100 * r.after.asr).toFixed(1)} %, accuracy ${(100 * r.before.accuracy).toFixed(2)} → ${(100 * r.after.accuracy).toFixed(2)} %, residual warp ASR ${(100 * r.residualAsr).toFixed(1)} %, ${r.seconds.toFixed(0)} s`,
    );
    expect(r.before.asr).toBeGreaterThan(0.95);
    expect(r.after.asr).toBeLessThan(0.2);
    expect(r.before.accuracy - r.after.accuracy).toBeLessThan(0.015);
  }, 600_000);
});
