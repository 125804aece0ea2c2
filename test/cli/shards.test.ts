// Issue 23: a scan split into shards and merged gives what the whole scan gives. The reference is
// the whole scan of the same model, data and seed (run by the bundle, as a user would); the shards
// run as two processes, as two jobs of a matrix would.
import { copyFileSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PNG } from 'pngjs';
import { describe, expect, it } from 'vitest';
import { mergeReports, readPartialReports } from '../../src/merge.js';
import { defaultSettings } from '../../src/settings.js';
import { EXAMPLES, PROBE, runCli } from '../helpers/run.js';

const tmp = () => mkdtempSync(path.join(os.tmpdir(), 'bg-shards-'));
const read = (file: string) => JSON.parse(readFileSync(file, 'utf8'));

/** Per-class entries without the fields recomputed across classes from rounded numbers (the MAD anomaly). */
const perClass = (report: { scans: Array<{ method: string; perClass?: Array<Record<string, unknown>> }> }) =>
  report.scans.map((s) => ({ method: s.method, perClass: s.perClass?.map(({ anomaly: _, ...rest }) => rest) }));

const cases = [
  { name: 'backdoored (blended, target 4), with data', model: EXAMPLES.blendedCnn, data: ['--data', PROBE] },
  { name: 'clean, with data', model: EXAMPLES.cleanCnn, data: ['--data', PROBE] },
  { name: 'backdoored (blended, target 4), no data', model: EXAMPLES.blendedCnn, data: [] },
  { name: 'clean, no data', model: EXAMPLES.cleanCnn, data: [] },
];

