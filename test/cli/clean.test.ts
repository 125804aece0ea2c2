// `backdoor-gate clean` end to end on committed examples (a backdoored one, and a clean one
// forced), with the bundled 600 labelled digits (60 per class) as the user's small clean set;
// and cleaning with what a scan of probe data found passed on, as the action does.
import { existsSync, mkdirSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { perClassSubset, predict } from '../../src/clean/training.js';
import { writeNpy } from '../../src/data/npy.js';
import { mnistSplit } from '../../src/data/mnist.js';
import { loadLabelledImages } from '../../src/data/sources.js';
import { sliceImages } from '../../src/data/types.js';
import { selectBackend } from '../../src/engine/backend.js';
import { MemoryLogger } from '../../src/logger.js';
import { loadModel } from '../../src/model/load.js';
import { applyTrigger, makeTrigger, type AttackSpec } from '../../src/zoo/attacks.js';
import { accuracyAndAsr, zeroUnits } from '../helpers/measure.js';
import { CLEAN_DATA, EXAMPLES, PROBE, runCli } from '../helpers/run.js';

const tmp = () => mkdtempSync(path.join(os.tmpdir(), 'bg-clean-'));

beforeAll(async () => {
  await selectBackend({ choice: 'wasm', logger: new MemoryLogger() });
});

describe('backdoor-gate clean', () => {
  it('auto cleans (ONP-style rounds), re-scans clean, and writes a new model beside the input', async () => {
    const dir = tmp();
    const out = path.join(dir, 'cleaned');
    const reportPath = path.join(dir, 'clean.json');
    const inputMtime = statSync(path.join(EXAMPLES.blendedCnn, 'model.json')).mtimeMs;
    const result = await runCli(['clean', EXAMPLES.blendedCnn, '--data', CLEAN_DATA, '--out', out, '--report', reportPath]);
    const report = JSON.parse(readFileSync(reportPath, 'utf8'));
    expect(report.method).toBe('auto');
    // Round by round: what ONP-style pruning did (its mask may keep every neuron when pruning
    // does not beat the recovery alone on the reward) and the re-scan verdict after it.
    expect(report.log.details.rounds.length).toBeGreaterThan(0);
    expect(report.log.details.rounds[0].details.of).toBe(16 + 32 + 64);
    expect(report.log.details.rounds.at(-1).verdictAfter).toBe('clean');
    // What was done, a sentence a step, as the job summary lists it: the warp check, each round
    // with its re-scan, the finishing round, the trial fine-tune with the ASRs it measured. The
    // neurons the rounds say they pruned are the units the written model has switched off,
    // counted from its weight files.
    const said: string[] = report.steps;
    const rounds = report.log.details.rounds.length;
    expect(said[0]).toMatch(/^warp check: fresh warps of at most 1 px sent [\d.]+ % of clean images to class 4 \(under 90 %: not a warp backdoor\)$/);
    expect(said.slice(1, 1 + rounds).map((s) => s.replace(/ \(.*\)/, ''))).toEqual(
      report.log.details.rounds.map(
        (r: { target: number; details: { pruned: number }; verdictAfter: string }, i: number) =>
          `round ${i + 1}: ONP-style pruning at class ${r.target}: pruned ${r.details.pruned} of 112 neurons; then 10 epochs of trigger unlearning${r.details.pruned ? ' with the pruned neurons held at zero' : ''}; the re-scan: ${r.verdictAfter}`,
      ),
    );
    expect(said[1 + rounds]).toMatch(/^finishing round at class 4: trigger unlearning: 5 epochs/);
    const trial = report.retuneTrial;
    expect(said[2 + rounds]).toBe(
      `trial fine-tune of a copy: the recovered trigger's ASR on ${trial.images} images it was not cleaned with ${(100 * trial.asrCleaned).toFixed(1)} → ${(100 * trial.asrRetuned).toFixed(1)} %: ${trial.relearned ? 'it came back' : 'it did not come back'}`,
    );
    expect(said).toHaveLength(trial.sau ? 5 + rounds : 3 + rounds);
    const pruned = said.slice(1, 1 + rounds).reduce((sum, s) => sum + Number(/pruned (\d+) of/.exec(s)![1]), 0);
    expect(zeroUnits(out)).toBe(pruned);
    for (const step of said) expect(result.stdout + result.stderr).toContain(step.split(';')[0]);
    // Every step's time, in order: the warp check (no warp found), rounds with their scans, the
    // judging scan of the held-out fifth; together they account for auto's time.
    const phases: Array<{ phase: string; seconds: number }> = report.log.details.phases;
    expect(phases.map((p) => p.phase)).toEqual([
      'warp check',
      ...report.log.details.rounds.flatMap((_: unknown, i: number) => [`round ${i + 1}`, 'scan']),
      'finishing round',
      'judging scan',
    ]);
    const timed = phases.reduce((sum, p) => sum + p.seconds, 0);
    expect(timed).toBeLessThanOrEqual(report.log.seconds);
    expect(timed).toBeGreaterThan(0.9 * report.log.seconds);
    expect(result.stdout + result.stderr).toContain(`auto took ${report.log.seconds.toFixed(0)} s: warp check `);
    // The command's own steps: auto's time is inside its cleaning step, and the steps make the total.
    expect(report.timings.map((t: { phase: string }) => t.phase)).toEqual(['scan', 'cleaning and re-scan', 'trial fine-tune', 'measure and write']);
    expect(report.timings[1].seconds).toBeGreaterThan(report.log.seconds);
    const steps = report.timings.reduce((sum: number, t: { seconds: number }) => sum + t.seconds, 0);
    expect(steps).toBeLessThanOrEqual(report.totalSeconds);
    expect(steps).toBeGreaterThan(0.9 * report.totalSeconds);
    expect(report.verdictBefore).toBe('backdoored');
    expect(report.data).toMatchObject({ cleanWith: 480, heldOut: 120 });
    // Measured on the held-out fifth: the recovered trigger stops working, accuracy stays.
    expect(report.before.recoveredTriggerAsr).toBeGreaterThan(0.9);
    expect(report.after.recoveredTriggerAsr).toBeLessThan(0.25);
    expect(report.after.heldOutAccuracy).toBeGreaterThan(report.before.heldOutAccuracy - 0.03);
    expect(report.verdictAfter).toBe('clean');
    // Judged on the held-out fifth alone: a re-scan of the images it was cleaned on would flatter it.
    expect(report.rescannedImages).toBe(120);
    expect(result.code).toBe(0);
    expect(report.output.digest).toMatch(/^sha256:/);
    expect(report.output.digest).not.toBe(report.input.digest);
    expect(existsSync(path.join(out, 'gate.json'))).toBe(true);
    // The cleaned model scans clean with the scan command too, and the input was not touched.
    const rescan = await runCli(['scan', out, '--data', PROBE, '--scans', 'inversion', '--report', path.join(dir, 'rescan.json')]);
    expect(rescan.code).toBe(0);
    expect(statSync(path.join(EXAMPLES.blendedCnn, 'model.json')).mtimeMs).toBe(inputMtime);
    // Never over an existing model: the same --out again fails before any work and leaves it be.
    const cleaned = readFileSync(path.join(out, 'model.json'));
    const again = await runCli(['clean', EXAMPLES.blendedCnn, '--data', CLEAN_DATA, '--out', out, '--report', path.join(dir, 'again.json')]);
    expect(again.code).toBe(2);
    expect(again.stdout).toContain(`${out}: already exists and is not an empty directory; refusing to write the cleaned model over it`);
    expect(readFileSync(path.join(out, 'model.json')).equals(cleaned)).toBe(true);
  }, 600_000);

  it('leaves a model the scan calls clean as it is (auto), writing nothing', async () => {
    const dir = tmp();
    const out = path.join(dir, 'cleaned');
    const result = await runCli(['clean', EXAMPLES.cleanCnn, '--data', PROBE, '--out', out, '--report', path.join(dir, 'r.json')]);
    expect(result.code).toBe(1);
    expect(result.stdout).toMatch(/not cleaned \(the scan found no backdoor \(verdict clean\)/);
    expect(existsSync(out)).toBe(false);
    const report = JSON.parse(readFileSync(path.join(dir, 'r.json'), 'utf8'));
    expect(report.verdictBefore).toBe('clean');
    expect(report.after).toBeUndefined();
  }, 300_000);

  it('with --force cleans a model the scan passed without a trigger (shared adversarial unlearning), and costs it little accuracy', async () => {
    const dir = tmp();
    const out = path.join(dir, 'cleaned');
    const result = await runCli(['clean', EXAMPLES.cleanCnn, '--data', CLEAN_DATA, '--out', out, '--force', '--report', path.join(dir, 'r.json')]);
    const report = JSON.parse(readFileSync(path.join(dir, 'r.json'), 'utf8'));
    expect(report.verdictBefore).toBe('clean');
    expect(report.forcedTarget).toBeGreaterThanOrEqual(0);
    expect(report.log.method).toBe('sau');
    // The trial fine-tune measures a recovered trigger that worked; sau ran because none did.
    expect(report.retuneTrial).toBeUndefined();
    // One step, said in the log too: SAU with its ε, and its epochs or what its accuracy guard kept.
    expect(report.steps).toEqual([report.log.summary]);
    expect(report.log.summary).toMatch(/^shared adversarial unlearning \(ℓ∞ ε 0\.1\): (10 epochs|after 10 epochs the cleaning set's accuracy)/);
    expect(result.stdout + result.stderr).toContain(`clean: ${report.log.summary}`);
    expect(report.output.digest).not.toBe(report.input.digest);
    // Measured on the 2,000 MNIST test digits, which neither the model nor the cleaning saw.
    const none = (x: Float32Array) => x;
    const before = accuracyAndAsr((await loadModel(EXAMPLES.cleanCnn)).model, none, 0).accuracy;
    const after = accuracyAndAsr((await loadModel(out)).model, none, 0).accuracy;
    console.log(`--force (sau) on ${EXAMPLES.cleanCnn}: test accuracy ${(100 * before).toFixed(2)} → ${(100 * after).toFixed(2)} %`);
    expect(before - after).toBeLessThanOrEqual(0.005);
    expect(result.code).toBe(report.verdictAfter === 'clean' ? 0 : 1);
  }, 600_000);

  it('judges the input and the cleaned copy by the policy file: a stricter one fails what the default passes, a looser one cleans nothing', async () => {
    const dir = tmp();
    const policy = (name: string, suspicious: number, backdoored: number) => {
      const file = path.join(dir, `${name}.yml`);
      const level = `{ suspicious: ${suspicious}, backdoored: ${backdoored} }`;
      writeFileSync(file, `thresholds:\n  inversion: ${level}\n  mask-inversion: ${level}\n`);
      return file;
    };
    const clean = async (name: string, extra: string[], method = 'unlearn') => {
      const report = path.join(dir, `${name}.json`);
      const r = await runCli([
        'clean',
        EXAMPLES.blendedCnn,
        '--data',
        CLEAN_DATA,
        '--out',
        path.join(dir, name),
        '--method',
        method,
        '--report',
        report,
        ...extra,
      ]);
      return { code: r.code, json: JSON.parse(readFileSync(report, 'utf8')) };
    };
    // The default thresholds: the backdoor is flagged, and one round of unlearning passes the re-scan.
    const byDefault = await clean('default', []);
    expect(byDefault.json).toMatchObject({ verdictBefore: 'backdoored', verdictAfter: 'clean' });
    expect(byDefault.code).toBe(0);
    // Thresholds of 0: any class standing out at all is suspicious, so the same cleaned model fails.
    const strict = await clean('strict', ['--policy', policy('strict', 0, 100)]);
    expect(strict.json.verdictAfter).toBe('suspicious');
    expect(strict.json.output.digest).toBe(byDefault.json.output.digest);
    expect(strict.code).toBe(1);
    // Thresholds no statistic reaches: the input is not flagged (unassessed, as even a typical
    // backdoor would not reach them), so auto cleans nothing and writes nothing.
    const loose = await clean('loose', ['--policy', policy('loose', 99, 100)], 'auto');
    expect(['clean', 'unassessed']).toContain(loose.json.verdictBefore);
    expect(loose.json.skipped).toMatch(/the scan found no backdoor/);
    expect(existsSync(path.join(dir, 'loose'))).toBe(false);
    expect(loose.code).toBe(1);
  }, 900_000);

  it('fails a cleaned model that loses more accuracy than the policy allows, however clean its re-scan (the flag over the policy file)', async () => {
    const dir = tmp();
    const out = path.join(dir, 'cleaned');
    const policy = path.join(dir, 'policy.yml');
    writeFileSync(policy, 'cleaning:\n  max-accuracy-drop: 50\n');
    const reportPath = path.join(dir, 'r.json');
    // d3 removes this blended backdoor and costs accuracy doing it.
    const result = await runCli([
      'clean',
      EXAMPLES.blendedCnn,
      '--data',
      CLEAN_DATA,
      '--out',
      out,
      '--method',
      'd3',
      '--policy',
      policy,
      '--max-accuracy-drop',
      '2',
      '--report',
      reportPath,
    ]);
    const report = JSON.parse(readFileSync(reportPath, 'utf8'));
    expect(report).toMatchObject({ verdictBefore: 'backdoored', verdictAfter: 'clean' });
    // The cost is the held-out fifth's accuracy before minus after, against the flag's 2, not the file's 50.
    const points = 100 * (report.before.heldOutAccuracy - report.after.heldOutAccuracy);
    expect(report.accuracyCost).toMatchObject({ allowedPoints: 2, heldOutImages: 120, withinPolicy: false });
    expect(report.accuracyCost.points).toBeCloseTo(points, 6);
    expect(points).toBeGreaterThan(2);
    // The 2,000 test digits, which neither the cleaning nor the held-out fifth holds, confirm the loss is real.
    const none = (x: Float32Array) => x;
    const before = accuracyAndAsr((await loadModel(EXAMPLES.blendedCnn)).model, none, 0).accuracy;
    const after = accuracyAndAsr((await loadModel(out)).model, none, 0).accuracy;
    console.log(
      `d3 on ${EXAMPLES.blendedCnn}: held-out cost ${points.toFixed(1)} points; test accuracy ${(100 * before).toFixed(2)} → ${(100 * after).toFixed(2)} %`,
    );
    expect(before - after).toBeGreaterThan(0.02);
    // The paired held-out images make the cost; their 95 % interval covers what the test digits measure.
    const { worse, better } = report.accuracyCost.changed;
    expect((100 * (worse - better)) / 120).toBeCloseTo(points, 6);
    const [lo, hi] = report.accuracyCost.interval95;
    console.log(`held-out: ${worse} images right → wrong, ${better} wrong → right; 95 % interval ${lo.toFixed(1)} to ${hi.toFixed(1)} points`);
    expect(lo).toBeLessThan(100 * (before - after));
    expect(hi).toBeGreaterThan(100 * (before - after));
    expect(result.stdout).toContain(
      `does not pass: it loses ${points.toFixed(1)} points of held-out accuracy, more than the policy's cleaning.max-accuracy-drop (2)`,
    );
    expect(result.code).toBe(1);
  }, 600_000);

  it('cleans at the flagged target when the scan of the labelled images names none, with the probes as unlabelled data (what the action passes on)', async () => {
    const dir = tmp();
    const out = path.join(dir, 'cleaned');
    // Thresholds no statistic reaches stand in for a scan of a small labelled set that misses what
    // a scan of the probes found; the real blended trigger measures the cleaning.
    const loose = path.join(dir, 'loose.yml');
    writeFileSync(loose, 'thresholds:\n  inversion: { suspicious: 99, backdoored: 100 }\n  mask-inversion: { suspicious: 99, backdoored: 100 }\n');
    const args = ['clean', EXAMPLES.blendedCnn, '--data', CLEAN_DATA, '--unlabelled', PROBE, '--policy', loose];
    await runCli([...args, '--target', '4', '--out', out, '--report', path.join(dir, 'r.json')]);
    const report = JSON.parse(readFileSync(path.join(dir, 'r.json'), 'utf8'));
    expect(['clean', 'unassessed']).toContain(report.verdictBefore);
    expect(report.flaggedTarget).toBe(4);
    expect(report.data).toMatchObject({ cleanWith: 480 + 256, heldOut: 120, unlabelled: { images: 256 } });
    expect(report.log.details.rounds).toEqual(expect.arrayContaining([expect.objectContaining({ target: 4 })]));
    const card = JSON.parse(readFileSync(path.join(EXAMPLES.blendedCnn, 'zoo-card.json'), 'utf8')) as { attack: AttackSpec };
    expect(card.attack).toMatchObject({ family: 'blended', target: 4 });
    const stamp = (x: Float32Array) => applyTrigger(makeTrigger(card.attack), x, x.length / 784, 28, 28, 1);
    const before = accuracyAndAsr((await loadModel(EXAMPLES.blendedCnn)).model, stamp, 4);
    const after = accuracyAndAsr((await loadModel(out)).model, stamp, 4);
    console.log(
      `cleaned at the flagged target: real-trigger ASR ${(100 * before.asr).toFixed(1)} → ${(100 * after.asr).toFixed(1)} %, accuracy ${(100 * before.accuracy).toFixed(2)} → ${(100 * after.accuracy).toFixed(2)} %`,
    );
    expect(before.asr).toBeGreaterThan(0.95);
    expect(after.asr).toBeLessThan(0.05);
    expect(before.accuracy - after.accuracy).toBeLessThan(0.02);
    // Without the flagged target the same request cleans nothing; a target the model lacks is refused.
    const alone = await runCli([...args, '--out', path.join(dir, 'alone'), '--report', path.join(dir, 'alone.json')]);
    expect(JSON.parse(readFileSync(path.join(dir, 'alone.json'), 'utf8')).skipped).toMatch(/the scan found no backdoor/);
    expect(alone.code).toBe(1);
    const bad = await runCli([...args, '--target', '10', '--out', path.join(dir, 'bad'), '--report', path.join(dir, 'bad.json')]);
    expect(bad.code).toBe(2);
    expect(bad.stdout).toContain('has 10 classes; the flagged target 10 is not one of them');
    // --force on the model the scan passed: auto cleans without a trigger (shared adversarial
    // unlearning), and the real trigger it was never given stops working.
    const forced = await runCli([...args, '--force', '--out', path.join(dir, 'forced'), '--report', path.join(dir, 'forced.json')]);
    const forcedReport = JSON.parse(readFileSync(path.join(dir, 'forced.json'), 'utf8'));
    expect(forcedReport.log.method).toBe('sau');
    expect(forcedReport.log.details.phases.perturbationSeconds).toBeGreaterThan(0);
    const sau = accuracyAndAsr((await loadModel(path.join(dir, 'forced'))).model, stamp, 4);
    console.log(
      `--force (sau): real-trigger ASR ${(100 * before.asr).toFixed(1)} → ${(100 * sau.asr).toFixed(1)} %, accuracy ${(100 * before.accuracy).toFixed(2)} → ${(100 * sau.accuracy).toFixed(2)} %`,
    );
    expect(sau.asr).toBeLessThan(0.05);
    expect(before.accuracy - sau.accuracy).toBeLessThan(0.01);
    expect([0, 1]).toContain(forced.code);
  }, 900_000);

  it('cleans without a trigger a model flagged with no class (--target none: the untargeted mask) when the labelled images’ scan is quiet', async () => {
    const dir = tmp();
    const out = path.join(dir, 'cleaned');
    // As above, thresholds no statistic reaches stand in for a quiet scan of the labelled set; the
    // gate's finding named no class, as the untargeted mask's does. The real blended trigger judges.
    const never = path.join(dir, 'never.yml');
    writeFileSync(
      never,
      'thresholds:\n  inversion: { suspicious: 99, backdoored: 100 }\n  mask-inversion: { suspicious: 99, backdoored: 100 }\n  untargeted-mask: { suspicious: 99, backdoored: 100 }\n',
    );
    const result = await runCli([
      'clean',
      EXAMPLES.blendedCnn,
      '--data',
      CLEAN_DATA,
      '--unlabelled',
      PROBE,
      '--policy',
      never,
      '--target',
      'none',
      '--out',
      out,
      '--report',
      path.join(dir, 'r.json'),
    ]);
    const report = JSON.parse(readFileSync(path.join(dir, 'r.json'), 'utf8'));
    expect(['clean', 'unassessed']).toContain(report.verdictBefore);
    expect(report.flaggedWithoutTarget).toBe('suspicious');
    expect(report.flaggedTarget).toBeUndefined();
    expect(report.log.method).toBe('sau');
    expect(result.stdout + result.stderr).toContain("the gate's scan flagged the model (suspicious) without naming a class");
    const card = JSON.parse(readFileSync(path.join(EXAMPLES.blendedCnn, 'zoo-card.json'), 'utf8')) as { attack: AttackSpec };
    const stamp = (x: Float32Array) => applyTrigger(makeTrigger(card.attack), x, x.length / 784, 28, 28, 1);
    const before = accuracyAndAsr((await loadModel(EXAMPLES.blendedCnn)).model, stamp, 4);
    const after = accuracyAndAsr((await loadModel(out)).model, stamp, 4);
    console.log(`flagged without a class (sau): real-trigger ASR ${(100 * before.asr).toFixed(1)} → ${(100 * after.asr).toFixed(1)} %`);
    expect(before.asr).toBeGreaterThan(0.95);
    expect(after.asr).toBeLessThan(0.05);
    const bad = await runCli(['clean', EXAMPLES.blendedCnn, '--data', CLEAN_DATA, '--target', 'all', '--out', path.join(dir, 'bad')]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('clean --target: all is not a class index (0, 1, …) or none');
  }, 600_000);

  it('says what is missing: labelled data, an output directory, enough images per class', async () => {
    const noData = await runCli(['clean', EXAMPLES.blendedCnn, '--out', path.join(tmp(), 'o')]);
    expect(noData.code).toBe(2);
    expect(noData.stderr).toMatch(/clean needs --data: a small labelled clean set/);
    const noOut = await runCli(['clean', EXAMPLES.blendedCnn, '--data', PROBE]);
    expect(noOut.code).toBe(2);
    expect(noOut.stderr).toMatch(/clean needs --out/);
    // The policy is read as scan reads it, before any work: a bad one is named.
    const badPolicy = path.join(tmp(), 'policy.yml');
    writeFileSync(badPolicy, 'thresholds:\n  inversion:\n    suspicious: high\n');
    const policy = await runCli(['clean', EXAMPLES.blendedCnn, '--data', CLEAN_DATA, '--out', path.join(tmp(), 'o'), '--policy', badPolicy]);
    expect(policy.code).toBe(2);
    expect(policy.stderr).toContain(`${badPolicy}: does not match the policy schema: thresholds.inversion.suspicious`);
    const dir = tmp();
    writeNpy(path.join(dir, 'x.npy'), new Uint8Array(30 * 784), [30, 28, 28]);
    writeNpy(
      path.join(dir, 'y.npy'),
      Int32Array.from({ length: 30 }, (_, i) => i % 10),
      [30],
    );
    const thin = await runCli(['clean', EXAMPLES.blendedCnn, '--data', dir, '--out', path.join(dir, 'o'), '--report', path.join(dir, 'r.json')]);
    expect(thin.code).toBe(2);
    expect(thin.stdout).toMatch(/too few labelled clean images for cleaning: class 0 has 3/);
    expect(existsSync(path.join(dir, 'o'))).toBe(false);
  }, 120_000);

  it('judges the cleaned copy on the last 256 of 512 unlabelled digits it never cleaned with, so 30 labelled digits per class can pass it', async () => {
    const dir = tmp();
    const out = path.join(dir, 'cleaned');
    // 30 labelled digits per class hold out 6 each: alone, too few for a clean re-scan (unassessed).
    const thin = path.join(dir, 'thin');
    const labelled = perClassSubset(loadLabelledImages(CLEAN_DATA, { shape: [28, 28, 1], maxImages: 100_000, seed: 0 }), 30);
    mkdirSync(thin);
    writeNpy(path.join(thin, 'x.npy'), labelled.x, [labelled.count, 28, 28, 1]);
    writeNpy(path.join(thin, 'y.npy'), labelled.labels, [labelled.count]);
    const probes = path.join(dir, 'probes');
    mkdirSync(probes);
    // Unlabelled images like the model's inputs, none of them among the test digits that measure it.
    writeNpy(path.join(probes, 'x.npy'), sliceImages(mnistSplit('train'), 0, 512).x, [512, 28, 28, 1]);
    const result = await runCli(['clean', EXAMPLES.blendedCnn, '--data', thin, '--unlabelled', probes, '--out', out, '--report', path.join(dir, 'r.json')]);
    const report = JSON.parse(readFileSync(path.join(dir, 'r.json'), 'utf8'));
    expect(report.data).toMatchObject({ cleanWith: 240 + 256, heldOut: 60, unlabelled: { images: 256 }, heldBackProbes: 256 });
    expect(report.verdictBefore).toBe('backdoored');
    // The re-scan reads the held-back digits and the held-out ones: none of them was cleaned with.
    expect(report.rescannedImages).toBe(256 + 60);
    expect(report.verdictAfter).toBe('clean');
    expect(result.code).toBe(0);
    // The trial fine-tune measures the recovered trigger on the same unseen images: the held-out
    // digits not of the target (6 each of nine classes) and the held-back ones the model did not
    // call the target before cleaning.
    const original = (await loadModel(EXAMPLES.blendedCnn)).model;
    const heldBackAnswers = predict(original, sliceImages(mnistSplit('train'), 256, 512));
    expect(report.retuneTrial.images).toBe(9 * 6 + heldBackAnswers.filter((c) => c !== 4).length);
    // The real blended trigger, which the cleaning never saw, on the 2,000 MNIST test digits.
    const card = JSON.parse(readFileSync(path.join(EXAMPLES.blendedCnn, 'zoo-card.json'), 'utf8')) as { attack: AttackSpec };
    const stamp = (x: Float32Array) => applyTrigger(makeTrigger(card.attack), x, x.length / 784, 28, 28, 1);
    const before = accuracyAndAsr(original, stamp, card.attack.target);
    original.dispose();
    const after = accuracyAndAsr((await loadModel(out)).model, stamp, card.attack.target);
    console.log(
      `judged on held-back probes: real-trigger ASR ${(100 * before.asr).toFixed(1)} → ${(100 * after.asr).toFixed(1)} %, accuracy ${(100 * before.accuracy).toFixed(2)} → ${(100 * after.accuracy).toFixed(2)} %`,
    );
    expect(after.asr).toBeLessThan(0.05);
    expect(before.accuracy - after.accuracy).toBeLessThan(0.02);
  }, 900_000);
});
