// A sharded scan's merge: the shards' partial reports (`scan --shard i/n`) become the one report,
// verdict and exit code a whole scan gives. Per class, the entry of the shard that ran it in full;
// the statistics across classes and the decision are computed here, by the functions a whole scan
// uses (registry.ts `combine`, gate.ts `judge`). Anything that does not add up (a shard missing,
// failed or given twice, shards of different models, seeds, budgets or scans, a class no shard or
// two shards ran) makes the merged verdict `error`: the gate fails closed.
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { describeError, InputError } from './errors.js';
import { judge, startReport } from './gate.js';
import type { RenderedImage } from './report/images.js';
import type { GateReport, MergeRecord } from './report/types.js';
import { combineSummaries } from './scan/registry.js';
import type { Settings } from './settings.js';

/** A shard's report as read: its file, the file's sha256, and the report. */
export interface PartialReport {
  path: string;
  digest: string;
  report: GateReport;
}

const isPartial = (v: unknown): v is GateReport =>
  typeof v === 'object' && v !== null && 'shard' in v && typeof (v as GateReport).shard?.index === 'number' && Array.isArray((v as GateReport).scans);

function readPartial(file: string): PartialReport | undefined {
  const text = readFileSync(file);
  let parsed: unknown;
  try {
    parsed = JSON.parse(text.toString('utf8'));
  } catch (err) {
    throw new InputError(file, `is not JSON: ${(err as Error).message}`);
  }
  return isPartial(parsed) ? { path: file, digest: `sha256:${createHash('sha256').update(text).digest('hex')}`, report: parsed } : undefined;
}

function jsonFilesUnder(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true })
    .sort((a, b) => a.name.localeCompare(b.name))
    .flatMap((e) => (e.isDirectory() ? jsonFilesUnder(path.join(dir, e.name)) : e.name.endsWith('.json') ? [path.join(dir, e.name)] : []));
}

/**
 * The partial reports at `specs`: a file must be one; a folder (as actions/download-artifact
 * leaves them) is searched for the JSON files that are, and other JSON files there are passed over.
 */
export function readPartialReports(specs: readonly string[]): PartialReport[] {
  const found = new Map<string, PartialReport>();
  for (const spec of specs) {
    if (!existsSync(spec)) throw new InputError(spec, 'does not exist (give the shards’ partial reports, or folders holding them)');
    if (statSync(spec).isDirectory()) {
      for (const file of jsonFilesUnder(spec)) {
        const partial = readPartial(file);
        if (partial) found.set(path.resolve(file), partial);
      }
      continue;
    }
    const partial = readPartial(spec);
    if (!partial) throw new InputError(spec, 'is not a partial report (it has no "shard" record): give the reports that backdoor-gate scan --shard i/n wrote');
    found.set(path.resolve(spec), partial);
  }
  if (!found.size) throw new InputError(specs.join(', '), 'holds no partial report of backdoor-gate scan --shard i/n');
  return [...found.values()];
}

/** The images a shard wrote beside its report (`<report name>-artifacts/`, as uploaded with it); none when they were not kept. */
export function readShardImages(partial: PartialReport): RenderedImage[] {
  const written = partial.report.artifacts;
  if (!written || !('dir' in written)) return [];
  const dir = path.join(path.dirname(partial.path), path.basename(written.dir));
  // Only plain PNG names: a report is input, and its file list must not reach outside the folder.
  return written.files
    .filter((name) => /^[\w.-]+\.png$/.test(name) && name !== 'overview.png' && existsSync(path.join(dir, name)))
    .map((name) => ({ name, png: readFileSync(path.join(dir, name)) }));
}

const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);

/** The shards in order, each once, all of one sharded scan; throws naming the file that does not fit. */
function checkShards(partials: readonly PartialReport[]): PartialReport[] {
  const [first] = partials;
  const count = first.report.shard!.count;
  const byIndex = new Map<number, PartialReport>();
  for (const p of partials) {
    const { shard, model, seed, policy } = p.report;
    const label = `shard ${shard!.index}/${shard!.count}`;
    if (shard!.count !== count) throw new InputError(p.path, `is ${label}, but ${first.path} is a shard of ${count}`);
    const twin = byIndex.get(shard!.index);
    if (twin && twin.digest !== p.digest) throw new InputError(p.path, `is ${label}, as ${twin.path} is: each shard once`);
    const differs = [
      model.digest !== first.report.model.digest && `the model (${model.digest} against ${first.report.model.digest})`,
      seed !== first.report.seed && `the seed (${seed} against ${first.report.seed})`,
      !same(policy?.budgets, first.report.policy?.budgets) && 'the budgets',
      !same(
        shard!.classes.map((c) => c.method),
        first.report.shard!.classes.map((c) => c.method),
      ) && 'the scans',
      !same(p.report.data, first.report.data) && 'the probe data',
      !same(shard!.context, first.report.shard!.context) && 'the model’s input or head',
      p.report.engine?.backend !== first.report.engine?.backend && `the backend (${p.report.engine?.backend} against ${first.report.engine?.backend})`,
      p.report.tool.version !== first.report.tool.version && `the tool version (${p.report.tool.version} against ${first.report.tool.version})`,
    ].filter(Boolean);
    if (differs.length) throw new InputError(p.path, `is not a shard of the same scan as ${first.path}: ${differs.join(', ')} differ`);
    byIndex.set(shard!.index, p);
  }
  const missing = [...Array(count).keys()].map((i) => i + 1).filter((i) => !byIndex.has(i));
  if (missing.length)
    throw new InputError(
      first.path,
      `is one of ${count} shards, but shard${missing.length > 1 ? 's' : ''} ${missing.join(', ')} ${missing.length > 1 ? 'are' : 'is'} missing`,
    );
  return [...byIndex.keys()].sort((a, b) => a - b).map((i) => byIndex.get(i)!);
}

