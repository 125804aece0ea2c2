// Slow quality evaluations (`npm run eval:quality`, run by CI after `npm test`): each cleans a
// backdoored CLIP-style dual encoder end to end (test/fixtures/dual) and measures the result with
// the fixture's real trigger on the 2,000 test digits. test/cli/dual.test.ts scans the same fixtures.
import { mkdtempSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { readNpy } from '../../src/data/npy.js';
import { selectBackend } from '../../src/engine/backend.js';
import { MemoryLogger } from '../../src/logger.js';
import { loadModel } from '../../src/model/load.js';
import { makeTrigger } from '../../src/zoo/attacks.js';
import { accuracyAndAsr } from '../helpers/measure.js';
import { CLEAN_DATA, PROBE, REPO, runCli } from '../helpers/run.js';

const tmp = () => mkdtempSync(path.join(os.tmpdir(), 'bg-quality-'));
const pct = (v: number) => `${(100 * v).toFixed(1)} %`;
const dualFixture = (name: string) => path.join(REPO, 'test/fixtures/dual', name);
const dualFacts = (name: string) => JSON.parse(readFileSync(path.join(dualFixture(name), 'fixture.json'), 'utf8'));
const BACKDOORED = { prompt: 'cocoop-badclip-t7', contrastive: 'clip-blended-t3' };

/** The fixture's real trigger, applied to flat 28×28 images. */
function realTrigger(name: string): (x: Float32Array) => Float32Array {
  const attack = dualFacts(name).attack;
  if (attack.trigger) {
    const delta = readNpy(path.join(dualFixture(name), attack.trigger)).data as Float32Array;
    return (x) => x.map((v, i) => Math.min(1, Math.max(0, v + delta[i % 784])));
  }
  const t = makeTrigger({ family: attack.family, triggerSeed: 1 });
  return (x) => {
    const out = new Float32Array(x.length);
    for (let i = 0; i < x.length / 784; i++) out.set(t(x.subarray(i * 784, (i + 1) * 784), 28, 28, 1), i * 784);
    return out;
  };
}

beforeAll(async () => {
  await selectBackend({ choice: 'wasm', logger: new MemoryLogger() });
});

describe('cleaning dual encoders (CLI)', () => {
  // The class the gate's scan of the probes flags, passed on as the action hands it over (`--target`):
  // on the BadCLIP prompt learner the clean command's own scan of its labelled images is quiet.
  // Scanned once per fixture: both prompt-learner tests clean from the same flag.
  const scans = new Map<string, Promise<{ verdict: string; suspectedTarget: number | null }>>();
  const flaggedClass = async (name: string) => {
    if (!scans.has(name)) {
      const report = path.join(tmp(), 'scan-report.json');
      scans.set(
        name,
        runCli(['scan', dualFixture(name), '--data', PROBE, '--backend', 'wasm', '--report', report]).then(() => JSON.parse(readFileSync(report, 'utf8'))),
      );
    }
    const scan = await scans.get(name)!;
    expect(['suspicious', 'backdoored']).toContain(scan.verdict);
    return scan.suspectedTarget!;
  };
  const cleanDual = async (name: string, method: string, flagged?: number) => {
    const out = path.join(tmp(), 'cleaned');
    const report = path.join(tmp(), 'clean-report.json');
    const flags = ['--data', CLEAN_DATA, '--out', out, '--method', method, '--backend', 'wasm', '--report', report];
    const r = await runCli(['clean', dualFixture(name), ...flags, ...(flagged === undefined ? [] : ['--target', String(flagged)])]);
    expect(r.code, r.stderr).toBe(0);
    const json = JSON.parse(readFileSync(report, 'utf8'));
    const target = dualFacts(name).attack.target;
    const trigger = realTrigger(name);
    const before = accuracyAndAsr((await loadModel(dualFixture(name))).model, trigger, target);
    const after = accuracyAndAsr((await loadModel(out)).model, trigger, target);
    console.log(
      `${name} cleaned (${json.log.method}${json.log.options.method ? ` → ${json.log.options.method}` : ''}, ${json.log.seconds.toFixed(0)} s): real-trigger ASR ${pct(before.asr)} → ${pct(after.asr)}, zero-shot accuracy ${pct(before.accuracy)} → ${pct(after.accuracy)}, re-scan ${json.verdictAfter}`,
    );
    return { json, before, after, out };
  };

  it('repairs the prompt learner as CLIP-Inspector does (unlearn: its recovered trigger, in the prompt alone), encoders untouched', async () => {
    const { json, before, after, out } = await cleanDual(BACKDOORED.prompt, 'unlearn', await flaggedClass(BACKDOORED.prompt));
    expect(json.log.method).toBe('unlearn');
    expect(before.asr).toBeGreaterThan(0.7);
    expect(after.asr).toBeLessThan(0.1);
    expect(before.accuracy - after.accuracy).toBeLessThanOrEqual(0.01);
    // Only the prompt learner was trained: both encoders' weights are the input's, byte for byte.
    for (const shard of ['image/group1-shard1of1.bin', 'text/group1-shard1of1.bin']) {
      expect(readFileSync(path.join(out, shard)).equals(readFileSync(path.join(dualFixture(BACKDOORED.prompt), shard)))).toBe(true);
    }
  }, 600_000);

  it('auto follows the prompt repair with unlearning in the image tower; the text tower stays untouched', async () => {
    const { json, before, after, out } = await cleanDual(BACKDOORED.prompt, 'auto', await flaggedClass(BACKDOORED.prompt));
    expect(json.log.options.method).toBe('unlearn, then unlearn (image tower)');
    expect(before.asr).toBeGreaterThan(0.7);
    expect(after.asr).toBeLessThan(0.05);
    expect(before.accuracy - after.accuracy).toBeLessThanOrEqual(0.01);
    expect(json.verdictAfter).toBe('clean');
    const same = (shard: string) => readFileSync(path.join(out, shard)).equals(readFileSync(path.join(dualFixture(BACKDOORED.prompt), shard)));
    expect(same('text/group1-shard1of1.bin')).toBe(true);
    expect(same('image/group1-shard1of1.bin')).toBe(false);
  }, 600_000);

  it('removes contrastive poisoning (auto: the recovered trigger unlearned in both towers, then PAR, τ = 2.15)', async () => {
    const { json, before, after } = await cleanDual(BACKDOORED.contrastive, 'auto');
    expect(json.log.options.method).toBe('unlearn, then par');
    expect(before.asr).toBeGreaterThan(0.9);
    expect(after.asr).toBeLessThan(0.05);
    expect(before.accuracy - after.accuracy).toBeLessThanOrEqual(0.02);
  }, 600_000);
});
