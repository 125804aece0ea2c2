// The bundled action (dist/index.js) end to end against the loopback GitHub: every request it
// makes is checked against GitHub's OpenAPI description, and every answer it gets is schema-valid.
import { createWriteStream, existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import * as tar from 'tar';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { selectBackend } from '../../src/engine/backend.js';
import { MemoryLogger } from '../../src/logger.js';
import { loadModel } from '../../src/model/load.js';
import { applyTrigger, makeTrigger, type AttackSpec } from '../../src/zoo/attacks.js';
import { outputs, runnerEnv } from '../helpers/action.js';
import { accuracyAndAsr } from '../helpers/measure.js';
import { FakeGitHub } from '../helpers/github-server.js';
import { CLEAN_DATA, EXAMPLES, PROBE, runNode } from '../helpers/run.js';
import { sarifValidator } from '../helpers/sarif.js';

const require = createRequire(import.meta.url);
const archiver = require('archiver') as (format: 'zip') => import('archiver').Archiver;
const TOKEN = 'ghs_loopbackSecretToken0123456789';
const HEAD_SHA = 'a'.repeat(40);
const MERGE_SHA = 'b'.repeat(40);
const WORKFLOW = '.github/workflows/model-gate.yml';

async function tarGz(dir: string, file: string): Promise<Buffer> {
  await tar.c({ gzip: true, file, cwd: path.dirname(dir) }, [path.basename(dir)]);
  return readFileSync(file);
}

async function zipDir(dir: string, file: string): Promise<Buffer> {
  const archive = archiver('zip');
  const done = new Promise<void>((resolve, reject) => {
    const out = createWriteStream(file);
    out.on('close', () => resolve());
    archive.on('error', reject);
    archive.pipe(out);
  });
  for (const name of readdirSync(dir)) archive.file(path.join(dir, name), { name });
  await archive.finalize();
  await done;
  return readFileSync(file);
}

interface RunOptions {
  model: string;
  event?: 'pull_request' | 'pull_request_target' | 'push' | 'workflow_run';
  /** The event payload, when the default one for the event will not do. */
  payload?: object;
  fork?: boolean;
  extraInputs?: Record<string, string>;
  toolCache?: string;
}

describe('action against a loopback GitHub (dist/index.js)', () => {
  let gh: FakeGitHub;
  let workspace: string;
  const validateSarif = sarifValidator();

  beforeAll(async () => {
    // For measuring cleaned models with their real trigger in this process.
    await selectBackend({ choice: 'wasm', logger: new MemoryLogger() });
    gh = await new FakeGitHub().start();
    ({ dir: workspace } = runnerEnv({}));
    mkdirSync(path.join(workspace, '.github/workflows'), { recursive: true });
    writeFileSync(
      path.join(workspace, WORKFLOW),
      [
        'name: model gate',
        'on: pull_request',
        'jobs:',
        '  gate:',
        '    runs-on: [self-hosted, gpu]',
        '    steps:',
        '      - uses: backdoor-gate/backdoor-gate@v1',
        '        with:',
        '          model: release:v1.0.0/blended.tar.gz',
        '',
      ].join('\n'),
    );
    gh.addRelease('v1.0.0', [{ name: 'blended.tar.gz', data: await tarGz(EXAMPLES.blendedCnn, path.join(workspace, 'blended.tar.gz')) }]);
    gh.addArtifact(7, 'clean-model', await zipDir(EXAMPLES.cleanCnn, path.join(workspace, 'clean.zip')));
  });
  afterAll(() => gh?.close());

  async function runAction(o: RunOptions) {
    // What is tested here is the GitHub side: one quick scan (trigger inversion alone, on the 256
    // probes a clean verdict needs) still tells the blended model from the clean one.
    const { dir, files, env } = runnerEnv({
      model: o.model,
      data: PROBE,
      scans: 'inversion',
      'github-token': TOKEN,
      ...o.extraInputs,
    });
    const event = o.event ?? 'pull_request';
    const eventFile = path.join(dir, 'event.json');
    const headRepo = o.fork ? 'mallory/models' : `${gh.owner}/${gh.repo}`;
    const pr = { number: 12, pull_request: { number: 12, head: { sha: HEAD_SHA, repo: { full_name: headRepo } } } };
    writeFileSync(eventFile, JSON.stringify(o.payload ?? (event.startsWith('pull_request') ? pr : { after: MERGE_SHA })));
    Object.assign(env, {
      GITHUB_API_URL: gh.url,
      GITHUB_REPOSITORY: `${gh.owner}/${gh.repo}`,
      GITHUB_EVENT_NAME: event,
      GITHUB_EVENT_PATH: eventFile,
      GITHUB_SHA: MERGE_SHA,
      GITHUB_RUN_ID: '4242',
      GITHUB_JOB: 'gate',
      GITHUB_WORKSPACE: workspace,
      GITHUB_WORKFLOW_REF: `${gh.owner}/${gh.repo}/${WORKFLOW}@refs/pull/12/merge`,
      ...(o.toolCache ? { RUNNER_TOOL_CACHE: o.toolCache } : {}),
    });
    const result = await runNode('dist/index.js', [], env, dir);
    return { result, out: outputs(files.output), summary: readFileSync(files.summary, 'utf8'), dir, env };
  }

  it('release source, backdoored model on a PR: failing check run with annotations on the workflow line, sticky comment, valid SARIF; a re-run downloads nothing', async () => {
    const first = await runAction({ model: 'release:v1.0.0/blended.tar.gz' });
    expect(first.out.verdict).toBe('backdoored');
    expect(first.result.code).toBe(1);
    expect(gh.violations).toEqual([]);
    // The redirect to storage carried no token; every API request did.
    const downloads = gh.storageRequests.filter((r) => r.path.startsWith('/assets/'));
    expect(downloads).toHaveLength(1);
    expect(downloads[0].authorization).toBeUndefined();
    expect(gh.requests.every((r) => r.authorized)).toBe(true);
    // The token appears once, in the command that tells the runner to mask it.
    expect(first.result.stdout.split(TOKEN).length - 1).toBe(1);
    expect(first.result.stdout).toContain(`::add-mask::${TOKEN}`);

    // The check run sits on the PR head, not the merge commit, and fails with annotations.
    expect(gh.checkRuns).toHaveLength(1);
    const check = gh.checkRuns[0];
    expect(check).toMatchObject({ name: 'Backdoor Gate', head_sha: HEAD_SHA, status: 'completed', conclusion: 'failure' });
    expect(check.annotations.length).toBeGreaterThanOrEqual(1);
    expect(check.annotations[0]).toMatchObject({ path: WORKFLOW, start_line: 9, annotation_level: 'failure' });
    expect(check.output.summary).toContain('⛔ backdoored');
    expect(first.out['check-run-url']).toBe(`https://github.com/acme/models/runs/${check.id}`);

    // One sticky comment, with its marker; the job summary has the Mermaid spectrum chart only if the Hessian ran.
    expect(gh.comments).toHaveLength(1);
    expect(gh.comments[0].body).toContain('<!-- backdoor-gate:Backdoor Gate -->');
    expect(gh.comments[0].body).toContain('suspected target class | 4');
    expect(first.summary).toContain('⛔ backdoored');

    // SARIF 2.1.0, valid against the schema, anchored on the workflow line.
    const sarif = JSON.parse(readFileSync(first.out['sarif-path'], 'utf8'));
    expect(validateSarif(sarif), JSON.stringify(validateSarif.errors)).toBe(true);
    expect(sarif.runs[0].results[0]).toMatchObject({
      ruleId: 'BG001',
      level: 'error',
      locations: [{ physicalLocation: { artifactLocation: { uri: WORKFLOW }, region: { startLine: 9 } } }],
    });

    const report = JSON.parse(readFileSync(first.out['report-path'], 'utf8'));
    expect(report.model.origin).toMatchObject({ source: 'release', cacheHit: false });
    expect(report.model.origin.bundleSha256).toMatch(/^[0-9a-f]{64}$/);

    // Second run, same tool cache: no download, the comment is updated in place, the fingerprint is stable.
    const second = await runAction({ model: 'release:v1.0.0/blended.tar.gz', toolCache: first.env.RUNNER_TOOL_CACHE });
    expect(second.out.verdict).toBe('backdoored');
    expect(second.result.stdout).toMatch(/tool-cache hit for release:v1\.0\.0\/blended\.tar\.gz \(sha256:[0-9a-f]{64}\).*nothing downloaded/);
    expect(gh.storageRequests.filter((r) => r.path.startsWith('/assets/'))).toHaveLength(1);
    expect(gh.comments).toHaveLength(1);
    expect(gh.requests.filter((r) => r.operation === 'PATCH /repos/{owner}/{repo}/issues/comments/{comment_id}')).toHaveLength(1);
    const sarif2 = JSON.parse(readFileSync(second.out['sarif-path'], 'utf8'));
    expect(sarif2.runs[0].results[0].partialFingerprints).toEqual(sarif.runs[0].results[0].partialFingerprints);
    expect(gh.violations).toEqual([]);
  });

  it('artifact source from another run, clean model on push: digest-checked download, a successful check run, no comment', async () => {
    const before = gh.requests.length;
    const { out, result } = await runAction({ model: 'artifact:clean-model@7', event: 'push' });
    expect(out.verdict).toBe('clean');
    expect(result.code).toBe(0);
    const made = gh.requests.slice(before).map((r) => r.operation);
    expect(made).toContain('GET /repos/{owner}/{repo}/actions/runs/{run_id}/artifacts');
    expect(made).toContain('GET /repos/{owner}/{repo}/actions/artifacts/{artifact_id}/{archive_format}');
    expect(made.some((m) => m?.includes('/comments'))).toBe(false);
    const zipFetch = gh.storageRequests.filter((r) => r.path.startsWith('/artifacts/'));
    expect(zipFetch).toHaveLength(1);
    expect(zipFetch[0].authorization).toBeUndefined();
    expect(gh.checkRuns.at(-1)).toMatchObject({ head_sha: MERGE_SHA, conclusion: 'success' });
    expect(gh.violations).toEqual([]);
  });

  it('a read-only token (403 on every write) costs warnings, never the verdict', async () => {
    gh.denyWrites = true;
    try {
      const { out, result, summary } = await runAction({ model: EXAMPLES.blendedCnn });
      expect(out.verdict).toBe('backdoored');
      expect(result.code).toBe(1);
      expect(result.stdout).toMatch(/::warning::check run skipped: HTTP 403: the token cannot do this \(it needs `checks: write`/);
      expect(result.stdout).toMatch(/::warning::PR comment skipped: HTTP 403/);
      expect(result.stdout).toMatch(/::error [^\n]*::Backdoor Gate: backdoored/);
      expect(summary).toContain('⛔ backdoored');
      expect(existsSync(out['sarif-path'])).toBe(true);
    } finally {
      gh.denyWrites = false;
    }
    expect(gh.violations).toEqual([]);
  });

  it('a sharded scan: the shard jobs write partial reports and nothing on GitHub; the merge job gates like a whole scan', async () => {
    const checksBefore = gh.checkRuns.length;
    const commentsBefore = gh.comments.length;
    const shards = await Promise.all(['1/2', '2/2'].map((shard) => runAction({ model: EXAMPLES.blendedCnn, extraInputs: { shard } })));
    for (const s of shards) {
      expect(s.result.code, s.result.stdout).toBe(0);
      expect(s.out.verdict).toBe('unassessed');
      expect(JSON.parse(readFileSync(s.out['report-path'], 'utf8')).shard.count).toBe(2);
      expect(s.summary).toMatch(/shard [12]\/2 of [\s\S]*trigger-inversion: classes/);
    }
    expect(gh.checkRuns.length).toBe(checksBefore);
    expect(gh.comments.length).toBe(commentsBefore);
    const merged = await runAction({ model: '', extraInputs: { merge: shards.map((s) => s.dir).join('\n') } });
    expect(merged.out.verdict).toBe('backdoored');
    expect(merged.result.code).toBe(1);
    expect(gh.checkRuns.at(-1)).toMatchObject({ status: 'completed', conclusion: 'failure' });
    expect(gh.checkRuns.at(-1)!.output.summary).toContain('⛔ backdoored');
    expect(merged.summary).toContain('suspected target class | 4');
    const sarif = JSON.parse(readFileSync(merged.out['sarif-path'], 'utf8'));
    expect(validateSarif(sarif), JSON.stringify(validateSarif.errors)).toBe(true);
    expect(gh.violations).toEqual([]);
  });

  it('a fork PR: no write is attempted, notices say why, and the verdict and log annotations stand', async () => {
    const before = gh.requests.length;
    const { out, result, summary } = await runAction({ model: EXAMPLES.blendedCnn, fork: true });
    expect(out.verdict).toBe('backdoored');
    expect(result.code).toBe(1);
    expect(gh.requests.slice(before).filter((r) => r.method !== 'GET')).toEqual([]);
    expect(result.stdout).toMatch(/::notice::check run skipped: pull requests from forks get a read-only token/);
    expect(result.stdout).toMatch(/::notice::PR comment skipped/);
    expect(summary).toContain('⛔ backdoored');
  });

  it('a finding shows once: as a check-run annotation, with no log annotations beside it', async () => {
    const { result } = await runAction({ model: EXAMPLES.blendedCnn });
    expect(gh.checkRuns.at(-1)!.annotations.length).toBeGreaterThanOrEqual(1);
    // The step still fails with one error line, but it carries no file anchor (the check run has it).
    const errors = result.stdout.split('\n').filter((l) => l.startsWith('::error'));
    expect(errors).toHaveLength(1);
    expect(errors[0]).not.toMatch(/file=/);
    expect(result.stdout).not.toMatch(/::warning file=/);
  });

  describe('the sticky comment', () => {
    const marker = '<!-- backdoor-gate:Backdoor Gate -->';
    const ours = () => gh.comments.filter((c) => c.body.includes(marker));

    it('on-findings (default): none for a clean PR, one for a flagged one, updated to say clean; always and never do what they say', async () => {
      gh.comments.length = 0;
      await runAction({ model: EXAMPLES.cleanCnn });
      expect(ours()).toHaveLength(0);
      await runAction({ model: EXAMPLES.blendedCnn });
      expect(ours()).toHaveLength(1);
      expect(ours()[0].body).toContain('⛔ backdoored');
      const { out } = await runAction({ model: EXAMPLES.cleanCnn });
      expect(out.verdict).toBe('clean');
      expect(ours()).toHaveLength(1);
      expect(ours()[0].body).toContain('✅ clean');
      gh.comments.length = 0;
      await runAction({ model: EXAMPLES.cleanCnn, extraInputs: { comment: 'always' } });
      expect(ours()).toHaveLength(1);
      gh.comments.length = 0;
      await runAction({ model: EXAMPLES.blendedCnn, extraInputs: { comment: 'never' } });
      expect(ours()).toHaveLength(0);
      expect(gh.violations).toEqual([]);
    });

    it("a personal token's comment is found by the token's login, not by being a bot, and reused", async () => {
      gh.comments.length = 0;
      gh.tokenLogin = 'octocat';
      try {
        // Someone else quoting our marker is not our comment.
        gh.comments.push({ id: 9001, body: `quoting ${marker}`, login: 'mallory' });
        await runAction({ model: EXAMPLES.blendedCnn });
        await runAction({ model: EXAMPLES.blendedCnn });
        const mine = ours().filter((c) => c.login === 'octocat');
        expect(mine).toHaveLength(1);
        expect(gh.comments.find((c) => c.id === 9001)!.body).toBe(`quoting ${marker}`);
      } finally {
        gh.tokenLogin = undefined;
      }
      expect(gh.violations).toEqual([]);
    });

    it('workflow_run from a fork: the pull request is found by the head branch and gets the comment and check', async () => {
      gh.comments.length = 0;
      gh.pulls.push({ number: 31, headSha: HEAD_SHA, headRef: 'feature/model', headOwner: 'mallory' });
      const before = gh.requests.length;
      const payload = {
        workflow_run: { head_sha: HEAD_SHA, head_branch: 'feature/model', head_repository: { owner: { login: 'mallory' } }, pull_requests: [] },
      };
      await runAction({ model: EXAMPLES.blendedCnn, event: 'workflow_run', payload });
      const made = gh.requests.slice(before);
      expect(made.some((r) => r.operation === 'GET /repos/{owner}/{repo}/pulls')).toBe(true);
      expect(made.some((r) => r.method === 'POST' && r.path === `/repos/${gh.owner}/${gh.repo}/issues/31/comments`)).toBe(true);
      expect(gh.checkRuns.at(-1)).toMatchObject({ head_sha: HEAD_SHA, conclusion: 'failure' });
      // pr-number wins over the lookup.
      await runAction({ model: EXAMPLES.blendedCnn, event: 'workflow_run', payload, extraInputs: { 'pr-number': '77', comment: 'always' } });
      expect(gh.requests.some((r) => r.path === `/repos/${gh.owner}/${gh.repo}/issues/77/comments`)).toBe(true);
      expect(gh.violations).toEqual([]);
    });

    it('pull_request_target from a fork runs with a writable token: check run and comment are written', async () => {
      gh.comments.length = 0;
      const checks = gh.checkRuns.length;
      const { result } = await runAction({ model: EXAMPLES.blendedCnn, event: 'pull_request_target', fork: true });
      expect(result.stdout).not.toMatch(/skipped: pull requests from forks/);
      expect(gh.checkRuns.length).toBe(checks + 1);
      expect(ours()).toHaveLength(1);
    });
  });

  it('a digest that does not match fails closed with a clear error', async () => {
    const { out, result } = await runAction({ model: 'release:v1.0.0/blended.tar.gz', extraInputs: { 'model-sha256': 'c'.repeat(64) } });
    expect(out.verdict).toBe('error');
    expect(result.code).toBe(1);
    expect(result.stdout).toMatch(/sha256 [0-9a-f]{64} does not match model-sha256 c{64}; refusing to scan/);
  });

  // `unlearn`, the quickest method that cleans this model: `auto` is tested end to end by the CLI.
  it('clean: unlearn cleans the flagged release model, re-scans it, publishes the cleaned bundle to the same release and passes', async () => {
    const { out, result, dir } = await runAction({
      model: 'release:v1.0.0/blended.tar.gz',
      extraInputs: { clean: 'unlearn', 'clean-data': CLEAN_DATA, 'clean-out': 'cleaned', publish: 'release' },
    });
    // The input's own verdict is kept; the cleaned copy's is its own output.
    expect(out.verdict).toBe('backdoored');
    expect(out['cleaned-model-path']).toBe('cleaned');
    expect(out['cleaned-verdict']).toBe('clean');
    const report = JSON.parse(readFileSync(path.join(dir, 'backdoor-gate-clean-report.json'), 'utf8'));
    expect(report.method).toBe('unlearn');
    // The cost on the held-out fifth, as the report's accuracies give it, within the default 2 points.
    const cost = 100 * (report.before.heldOutAccuracy - report.after.heldOutAccuracy);
    expect(out['cleaned-accuracy-drop']).toBe(cost.toFixed(1));
    expect(cost).toBeLessThanOrEqual(2);
    expect(report.output.digest).not.toBe(report.input.digest);
    expect(result.stdout).toMatch(
      /::warning::release:v1\.0\.0\/blended\.tar\.gz is backdoored; the cleaned model cleaned \(sha256:[0-9a-f]+\) passes the re-scan/,
    );
    expect(result.stdout).not.toMatch(/::error/);
    expect(result.code).toBe(0);
    // Published beside the input, which is left as it was.
    expect(result.stdout).toMatch(/published the cleaned model: http/);
    const assets = gh.releases.find((r) => r.tag === 'v1.0.0')!.assets;
    expect(assets.map((a) => a.name)).toEqual(['blended.tar.gz', 'blended-cleaned.tar.gz']);
    expect(out['cleaned-model-url']).toMatch(/\/download\/\d+\/blended-cleaned\.tar\.gz$/);
    expect(gh.checkRuns.at(-1)).toMatchObject({ conclusion: 'neutral' });
    expect(gh.violations).toEqual([]);
  }, 600_000);

  it('judges the cleaned copy by the policy file: a stricter policy fails what the default passes, a looser one cleans nothing', async () => {
    const policy = (name: string, suspicious: number) => {
      const file = path.join(workspace, `${name}-policy.yml`);
      const level = `{ suspicious: ${suspicious}, backdoored: 100 }`;
      writeFileSync(file, `thresholds:\n  inversion: ${level}\n  mask-inversion: ${level}\n`);
      return file;
    };
    const clean = { clean: 'unlearn', 'clean-data': CLEAN_DATA, 'clean-out': 'cleaned' };
    // Thresholds of 0: the cleaned copy the test above passes still stands out, so the step fails.
    const strict = await runAction({ model: 'release:v1.0.0/blended.tar.gz', extraInputs: { ...clean, policy: policy('strict', 0) } });
    expect(strict.out['cleaned-model-path']).toBe('cleaned');
    expect(strict.out['cleaned-verdict']).toBe('suspicious');
    expect(strict.result.stdout).toMatch(/::warning::clean: the cleaned model does not pass: its re-scan is suspicious/);
    expect(strict.result.code).toBe(1);
    // Thresholds no statistic reaches: the input is not flagged, so nothing is cleaned.
    const loose = await runAction({ model: 'release:v1.0.0/blended.tar.gz', extraInputs: { ...clean, policy: policy('loose', 99) } });
    expect(['clean', 'unassessed']).toContain(loose.out.verdict);
    expect(loose.out['cleaned-model-path'] ?? '').toBe('');
    expect(existsSync(path.join(loose.dir, 'cleaned'))).toBe(false);
    // clean-force: the user knows it was poisoned, so the model the loose policy passed is cleaned
    // anyway; the input keeps its verdict, and the real blended trigger stops working.
    const forced = await runAction({ model: 'release:v1.0.0/blended.tar.gz', extraInputs: { ...clean, policy: policy('loose', 99), 'clean-force': 'true' } });
    expect(forced.out.verdict).toBe(loose.out.verdict);
    expect(forced.out['cleaned-model-path']).toBe('cleaned');
    const report = JSON.parse(readFileSync(path.join(forced.dir, 'backdoor-gate-clean-report.json'), 'utf8'));
    expect(report.forcedTarget).toBe(4);
    const card = JSON.parse(readFileSync(path.join(EXAMPLES.blendedCnn, 'zoo-card.json'), 'utf8')) as { attack: AttackSpec };
    const stamp = (x: Float32Array) => applyTrigger(makeTrigger(card.attack), x, x.length / 784, 28, 28, 1);
    const before = accuracyAndAsr((await loadModel(EXAMPLES.blendedCnn)).model, stamp, 4);
    const after = accuracyAndAsr((await loadModel(path.join(forced.dir, 'cleaned'))).model, stamp, 4);
    console.log(
      `clean-force: real-trigger ASR ${(100 * before.asr).toFixed(1)} → ${(100 * after.asr).toFixed(1)} %, accuracy ${(100 * before.accuracy).toFixed(2)} → ${(100 * after.accuracy).toFixed(2)} %`,
    );
    expect(before.asr).toBeGreaterThan(0.95);
    expect(after.asr).toBeLessThan(0.05);
    // The step passes only if the cleaned copy passes its own re-scan, or the input passed.
    expect(forced.result.code).toBe(forced.out['cleaned-verdict'] === 'clean' || forced.out.verdict === 'clean' ? 0 : 1);
    expect(gh.violations).toEqual([]);
  }, 900_000);

  it('clean-force needs a clean method', async () => {
    const { result } = await runAction({ model: EXAMPLES.blendedCnn, extraInputs: { 'clean-force': 'true' } });
    expect(result.code).toBe(1);
    expect(result.stdout).toMatch(/clean-force: forcing a clean needs clean/);
  });
});