/** Every class the whole scan runs in full is run by exactly one shard, and the shards agree which those are. */
function checkClasses(shards: readonly PartialReport[]): void {
  const methods = new Set(shards.flatMap((p) => p.report.shard!.classes.map((c) => c.method)));
  for (const method of methods) {
    const plans = shards.map((p) => ({ p, plan: p.report.shard!.classes.find((c) => c.method === method) }));
    const ranBy = new Map<number, string>();
    for (const { p, plan } of plans) {
      if (!plan || !same(plan.all, plans[0].plan?.all))
        throw new InputError(p.path, `its ${method} scan planned other classes than ${plans[0].p.path}'s (the screens differ: different engines or versions?)`);
      for (const c of plan.ran) {
        if (ranBy.has(c)) throw new InputError(p.path, `ran class ${c} of the ${method} scan, as ${ranBy.get(c)} did`);
        ranBy.set(c, p.path);
      }
    }
    const unrun = plans[0].plan!.all.filter((c) => !ranBy.has(c));
    if (unrun.length) throw new InputError(shards[0].path, `no shard ran class${unrun.length > 1 ? 'es' : ''} ${unrun.join(', ')} of the ${method} scan`);
  }
}

const mergeRecord = (partials: readonly PartialReport[]): MergeRecord => ({
  shards: partials.map((p) => ({ index: p.report.shard!.index, report: p.path, digest: p.digest, totalSeconds: p.report.timings.totalSeconds })),
});

/**
 * The merged report of a sharded scan: the verdict under `policy` (the merging job's thresholds,
 * prior and fail-on; the budgets, seed and scans are the shards'). Fails closed: a merge that does
 * not add up is verdict `error`, with the reason.
 */
export function mergeReports(partials: readonly PartialReport[], policy: Pick<Settings, 'thresholds' | 'prior' | 'failOn' | 'policySource'>): GateReport {
  const t0 = performance.now();
  const base = partials[0]?.report;
  const report = startReport(base?.seed ?? 0, base?.model ?? { spec: '' }, policy);
  report.policy!.budgets = base?.policy?.budgets;
  // A shard that could not scan fails the merge with its own error: the report a whole scan would
  // have written (the model's or the data's fault is every shard's), naming the shard.
  const failed = partials.find((p) => p.report.verdict === 'error');
  if (failed) {
    const { shard, ...own } = failed.report;
    return {
      ...own,
      reasons: [...own.reasons, `(from shard ${shard!.index}/${shard!.count}: ${failed.path})`],
      merged: mergeRecord(partials),
    };
  }
  try {
    if (!base) throw new InputError('merge', 'no partial report given');
    const shards = checkShards(partials);
    checkClasses(shards);
    const first = shards[0].report;
    const context = first.shard!.context!;
    Object.assign(report, { data: first.data, engine: first.engine, modelCheck: first.modelCheck });
    report.merged = mergeRecord(shards);
    // In the order of shard 1's table (it alone runs the Hessian scan).
    report.scans = first.scans.map((s) =>
      combineSummaries(
        shards.flatMap((p) => p.report.scans.filter((x) => x.method === s.method)),
        context.numClasses,
      ),
    );
    const totals = shards.map((p) => p.report.timings.totalSeconds ?? 0);
    report.timings.slowestShardSeconds = Math.max(...totals);
    report.timings.shardSecondsSum = Math.round(totals.reduce((a, b) => a + b, 0) * 100) / 100;
    judge(report, context, policy);
  } catch (err) {
    report.verdict = 'error';
    report.error = describeError(err);
    report.reasons.push(`could not merge the shards: ${report.error}`);
  }
  report.timings.mergeSeconds = Math.round(performance.now() - t0) / 1000;
  // Shards run side by side: the scan took as long as the slowest, then the merge.
  if (report.timings.slowestShardSeconds !== undefined)
    report.timings.totalSeconds = Math.round((report.timings.slowestShardSeconds + report.timings.mergeSeconds) * 100) / 100;
  return report;
}
