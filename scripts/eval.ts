// `npm run eval`: the gate on the development benchmark (`npm run zoo`). Each zoo model is
// scanned once by the gate's own pipeline (runGate, default policy, 256 unlabelled held-out
// images of its domain as probes) and the scan evidence is cached by model digest; verdicts are
// then decided from that evidence by the shipped decision rule (src/core/verdict.ts), so
// `--fit` can refit the rule's parameters on the tuning split without scanning again. Reported:
// the test split (and tuning, for reference), per domain, attack family, architecture and class
// count, with 95 % Wilson intervals; AUROC; target accuracy; the score's cross-entropy; the
// nsfwjs models when extracted (`npm run extract-models`).
//   tsx scripts/eval.ts [--zoo zoo] [--split test|tuning|all] [--jobs N] [--only a,b]
//                       [--fit] [--fit-network-kinds] [--no-scan] [--write-docs] [--nsfwjs .cache/models/nsfwjs] [--out eval-results.json]
//                       [--probe-images N --cache <another cache> [--fit-probe-power [--reference-cache .cache/eval]]] (the scans read N of the 256 probes)
import { execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { writeNpy } from '../src/data/npy.js';
import { selectBackend } from '../src/engine/backend.js';
import { runGate } from '../src/gate.js';
import { loadModel } from '../src/model/load.js';
import { MemoryLogger } from '../src/logger.js';
import { defaultSettings, type Settings } from '../src/settings.js';
import type { ScanName } from '../src/core/policy.js';
import type { GateReport } from '../src/report/types.js';
import { domain, type DomainName } from '../src/zoo/domains.js';
import type { ZooCard } from './zoo.js';
import { evidenceOf, markdownTables, powerAtProbeCount, summarise, type EvalRow } from './eval-summary.js';
import type { FewerProbesPower } from '../src/core/verdict.js';
import { benchmarkOrder, zooCatalog } from '../src/zoo/catalog.js';

const { values } = parseArgs({
  options: {
    zoo: { type: 'string', default: 'zoo' },
    split: { type: 'string', default: 'all' },
    nsfwjs: { type: 'string', default: '.cache/models/nsfwjs' },
    cache: { type: 'string', default: '.cache/eval' },
    out: { type: 'string', default: 'eval-results.json' },
    only: { type: 'string' },
    jobs: { type: 'string', default: String(Math.max(1, os.availableParallelism?.() ?? os.cpus().length)) },
    fit: { type: 'boolean', default: false },
    'fit-network-kinds': { type: 'boolean', default: false },
    'write-docs': { type: 'boolean', default: false },
    /** Summarise what is cached; scan nothing. */
    'no-scan': { type: 'boolean', default: false },
    'scan-one': { type: 'string' },
    /** Scan models of more classes than this on the many-class schedule (default: the policy's, 48), to compare it with full scans; use another --cache. */
    'schedule-above': { type: 'string' },
    /** Let the scans read only the first N of the 256 probes, to measure the power on fewer; use another --cache. */
    'probe-images': { type: 'string' },
    /** With --probe-images: write the shipped rule's power on these tuning scans into src/core/probe-power.json. */
    'fit-probe-power': { type: 'boolean', default: false },
    /** With --fit-probe-power: the cache of the same models scanned with all 256 probes, compared model by model. */
    'reference-cache': { type: 'string', default: '.cache/eval' },
  },
});

const PROBE_IMAGES = 256;

/** The domain's first 256 held-out images as x.npy: unlabelled in-distribution probes. */
function probeData(name: DomainName): string {
  const dir = path.resolve(values.cache!, 'probes', name);
  if (!existsSync(path.join(dir, 'x.npy'))) {
    const d = domain(name);
    const held = d.split('heldout');
    mkdirSync(dir, { recursive: true });
    writeNpy(path.join(dir, 'x.npy'), held.x.subarray(0, PROBE_IMAGES * d.shape[0] * d.shape[1] * d.shape[2]), [PROBE_IMAGES, ...d.shape]);
  }
  return dir;
}

const cacheFile = (name: string, cache = values.cache!) => path.resolve(cache, 'rows', `${name}.json`);
const digestOf = (dir: string) =>
  createHash('sha256')
    .update(readFileSync(path.join(dir, 'model.json')))
    .update(readFileSync(path.join(dir, 'group1-shard1of1.bin')))
    .digest('hex');

interface CachedScan {
  digest: string;
  report: GateReport;
  seconds: number;
  /** The code that scanned (scanningCommit); the cache is keyed by the model alone. */
  commit?: string;
}

/**
 * The last commit that changed the scanning code (src/ or this script; commits to docs or tests
 * do not change the evidence), and whether they had uncommitted changes; "unknown" outside git.
 */
function scanningCommit(): string {
  try {
    const code = ['--', 'src', 'scripts/eval.ts'];
    const head = execFileSync('git', ['log', '-1', '--format=%h', ...code], { encoding: 'utf8' }).trim();
    const changed = execFileSync('git', ['status', '--porcelain', ...code], { encoding: 'utf8' }).trim() !== '';
    return changed ? `${head}+changes` : head;
  } catch {
    return 'unknown';
  }
}

/** Scans one model with the gate (child process) and caches the report. */
async function scanOne(card: ZooCard): Promise<void> {
  const dir = path.join(values.zoo!, card.name);
  const engine = await selectBackend({ choice: 'auto', logger: new MemoryLogger() });
  // The Hessian scan reports but does not vote: the benchmark leaves it out to save time.
  const base = defaultSettings(dir, probeData(card.domain ?? 'mnist'));
  const settings: Settings = Object.freeze({
    ...base,
    scans: ['inversion', 'mask-inversion'] as ScanName[],
    ...(values['schedule-above'] ? { budgets: { ...base.budgets, schedule: { allClassesUpTo: Number(values['schedule-above']) } } } : {}),
    ...(values['probe-images'] ? { maxProbeImages: Number(values['probe-images']) } : {}),
  });
  const t0 = performance.now();
  const { report } = await runGate(settings, engine, new MemoryLogger());
  const seconds = (performance.now() - t0) / 1000;
  mkdirSync(path.dirname(cacheFile(card.name)), { recursive: true });
  writeFileSync(cacheFile(card.name), JSON.stringify({ digest: digestOf(dir), report, seconds, commit: scanningCommit() } satisfies CachedScan));
  console.log(`${card.name.padEnd(44)} [${card.split}] ${report.verdict.padEnd(10)} ${seconds.toFixed(1)}s`);
}

function runChild(name: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      [
        ...process.execArgv,
        process.argv[1],
        '--zoo',
        values.zoo!,
        '--cache',
        values.cache!,
        '--scan-one',
        name,
        ...(values['schedule-above'] ? ['--schedule-above', values['schedule-above']] : []),
        ...(values['probe-images'] ? ['--probe-images', values['probe-images']] : []),
      ],
      {
        stdio: ['ignore', 'inherit', 'inherit'],
      },
    );
    child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`scanning ${name} exited with ${code}`))));
  });
}

