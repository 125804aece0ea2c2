import { mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { PNG } from 'pngjs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { DEFAULT_THRESHOLDS } from '../../src/core/policy.js';
import { fewestProbeImages, MEASURED_PROBE_IMAGES } from '../../src/core/verdict.js';
import { sarifValidator } from '../helpers/sarif.js';
import { EXAMPLES, PROBE, runCli } from '../helpers/run.js';

const tmp = () => mkdtempSync(path.join(os.tmpdir(), 'bg-cli-'));

describe('backdoor-gate scan', () => {
  it('writes a report with digest, backend, timings and a model check', async () => {
    const dir = tmp();
    const report = path.join(dir, 'r.json');
    const result = await runCli([
      'scan',
      EXAMPLES.cleanBn,
      '--report',
      report,
      '--data',
      'mnist:test',
      '--max-probe-images',
      '64',
      '--seed',
      '3',
      '--scans',
      'none',
    ]);
    const json = JSON.parse(readFileSync(report, 'utf8'));
    expect(json.tool.name).toBe('backdoor-gate');
    expect(json.model.digest).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(json.model.files.map((f: { name: string }) => f.name)).toEqual(['model.json', 'group1-shard1of1.bin']);
    expect(json.model.endsInSoftmax).toBe(true);
    expect(json.model.input).toEqual({ range: [0, 1], fromGateJson: true });
    expect(json.engine.backend).toBe('wasm');
    expect(json.data).toEqual({ source: 'mnist:test', count: 64, shape: [28, 28, 1] });
    expect(json.seed).toBe(3);
    expect(json.timings.totalSeconds).toBeGreaterThan(0);
    // A real model check: MNIST digits spread over the classes, confident, differentiable.
    const counts: number[] = json.modelCheck.predictedClassCounts;
    expect(counts.reduce((a, b) => a + b, 0)).toBe(64);
    expect(counts.filter((c) => c > 0).length).toBeGreaterThanOrEqual(8);
    expect(json.modelCheck.meanTopProbability).toBeGreaterThan(0.9);
    expect(json.modelCheck.meanInputGradientNorm).toBeGreaterThan(0);
    // With no detector run, the gate does not pass the model (fail closed): exit 2.
    expect(json.verdict).toBe('unassessed');
    expect(json.scans).toEqual([]);
    expect(result.code).toBe(2);
    expect(result.stdout).toContain(`unassessed → ${report}`);
  });

  // Tolerance: none. On one backend a seeded run repeats exactly, to the report's 6 significant digits.
  it('gives the same verdict and figures for the same seed and backend, and records what a re-run needs', async () => {
    const dir = tmp();
    const run = async (name: string) => {
      await runCli([
        'scan',
        EXAMPLES.blendedCnn,
        '--report',
        path.join(dir, name),
        '--data',
        PROBE,
        '--max-probe-images',
        '64',
        '--seed',
        '7',
        '--scans',
        'inversion,mask-inversion,hessian',
      ]);
      const r = JSON.parse(readFileSync(path.join(dir, name), 'utf8'));
      const scans = r.scans.map((s: Record<string, unknown>) => ({ ...s, seconds: undefined }));
      return { verdict: r.verdict, score: r.score, scans, check: r.modelCheck, data: r.data, digest: r.model.digest };
    };
    const [a, b] = [await run('a.json'), await run('b.json')];
    expect(a.scans).toHaveLength(3);
    expect(a).toEqual(b);
    const recorded = JSON.parse(readFileSync(path.join(dir, 'a.json'), 'utf8'));
    expect(recorded).toMatchObject({
      seed: 7,
      tool: { name: 'backdoor-gate' },
      engine: { backend: expect.any(String), tfjsVersion: '4.22.0' },
      runtime: { node: process.version },
    });
    expect(recorded.model.digest).toMatch(/^sha256:[0-9a-f]{64}$/);
    // Scan images beside the report: a trigger per class and the Hessian eigenvector, as PNGs.
    const report = JSON.parse(readFileSync(path.join(dir, 'a.json'), 'utf8'));
    expect(report.artifacts.dir).toBe(path.join(dir, 'a-artifacts'));
    expect(report.artifacts.files).toContain('trigger-class-4.png');
    expect(report.artifacts.files).toContain('hessian-top-eigenvector.png');
    const png = PNG.sync.read(readFileSync(path.join(dir, 'a-artifacts', 'trigger-class-4.png')));
    expect([png.width, png.height]).toEqual([112, 112]);
  });

  it('never writes images into a directory it did not make, and keeps the verdict', async () => {
    const dir = tmp();
    const mine = path.join(dir, 'my-photos');
    mkdirSync(mine);
    writeFileSync(path.join(mine, 'holiday.png'), 'not touched');
    const report = path.join(dir, 'r.json');
    const result = await runCli([
      'scan',
      EXAMPLES.blendedCnn,
      '--report',
      report,
      '--data',
      PROBE,
      '--max-probe-images',
      '64',
      '--scans',
      'inversion',
      '--artifacts',
      mine,
    ]);
    expect(result.stderr).toMatch(/scan images not written: .*my-photos: exists and was not made by backdoor-gate/);
    expect(readdirSync(mine)).toEqual(['holiday.png']);
    const json = JSON.parse(readFileSync(report, 'utf8'));
    expect(json.verdict).toBe('backdoored');
    expect(result.code).toBe(1);
  });

  it('honours --backend cpu', async () => {
    const report = path.join(tmp(), 'r.json');
    await runCli(['scan', EXAMPLES.cleanCnn, '--report', report, '--backend', 'cpu', '--max-probe-images', '8', '--scans', 'none']);
    expect(JSON.parse(readFileSync(report, 'utf8')).engine.backend).toBe('cpu');
  });

  it('refuses to overwrite a file that is not one of its reports', async () => {
    const target = path.join(tmp(), 'notes.json');
    writeFileSync(target, '{"mine": true}');
    const result = await runCli(['scan', EXAMPLES.cleanBn, '--report', target, '--max-probe-images', '4', '--scans', 'none']);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/notes\.json: exists and is not a backdoor-gate report; refusing to overwrite/);
    expect(readFileSync(target, 'utf8')).toBe('{"mine": true}');
  });

  it('--sarif writes SARIF 2.1.0 the schema accepts, and never over a file it did not write', async () => {
    const dir = tmp();
    const sarifFile = path.join(dir, 'gate.sarif');
    const result = await runCli([
      'scan',
      EXAMPLES.cleanBn,
      '--report',
      path.join(dir, 'r.json'),
      '--max-probe-images',
      '4',
      '--scans',
      'none',
      '--sarif',
      sarifFile,
    ]);
    expect(result.code).toBe(2);
    const sarif = JSON.parse(readFileSync(sarifFile, 'utf8'));
    expect(sarifValidator()(sarif)).toBe(true);
    expect(sarif.runs[0].results.map((r: { ruleId: string }) => r.ruleId)).toEqual(['BG003']);
    writeFileSync(sarifFile, '{"someone": "else"}');
    const again = await runCli([
      'scan',
      EXAMPLES.cleanBn,
      '--report',
      path.join(dir, 'r.json'),
      '--max-probe-images',
      '4',
      '--scans',
      'none',
      '--sarif',
      sarifFile,
    ]);
    expect(again.stderr).toMatch(/gate\.sarif: exists and was not written by backdoor-gate; refusing to overwrite it/);
    expect(readFileSync(sarifFile, 'utf8')).toBe('{"someone": "else"}');
  });

  it('rejects bad flags with exit 2 and a clear message', async () => {
    const bad = await runCli(['scan', EXAMPLES.cleanBn, '--backend', 'tpu']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/backend must be one of auto, tensorflow, webgpu, wasm, cpu, got 'tpu'/);
    const hessianOnly = path.join(tmp(), 'h.json');
    const alone = await runCli(['scan', EXAMPLES.cleanBn, '--data', PROBE, '--max-probe-images', '16', '--scans', 'hessian', '--report', hessianOnly]);
    expect(alone.code).toBe(2);
    expect(JSON.parse(readFileSync(hessianOnly, 'utf8')).verdict).toBe('unassessed');
    const scans = await runCli(['scan', EXAMPLES.cleanBn, '--scans', 'inversion,magic']);
    expect(scans.code).toBe(2);
    expect(scans.stderr).toMatch(/scans must be a comma-separated list of inversion, mask-inversion, hessian, max-margin \(or none\), got 'magic'/);
    const missing = await runCli(['scan']);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toBe('backdoor-gate: scan: missing <model> (see backdoor-gate scan --help)\n');
    const help = await runCli(['--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/usage: backdoor-gate scan <model>/);
  });

  it('a wrong call is one line on stderr with a --help hint, exit 2 and nothing on stdout', async () => {
    for (const [args, line] of [
      [['scan', '--bogus'], "backdoor-gate: scan: unknown option '--bogus' (see backdoor-gate scan --help)"],
      [[], 'backdoor-gate: missing command: scan, merge or clean (see backdoor-gate --help)'],
      [['scna', 'model'], "backdoor-gate: unknown command 'scna' (commands: scan, merge, clean) (see backdoor-gate --help)"],
      [['merge'], 'backdoor-gate: merge: missing <partial reports…> (see backdoor-gate merge --help)'],
      [['scan', EXAMPLES.cleanBn, '--jobs', 'many'], "backdoor-gate: jobs must be auto or a number of processes from 1 to 64, got 'many'"],
      [['scan', EXAMPLES.cleanBn, '--shard', '3/2'], "backdoor-gate: shard must be i/n, shard i of n (1 ≤ i ≤ n ≤ 1024), e.g. 1/4; got '3/2'"],
      [['scan', EXAMPLES.cleanBn, '--method', 'onp'], "backdoor-gate: scan: unknown option '--method' (see backdoor-gate scan --help)"],
      [['clean', EXAMPLES.cleanBn, '--data'], "backdoor-gate: clean: option '--data <value>' argument missing (see backdoor-gate clean --help)"],
    ] as const) {
      const r = await runCli([...args]);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stdout, args.join(' ')).toBe('');
      expect(r.stderr, args.join(' ')).toBe(`${line}\n`);
    }
    const [scanHelp, cleanHelp] = [await runCli(['scan', '--help']), await runCli(['clean', '-h'])];
    expect(scanHelp.code).toBe(0);
    expect(scanHelp.stdout).toMatch(/^usage: backdoor-gate scan <model> \[options\]/);
    expect(scanHelp.stdout).toContain('--sarif-category');
    expect(cleanHelp.stdout).toMatch(/^usage: backdoor-gate clean <model> --data/);
    expect(cleanHelp.stdout).not.toEqual(scanHelp.stdout);
  });

  it('--data deep-inversion scans on images synthesised from the model: a finding counts, a quiet scan never passes', async () => {
    const dir = tmp();
    const scan = async (model: string, name: string) => {
      const r = await runCli(['scan', model, '--data', 'deep-inversion', '--max-probe-images', '32', '--scans', 'inversion', '--report', path.join(dir, name)]);
      return { code: r.code, report: JSON.parse(readFileSync(path.join(dir, name), 'utf8')) };
    };
    // The example's blended trigger (target 4) is found on images made from a model without batch norm.
    const blended = await scan(EXAMPLES.blendedCnn, 'b.json');
    expect(blended.code).toBe(1);
    expect(blended.report).toMatchObject({
      verdict: 'backdoored',
      suspectedTarget: 4,
      data: { count: 32, synthesis: { method: 'deep-inversion', prior: 'image' } },
    });
    // On the batch-norm model its statistics are matched; whatever the scan finds, it does not pass.
    const bn = await scan(EXAMPLES.badnetsBn, 'n.json');
    expect(bn.code).not.toBe(0);
    expect(bn.report.data.synthesis).toMatchObject({ prior: 'batch-norm' });
    expect(bn.report.data.synthesis.classified).toBeGreaterThan(0.9);
    expect(bn.report.verdict).not.toBe('clean');
  });

  it('does not pass a backdoored model scanned on fewer probe images than power was measured with (on 32 its scans are quiet)', async () => {
    const report = path.join(tmp(), 'few.json');
    const run = await runCli(['scan', EXAMPLES.badnetsBn, '--data', PROBE, '--max-probe-images', '32', '--report', report]);
    const json = JSON.parse(readFileSync(report, 'utf8'));
    expect(json.data.count).toBe(32);
    expect(json.verdict).toBe('unassessed');
    expect(json.unassessed.join('\n')).toMatch(/read 32 probe images, and their detection power was measured with [\d, ]*256: .* give at least \d+ unlabelled/);
    expect(run.code).toBe(2);
  });

  it('clears a clean model on as few probe images as the benchmark showed power with, and not on fewer', async () => {
    const fewest = fewestProbeImages('multiClass');
    const scan = async (count: number) => {
      const report = path.join(tmp(), `c${count}.json`);
      const run = await runCli(['scan', EXAMPLES.cleanCnn, '--data', PROBE, '--max-probe-images', String(count), '--report', report]);
      return { code: run.code, json: JSON.parse(readFileSync(report, 'utf8')) };
    };
    // The shipped measurement (src/core/probe-power.json) accepts fewer than the benchmark's 256.
    expect(fewest).toBeLessThan(MEASURED_PROBE_IMAGES);
    const enough = await scan(fewest);
    expect(enough.json.data.count).toBe(fewest);
    expect(enough).toMatchObject({ code: 0, json: { verdict: 'clean' } });
    const short = await scan(fewest - 1);
    expect(short.code).toBe(2);
    expect(short.json.verdict).toBe('unassessed');
    expect(short.json.unassessed.join('\n')).toMatch(new RegExp(`read ${fewest - 1} probe images.*give at least ${fewest} unlabelled`));
  });

  it('--json prints the report itself on stdout', async () => {
    const report = path.join(tmp(), 'r.json');
    const r = await runCli(['scan', EXAMPLES.blendedCnn, '--data', PROBE, '--max-probe-images', '64', '--scans', 'inversion', '--report', report, '--json']);
    expect(r.code).toBe(1);
    const printed = JSON.parse(r.stdout);
    expect(printed).toEqual(JSON.parse(readFileSync(report, 'utf8')));
    expect(printed.verdict).toBe('backdoored');
    // Progress goes to stderr, with step counts (64 probes in batches of 32: 2 steps).
    expect(r.stderr).toMatch(/trigger inversion: step 2\/2, \d+\.\d s/);
  });

  it('applies a policy file: its scans, budgets, thresholds and fail-on, under the flags', async () => {
    const dir = tmp();
    const policy = path.join(dir, 'policy.yml');
    writeFileSync(
      policy,
      `scans: [inversion]\ndata: ${PROBE}\nfail-on: backdoored\nthresholds:\n  inversion: { backdoored: 1000 }\nbudgets:\n  probe-images: 64\n`,
    );
    const report = path.join(dir, 'r.json');
    const result = await runCli(['scan', EXAMPLES.blendedCnn, '--policy', policy, '--report', report]);
    const json = JSON.parse(readFileSync(report, 'utf8'));
    expect(json.policy.source).toBe(policy);
    expect(json.policy.thresholds.inversion).toEqual({ suspicious: DEFAULT_THRESHOLDS.inversion.suspicious, backdoored: 1000 });
    expect(json.policy.budgets.tier).toBe('small-input');
    expect(json.data.count).toBe(64);
    expect(json.scans.map((s: { method: string }) => s.method)).toEqual(['trigger-inversion']);
    // The Blended model's trigger is found (its statistic far above the suspicious threshold) but stays below the policy's
    // backdoored threshold: suspicious, which fail-on: backdoored lets through with a warning.
    expect(json.verdict).toBe('suspicious');
    expect(json.suspectedTarget).toBe(4);
    expect(result.code).toBe(0);
    expect(result.stderr).toMatch(/suspicious, but the policy fails only on backdoored/);
    // A flag wins over the file.
    const strict = await runCli(['scan', EXAMPLES.blendedCnn, '--policy', policy, '--fail-on', 'suspicious', '--report', path.join(dir, 's.json')]);
    expect(strict.code).toBe(1);
    const missing = await runCli(['scan', EXAMPLES.blendedCnn, '--policy', path.join(dir, 'nope.yml')]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/policy file .*nope\.yml does not exist/);
    writeFileSync(policy, 'scans: inversion\n');
    const invalid = await runCli(['scan', EXAMPLES.blendedCnn, '--policy', policy]);
    expect(invalid.code).toBe(2);
    expect(invalid.stderr).toMatch(/policy\.yml: does not match the policy schema: scans: /);
  });

  it('accept-unassessed lets the one model a reviewer accepted through with a warning, never a changed model or a finding', async () => {
    const dir = tmp();
    const policy = path.join(dir, 'policy.yml');
    const scan = async (model: string, name: string, ...flags: string[]) => {
      const report = path.join(dir, name);
      const run = await runCli(['scan', model, '--policy', policy, '--report', report, ...flags]);
      return { ...run, json: JSON.parse(readFileSync(report, 'utf8')) };
    };
    // With no detector the clean example is unassessed: exit 2.
    writeFileSync(policy, 'fail-on: suspicious\n');
    const before = await scan(EXAMPLES.cleanBn, 'before.json', '--scans', 'none');
    expect([before.json.verdict, before.code]).toEqual(['unassessed', 2]);
    const digest: string = before.json.model.digest;
    // Accepted by its digest: still unassessed, and the report says by whom; the step passes with a warning.
    writeFileSync(policy, `accept-unassessed:\n  - digest: ${digest}\n    note: reviewed in PR 12\n`);
    const accepted = await scan(EXAMPLES.cleanBn, 'accepted.json', '--scans', 'none');
    expect(accepted.code).toBe(0);
    expect(accepted.json.verdict).toBe('unassessed');
    expect(accepted.json.accepted).toEqual({ digest, note: 'reviewed in PR 12', policy });
    expect(accepted.stderr).toMatch(/unassessed, but the policy accepts this model unassessed: .*accept-unassessed sha256:[0-9a-f]{64}: reviewed in PR 12/);
    // Another model (another digest) is judged as before.
    const other = await scan(EXAMPLES.badnetsBn, 'other.json', '--scans', 'none');
    expect([other.json.verdict, other.json.accepted, other.code]).toEqual(['unassessed', undefined, 2]);
    // A finding is never accepted: the Blended model, listed by its digest, still fails.
    const blended = await scan(EXAMPLES.blendedCnn, 'blended-digest.json', '--scans', 'none');
    writeFileSync(policy, `scans: [inversion]\ndata: ${PROBE}\nbudgets:\n  probe-images: 64\naccept-unassessed:\n  - digest: ${blended.json.model.digest}\n`);
    const flagged = await scan(EXAMPLES.blendedCnn, 'blended.json');
    expect([flagged.json.verdict, flagged.json.accepted, flagged.code]).toEqual(['backdoored', undefined, 1]);
    // A malformed digest is an error naming the policy file and the entry.
    writeFileSync(policy, 'accept-unassessed:\n  - digest: 71ed3652\n');
    const malformed = await runCli(['scan', EXAMPLES.cleanBn, '--policy', policy]);
    expect(malformed.code).toBe(2);
    expect(malformed.stderr).toMatch(/policy\.yml: does not match the policy schema: accept-unassessed\.0\.digest: must be the digest a report gives/);
  });

  it('reports a missing data path as could-not-scan', async () => {
    const report = path.join(tmp(), 'r.json');
    const result = await runCli(['scan', EXAMPLES.cleanBn, '--report', report, '--data', '/nonexistent/images']);
    expect(result.code).toBe(2);
    expect(result.stdout).toMatch(/\/nonexistent\/images: data path does not exist/);
  });
});