describe('scan --shard i/n and merge', () => {
  const dirs = new Map<string, string>();

  it.each(cases)('give the whole scan’s verdict, target, statistics and exit code: $name', { timeout: 600_000 }, async ({ name, model, data }) => {
    const dir = tmp();
    dirs.set(name, dir);
    const args = (report: string) => ['scan', model, ...data, '--seed', '5', '--report', path.join(dir, report)];
    const [whole, one, two] = await Promise.all([
      runCli([...args('whole.json'), '--jobs', '1']),
      runCli([...args('shard-1/report.json'), '--shard', '1/2']),
      runCli([...args('shard-2/report.json'), '--shard', '2/2']),
    ]);
    expect([one.code, two.code], one.stderr + two.stderr).toEqual([0, 0]);
    expect(one.stdout).toContain('shard 1/2 scanned');
    const partial = read(path.join(dir, 'shard-1/report.json'));
    // A partial report decides nothing, and says which classes it ran.
    expect(partial.verdict).toBe('unassessed');
    expect(partial.shard.classes.every((c: { ran: number[] }) => c.ran.every((k) => k % 2 === 0))).toBe(true);
    // The untargeted mask is one row, not per class: only the shard holding the last class runs it.
    const untargetedOf = (report: { scans: Array<{ method: string; untargeted?: unknown }> }) =>
      report.scans.find((s) => s.method === 'mask-inversion')?.untargeted;
    if (data.length) expect([untargetedOf(partial), untargetedOf(read(path.join(dir, 'shard-2/report.json')))].map(Boolean)).toEqual([false, true]);
    const merged = await runCli([
      'merge',
      path.join(dir, 'shard-1'),
      path.join(dir, 'shard-2'),
      '--report',
      path.join(dir, 'merged.json'),
      '--sarif',
      path.join(dir, 'merged.sarif'),
    ]);
    const [w, m] = [read(path.join(dir, 'whole.json')), read(path.join(dir, 'merged.json'))];
    expect(w.verdict).not.toBe('error');
    expect(untargetedOf(m)).toEqual(untargetedOf(w));
    if (data.length) expect(w.statistics.untargeted).toBeDefined();
    expect({ verdict: m.verdict, target: m.suspectedTarget, code: merged.code, score: m.score }).toEqual({
      verdict: w.verdict,
      target: w.suspectedTarget,
      code: whole.code,
      score: w.score,
    });
    expect(m.reasons).toEqual(w.reasons);
    expect(m.unassessed).toEqual(w.unassessed);
    for (const key of ['dense', 'mask', 'untargeted', 'maxMargin'] as const)
      if (w.statistics?.[key]) expect(m.statistics[key].value, key).toBeCloseTo(w.statistics[key].value, 4);
    expect(perClass(m)).toEqual(perClass(w));
    expect(m.merged.shards.map((s: { index: number }) => s.index)).toEqual([1, 2]);
    expect(readFileSync(path.join(dir, 'merged.sarif'), 'utf8')).toContain('"version": "2.1.0"');
    // Each shard's images, gathered beside the merged report.
    if (data.length) expect(m.artifacts.files).toEqual(expect.arrayContaining(['trigger-class-4.png', 'trigger-class-5.png']));
  });

  it('scan --jobs 2 splits one scan over two processes and writes the whole scan’s report', { timeout: 300_000 }, async () => {
    const dir = dirs.get(cases[0].name);
    expect(dir, 'runs after the first case').toBeDefined();
    const report = path.join(dir!, 'jobs.json');
    const result = await runCli(['scan', cases[0].model, ...cases[0].data, '--seed', '5', '--jobs', '2', '--report', report]);
    const [w, j] = [read(path.join(dir!, 'whole.json')), read(report)];
    expect({ verdict: j.verdict, target: j.suspectedTarget, score: j.score, code: result.code }).toEqual({
      verdict: w.verdict,
      target: w.suspectedTarget,
      score: w.score,
      code: 1,
    });
    expect(perClass(j)).toEqual(perClass(w));
    expect(j.model.spec).toBe(cases[0].model);
    expect(j.merged.shards).toHaveLength(2);
    expect(result.stderr).toMatch(/\[shard 2\/2\] scan: trigger inversion/);
    // The overview, redrawn from the shards' images: a 10-class grid like the whole scan's.
    const [wo, jo] = ['whole-artifacts', 'jobs-artifacts'].map((d) => PNG.sync.read(readFileSync(path.join(dir!, d, 'overview.png'))));
    expect([jo.width, jo.height]).toEqual([wo.width, wo.height]);
    let same = 0;
    for (let i = 0; i < wo.data.length; i += 4) if (Math.abs(wo.data[i] - jo.data[i]) <= 2) same++;
    expect(same / (wo.data.length / 4)).toBeGreaterThan(0.99);
  });

  it('fails closed when the shards do not add up: one missing, given twice, failed, or of another scan', async () => {
    const dir = dirs.get(cases[0].name);
    expect(dir, 'runs after the first case').toBeDefined();
    const policy = defaultSettings(cases[0].model, undefined);
    const [one, two] = readPartialReports([path.join(dir!, 'shard-1/report.json'), path.join(dir!, 'shard-2/report.json')]);
    expect(mergeReports([one, two], policy).verdict).not.toBe('error');

    const missing = mergeReports([one], policy);
    expect([missing.verdict, missing.error]).toEqual(['error', expect.stringMatching(/shard 2 is missing/)]);

    const twice = mergeReports([one, { ...two, digest: 'sha256:other', report: { ...two.report, shard: { ...two.report.shard!, index: 1 } } }], policy);
    expect(twice.error).toMatch(/is shard 1\/2, as .* is: each shard once/);

    const otherSeed = mergeReports([one, { ...two, report: { ...two.report, seed: 6 } }], policy);
    expect(otherSeed.error).toMatch(/not a shard of the same scan .*the seed \(6 against 5\)/);

    const otherData = mergeReports([one, { ...two, report: { ...two.report, data: { ...two.report.data!, source: 'elsewhere' } } }], policy);
    expect(otherData.error).toMatch(/the probe data differ/);
    const otherBackend = mergeReports([one, { ...two, report: { ...two.report, engine: { ...two.report.engine!, backend: 'cpu' } } }], policy);
    expect(otherBackend.error).toMatch(/the backend \(cpu against wasm\) differ/);

    // A shard that could not scan: the merged report is its error report, naming the shard.
    const failed = mergeReports(
      [one, { ...two, report: { ...two.report, verdict: 'error', error: 'out of memory', reasons: ['could not scan: out of memory'] } }],
      policy,
    );
    expect([failed.verdict, failed.error, failed.reasons]).toEqual([
      'error',
      'out of memory',
      ['could not scan: out of memory', expect.stringMatching(/^\(from shard 2\/2: /)],
    ]);
    expect(failed.shard).toBeUndefined();

    // A class both shards claim to have run.
    const overlap = structuredClone(two.report);
    overlap.shard!.classes[0].ran.push(0);
    expect(mergeReports([one, { ...two, report: overlap }], policy).error).toMatch(/ran class 0 of the trigger-inversion scan, as .* did/);

    // The CLI: a folder with one shard only exits 2 with the reason, and a whole report is no partial one.
    const lonely = tmp();
    copyFileSync(path.join(dir!, 'shard-1/report.json'), path.join(lonely, 'report.json'));
    const result = await runCli(['merge', lonely, '--report', path.join(lonely, 'merged.json')]);
    expect(result.code).toBe(2);
    expect(read(path.join(lonely, 'merged.json')).verdict).toBe('error');
    expect(result.stdout).toMatch(/error \(.*shard 2 is missing\)/);
    writeFileSync(path.join(lonely, 'not-partial.json'), readFileSync(path.join(dir!, 'whole.json')));
    const whole = await runCli(['merge', path.join(lonely, 'not-partial.json'), '--report', path.join(lonely, 'm2.json')]);
    expect(whole.code).toBe(2);
    expect(whole.stdout).toMatch(/not-partial\.json: is not a partial report/);
  });
});
