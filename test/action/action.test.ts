// Runs the committed action bundle (dist/index.js) with INPUT_* variables, as the runner does.
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { outputs, runnerEnv } from '../helpers/action.js';
import { EXAMPLES, PROBE, REPO, runNode } from '../helpers/run.js';

describe('action (dist/index.js)', () => {
  it('flags a backdoored model: outputs, summary, failed step', async () => {
    const { dir, files, env } = runnerEnv({ model: EXAMPLES.badnetsBn, data: PROBE, 'report-path': 'gate/report.json' });
    const result = await runNode('dist/index.js', [], env, dir);
    const out = outputs(files.output);
    expect(out.verdict).toBe('backdoored');
    expect(Number(out.score)).toBeGreaterThan(0.5);
    expect(out['report-path']).toBe(path.join(dir, 'gate', 'report.json'));
    const report = JSON.parse(readFileSync(out['report-path'], 'utf8'));
    expect(report.model.digest).toMatch(/^sha256:/);
    expect(report.suspectedTarget).toBe(6);
    expect(readFileSync(files.summary, 'utf8')).toMatch(/\| verdict \| <b>⛔ backdoored<\/b> \|/);
    expect(result.stdout).toMatch(/::error [^\n]*::Backdoor Gate: backdoored/);
    expect(result.code).toBe(1);
  });

  it('scans a CLIP-style dual encoder (dual-encoder.json) with the default scans and names its target', async () => {
    const model = path.join(REPO, 'test/fixtures/dual/cocoop-badclip-t7');
    const { dir, files, env } = runnerEnv({ model, data: PROBE, 'report-path': 'report.json' });
    const result = await runNode('dist/index.js', [], env, dir);
    const out = outputs(files.output);
    const report = JSON.parse(readFileSync(out['report-path'], 'utf8'));
    expect(report.model.format).toBe('dual-encoder');
    expect(report.scans.map((s: { method: string }) => s.method)).toEqual(['trigger-inversion', 'mask-inversion', 'input-hessian']);
    expect(out.verdict).not.toBe('clean');
    expect(report.suspectedTarget).toBe(7);
    expect(result.code).toBe(1);
  }, 300_000);

  it('jobs: a scan split over processes of the CLI bundle gives the whole scan’s verdict, target, score and per-class results', async () => {
    const scan = async (jobs: string) => {
      const { dir, files, env } = runnerEnv({ model: EXAMPLES.blendedCnn, data: PROBE, seed: '5', jobs, 'report-path': 'r.json' });
      const result = await runNode('dist/index.js', [], env, dir);
      return { result, out: outputs(files.output), report: JSON.parse(readFileSync(path.join(dir, 'r.json'), 'utf8')) };
    };
    const whole = await scan('1');
    const split = await scan('2');
    expect(whole.result.stdout).not.toMatch(/processes, one shard each/);
    expect(split.result.stdout).toContain('scan: 2 processes, one shard each');
    expect(split.report.merged.shards).toHaveLength(2);
    expect(whole.report.merged).toBeUndefined();
    const decision = ({ report, out, result }: Awaited<ReturnType<typeof scan>>) => ({
      verdict: out.verdict,
      target: report.suspectedTarget,
      score: report.score,
      code: result.code,
    });
    expect(decision(split)).toEqual(decision(whole));
    expect(whole.out.verdict).not.toBe('error');
    // The same seed reached every process: per class, the same results to the last digit.
    const perClass = (r: { scans: Array<{ method: string; perClass?: Array<Record<string, unknown>> }> }) =>
      r.scans.map((s) => ({ method: s.method, perClass: s.perClass?.map(({ anomaly: _, ...rest }) => rest) }));
    expect(perClass(split.report)).toEqual(perClass(whole.report));
  }, 300_000);

  it('clean without clean-data says what is missing and fails', async () => {
    const { dir, files, env } = runnerEnv({ model: EXAMPLES.blendedCnn, data: PROBE, clean: 'onp' });
    const result = await runNode('dist/index.js', [], env, dir);
    expect(outputs(files.output).verdict).toBe('error');
    expect(result.stdout).toMatch(/::error::Backdoor Gate could not run: clean: onp needs clean-data: a small labelled clean set/);
    expect(result.code).toBe(1);
  });

  it('passes a clean model with no GitHub context at all: a notice, the outputs, the summary and a SARIF file', async () => {
    const { dir, files, env } = runnerEnv({ model: EXAMPLES.cleanBn, data: PROBE });
    const result = await runNode('dist/index.js', [], env, dir);
    const out = outputs(files.output);
    expect(out.verdict).toBe('clean');
    expect(result.stdout).toMatch(/::notice::No GitHub token or repository in this run: the check run, PR comment and uploads are skipped/);
    expect(readFileSync(files.summary, 'utf8')).toContain('✅ clean');
    expect(JSON.parse(readFileSync(out['sarif-path'], 'utf8')).runs[0].results).toEqual([]);
    expect(result.stdout).not.toMatch(/::error/);
    expect(result.code).toBe(0);
  });

  it('on-error: warn turns a scan that could not decide into a warning', async () => {
    const { dir, env } = runnerEnv({ model: EXAMPLES.cleanBn, 'on-error': 'warn', 'max-probe-images': '8', scans: 'none' });
    const result = await runNode('dist/index.js', [], env, dir);
    expect(result.stdout).toMatch(/::warning [^\n]*::Backdoor Gate: unassessed/);
    expect(result.code).toBe(0);
  });

  it('accept-unassessed in the policy passes the one model it lists, unassessed, with a warning and says so in the summary', async () => {
    const first = runnerEnv({ model: EXAMPLES.cleanBn, 'max-probe-images': '8', scans: 'none' });
    expect((await runNode('dist/index.js', [], first.env, first.dir)).code).toBe(1);
    const digest = JSON.parse(readFileSync(outputs(first.files.output)['report-path'], 'utf8')).model.digest;
    const { dir, files, env } = runnerEnv({ model: EXAMPLES.cleanBn, 'max-probe-images': '8', scans: 'none' });
    const policy = path.join(dir, 'policy.yml');
    writeFileSync(policy, `accept-unassessed:\n  - digest: ${digest}\n    note: reviewed\n`);
    const result = await runNode('dist/index.js', [], { ...env, INPUT_POLICY: policy }, dir);
    expect(outputs(files.output).verdict).toBe('unassessed');
    expect(result.stdout).toMatch(/::warning [^\n]*::Backdoor Gate: unassessed — .*accepted unassessed by the policy/);
    expect(readFileSync(files.summary, 'utf8')).toContain('❔ unassessed (accepted by the policy)');
    expect(result.code).toBe(0);
  });

  it('an unreadable model is an error verdict and a failed step', async () => {
    const { dir, files, env } = runnerEnv({ model: path.join(os.tmpdir(), 'no-such-model-dir') });
    const result = await runNode('dist/index.js', [], env, dir);
    expect(outputs(files.output).verdict).toBe('error');
    expect(result.stdout).toMatch(/::error [^\n]*::Backdoor Gate: error — could not scan: .*no-such-model-dir: does not exist/);
    expect(result.code).toBe(1);
  });

  it('keeps the verdict when the report cannot be written', async () => {
    const { dir, files, env } = runnerEnv({ model: EXAMPLES.cleanBn, 'report-path': 'notes.json', scans: 'none', 'max-probe-images': '4' });
    writeFileSync(path.join(dir, 'notes.json'), '{"mine": true}');
    const result = await runNode('dist/index.js', [], env, dir);
    expect(result.stdout).toMatch(/::warning::JSON report not written: .*notes\.json: exists and is not a backdoor-gate report/);
    expect(outputs(files.output).verdict).toBe('unassessed');
    expect(readFileSync(path.join(dir, 'notes.json'), 'utf8')).toBe('{"mine": true}');
  });

  it('a bad input fails with a clear message', async () => {
    const { dir, env } = runnerEnv({ model: EXAMPLES.cleanBn, backend: 'quantum' });
    const result = await runNode('dist/index.js', [], env, dir);
    expect(result.stdout).toMatch(/::error::Backdoor Gate could not run: backend must be one of auto, tensorflow, webgpu, wasm, cpu, got 'quantum'/);
    expect(result.code).toBe(1);
  });

  it('install-native-backend: a failing install warns with its cause and the scan goes on', async () => {
    const { dir, files, env } = runnerEnv({ model: EXAMPLES.cleanCnn, 'install-native-backend': 'true', 'max-probe-images': '8', scans: 'none' });
    // A stand-in npm on PATH that fails the way the real download does here (the action runs
    // `npm ci` from the native/ lock file it ships; dist/ finds it beside itself).
    const bin = path.join(dir, 'bin');
    mkdirSync(bin);
    writeFileSync(path.join(bin, 'npm'), '#!/bin/sh\necho "npm error tfjs-node-gpu: libtensorflow download refused (HTTP 403)" >&2\nexit 1\n');
    chmodSync(path.join(bin, 'npm'), 0o755);
    const result = await runNode('dist/index.js', [], { ...env, PATH: `${bin}:${process.env.PATH}` }, dir);
    expect(result.stdout).toMatch(
      /::warning::install-native-backend: npm ci of @tensorflow\/tfjs-node-gpu@4\.22\.0 from the lock file failed \(exit 1\): npm error tfjs-node-gpu: libtensorflow download refused \(HTTP 403\); continuing without it/,
    );
    expect(result.stdout).toMatch(/compute backend: wasm/);
    expect(outputs(files.output).verdict).toBe('unassessed');
  });
});