function cached(card: ZooCard, cache = values.cache!): CachedScan | undefined {
  const file = cacheFile(card.name, cache);
  if (!existsSync(file)) return undefined;
  const c = JSON.parse(readFileSync(file, 'utf8')) as CachedScan;
  return c.digest === digestOf(path.join(values.zoo!, card.name)) ? c : undefined;
}

/** The rows of cached scans, with the network's structure read from the model where the report predates it. */
async function rowsOf(scans: Array<{ card: ZooCard; scan: CachedScan | undefined }>): Promise<EvalRow[]> {
  const unread = scans.filter(({ scan }) => scan?.report.model.inputShape && !scan.report.model.structure);
  if (unread.length) await selectBackend({ choice: 'auto', logger: new MemoryLogger() });
  for (const { card, scan } of unread) {
    const { model } = await loadModel(path.join(values.zoo!, card.name));
    scan!.report.model.structure = model.structure;
    model.dispose();
  }
  return scans.flatMap(({ card, scan }) => (scan ? [{ card, report: scan.report, seconds: scan.seconds, evidence: evidenceOf(scan.report) }] : []));
}

async function main(): Promise<void> {
  // Every trained model's card (a zoo still being trained is evaluated as far as it goes).
  if (!existsSync(values.zoo!)) throw new Error(`${values.zoo} not found: run npm run zoo first`);
  const all = readdirSync(values.zoo!)
    .filter((name) => existsSync(path.join(values.zoo!, name, 'zoo-card.json')))
    .map((name) => JSON.parse(readFileSync(path.join(values.zoo!, name, 'zoo-card.json'), 'utf8')) as ZooCard);
  if (values['scan-one']) {
    await scanOne(all.find((c) => c.name === values['scan-one'])!);
    return;
  }
  const only = values.only?.split(',');
  const cards = all.filter((c) => (!only || only.includes(c.name)) && (values.split === 'all' || (c.split ?? 'tuning') === values.split));
  // Scan what is not cached yet, N models at a time (one process each: tfjs state stays per model).
  // Tuning first (the fit needs it), then the test split in the benchmark's balanced order.
  const queue = values['no-scan'] ? [] : benchmarkOrder(cards.filter((c) => !cached(c)).map((c) => ({ ...c, attack: c.attack ?? undefined })));
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: Math.max(1, Number(values.jobs)) }, async () => {
      for (let c = queue.shift(); c; c = queue.shift()) await runChild(c.name);
    }),
  );
  // Each cache file is read and its model hashed once.
  const scans = cards.map((card) => ({ card, scan: cached(card) }));
  if (!values['no-scan'] && scans.some((s) => !s.scan)) throw new Error('some scans did not produce a cached report');
  console.log(`scanned in ${((performance.now() - t0) / 1000).toFixed(0)}s (cache: ${values.cache})`);
  // Which code produced the evidence: cached scans outlive the code that made them.
  const byCommit = new Map<string, number>();
  for (const { scan } of scans) if (scan) byCommit.set(scan.commit ?? 'unrecorded', (byCommit.get(scan.commit ?? 'unrecorded') ?? 0) + 1);
  const provenance = `evidence scanned at ${[...byCommit].map(([c, n]) => `${c} (${n})`).join(', ')}`;
  console.log(provenance);

  const rows = await rowsOf(scans);
  const real: EvalRow[] = [];
  if (existsSync(values.nsfwjs!) && !values['no-scan']) {
    const engine = await selectBackend({ choice: 'auto', logger: new MemoryLogger() });
    for (const name of readdirSync(values.nsfwjs!).sort()) {
      if (only && !only.includes(name)) continue;
      const file = cacheFile(`nsfwjs-${name}`);
      let report: GateReport;
      let seconds: number;
      if (existsSync(file)) ({ report, seconds } = JSON.parse(readFileSync(file, 'utf8')) as CachedScan);
      else {
        // No natural-image probes ship with the gate: the probe scans run on synthetic images
        // (`data: synthetic`); what a user with no data gets is `npm run eval:data-free`'s.
        const t = performance.now();
        report = (await runGate(defaultSettings(path.join(values.nsfwjs!, name), 'synthetic'), engine, new MemoryLogger())).report;
        seconds = (performance.now() - t) / 1000;
        writeFileSync(file, JSON.stringify({ digest: '', report, seconds }));
      }
      real.push({
        card: { name, domain: undefined, split: 'real', arch: 'nsfwjs', attack: null } as unknown as ZooCard,
        report,
        seconds,
        evidence: evidenceOf(report),
      });
    }
  } else console.log(`${values.nsfwjs} not found (npm run extract-models): the nsfwjs models are not in this run`);
  if (values['fit-probe-power']) {
    if (!values['probe-images']) throw new Error('--fit-probe-power measures the power of scans on fewer probes: give --probe-images and its --cache');
    const file = 'src/core/probe-power.json';
    const table = JSON.parse(readFileSync(file, 'utf8')) as FewerProbesPower;
    // The same models' scans on all 256 probes, for the model-by-model comparison.
    const reference = await rowsOf(cards.map((card) => ({ card, scan: cached(card, values['reference-cache']) })));
    const entry = powerAtProbeCount(rows, reference);
    const counts = [...table.counts.filter((c) => c.probeImages !== entry.probeImages), entry].sort((a, b) => a.probeImages - b.probeImages);
    const fittedOn = `benchmark tuning split, the shipped thresholds, scans reading ${counts.map((c) => c.probeImages).join(' or ')} of the 256 probe images (npm run eval -- --probe-images N --fit-probe-power)`;
    writeFileSync(file, `${JSON.stringify({ fittedOn, counts } satisfies FewerProbesPower, null, 2)}\n`);
    console.log(`wrote ${file}: ${JSON.stringify(entry)}; rebuild dist`);
  }
  const summary = summarise(rows, real, { fit: values.fit, fitNetworkKinds: values['fit-network-kinds'] });
  writeFileSync(values.out!, `${JSON.stringify(summary, null, 2)}\n`);
  if (values['write-docs']) {
    const scanned = `${rows.length} of ${all.length} trained zoo models scanned (${all.length} trained of ${zooCatalog().length} in the catalog; ${provenance})`;
    writeFileSync('docs/benchmark-results.md', markdownTables(summary, { date: new Date().toISOString().slice(0, 10), scanned }));
    console.log('wrote docs/benchmark-results.md');
  }
  console.log(JSON.stringify({ ...summary, rows: undefined }, null, 2));
}

main().catch((err) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
