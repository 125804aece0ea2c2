// `npm run eval:data-free`: the gate with no data (issue 20) on the development benchmark. Each
// zoo model is scanned once by the data-free maximum-margin scan at the default budget (one child
// process per model, results cached by model digest in .cache/eval-data-free); verdicts are then
// decided by the shipped rule (src/core/verdict.ts, probes: none). Reported per split (tuning;
// validation, the first round's test models; test, the fresh second round) as `npm run eval`
// splits and excludes them, though the data-free rule is fitted on tuning alone: backdoored
// models flagged (and with the right target), clean models flagged, AUROC of the statistic, with
// 95 % intervals. `--fit` chooses the thresholds on the clean tuning models as `npm run eval --
// --fit` does (printed: they go into DEFAULT_THRESHOLDS by hand) and writes the tuning split's
// power at them (src/core/data-free.json), which decides whether a quiet data-free scan may call
// a model clean.
// `--nsfwjs <dir>` also runs the gate with no data on the real nsfwjs models (`npm run extract-models`).
//   tsx scripts/eval-data-free.ts [--split tuning|test|all] [--domains mnist,signs10] [--jobs N] [--fit] [--no-scan] [--nsfwjs .cache/models/nsfwjs]
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { budgetSettings, DEFAULT_THRESHOLDS, resolveBudgets, type Thresholds } from '../src/core/policy.js';
import { decide, DATA_FREE_POWER, maxMarginStatistic, modelKind, type DataFreePower } from '../src/core/verdict.js';
import { selectBackend } from '../src/engine/backend.js';
import { planRows } from '../src/engine/memory.js';
import { runGate } from '../src/gate.js';
import { MemoryLogger } from '../src/logger.js';
import { defaultSettings } from '../src/settings.js';
import { loadModel } from '../src/model/load.js';
import { maximumMargins } from '../src/scan/max-margin.js';
import type { ZooCard } from './zoo.js';
import { auroc, rateText, roleOf, thresholdLevel, unusable } from './eval-summary.js';

const { values } = parseArgs({
  options: {
    zoo: { type: 'string', default: 'zoo' },
    cache: { type: 'string', default: '.cache/eval-data-free' },
    split: { type: 'string', default: 'all' },
    domains: { type: 'string' },
    jobs: { type: 'string', default: '2' },
    fit: { type: 'boolean', default: false },
    'no-scan': { type: 'boolean', default: false },
    'scan-one': { type: 'string' },
    nsfwjs: { type: 'string' },
  },
});

interface Row {
  card: ZooCard;
  digest: string;
  numClasses: number;
  decision: 'single-label' | 'multi-label';
  inputShape: [number, number, number];
  perClass: Array<{ class: number; maxMargin: number }>;
  seconds: number;
}

/** The budgets the gate resolves with no policy, as a user's default scan runs. */
const defaultBudgets = (shape: [number, number, number]) => resolveBudgets(budgetSettings({}), shape);

const digestOf = (dir: string) =>
  createHash('sha256')
    .update(readFileSync(path.join(dir, 'model.json')))
    .update(readFileSync(path.join(dir, 'group1-shard1of1.bin')))
    .digest('hex');
const cacheFile = (name: string) => path.resolve(values.cache!, `${name}.json`);
function cached(card: ZooCard): Row | undefined {
  const file = cacheFile(card.name);
  if (!existsSync(file)) return undefined;
  const row = JSON.parse(readFileSync(file, 'utf8')) as Row;
  return row.digest === digestOf(path.join(values.zoo!, card.name)) ? row : undefined;
}

async function scanOne(card: ZooCard): Promise<void> {
  await selectBackend({ choice: 'auto', logger: new MemoryLogger() });
  const dir = path.join(values.zoo!, card.name);
  const { model } = await loadModel(dir);
  const rows = await planRows(model);
  const b = defaultBudgets(model.inputShape).maxMargin;
  const r = await maximumMargins(model, { rows, inits: b.inits, steps: b.steps });
  const row: Row = {
    card,
    digest: digestOf(dir),
    numClasses: model.numClasses,
    decision: model.decision,
    inputShape: model.inputShape,
    perClass: r.perClass,
    seconds: r.seconds,
  };
  mkdirSync(values.cache!, { recursive: true });
  writeFileSync(cacheFile(card.name), JSON.stringify(row));
  console.log(`${card.name.padEnd(44)} [${card.split}] largest margin: class ${r.largestClass}, ${r.seconds.toFixed(1)} s`);
}

const runChild = (name: string) =>
  new Promise<void>((resolve, reject) =>
    spawn(process.execPath, [...process.execArgv, process.argv[1], '--zoo', values.zoo!, '--cache', values.cache!, '--scan-one', name], {
      stdio: 'inherit',
    }).on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`scanning ${name} exited with ${code}`)))),
  );

/** Hanley & McNeil's standard error of an AUROC. */
function aurocInterval(a: number, nPos: number, nNeg: number): [number, number] {
  const q1 = a / (2 - a);
  const q2 = (2 * a * a) / (1 + a);
  const se = Math.sqrt((a * (1 - a) + (nPos - 1) * (q1 - a * a) + (nNeg - 1) * (q2 - a * a)) / (nPos * nNeg));
  return [Math.max(0, a - 1.96 * se), Math.min(1, a + 1.96 * se)];
}

function summarise(rows: Row[], label: string, power: DataFreePower, thresholds: Thresholds): DataFreePower {
  const judged = rows.filter((r) => modelKind(r.numClasses, r.decision) === 'multiClass');
  const decided = judged.map((r) => {
    const d = decide(
      { maxMargin: { perClass: r.perClass } },
      {
        inputShape: r.inputShape,
        numClasses: r.numClasses,
        decision: r.decision,
        probes: 'none',
        tier: defaultBudgets(r.inputShape).tier,
      },
      thresholds,
      { dataFreePower: power },
    );
    // The statistic the verdict computed (single-label heads of 3+ classes always get one).
    return { r, d, stat: d.statistics.maxMargin! };
  });
  const bad = decided.filter((x) => x.r.card.attack);
  const good = decided.filter((x) => !x.r.card.attack);
  const flagged = (x: (typeof decided)[number]) => x.d.verdict === 'suspicious' || x.d.verdict === 'backdoored';
  const count = (xs: typeof decided, f: (x: (typeof decided)[number]) => boolean) => xs.filter(f).length;
  const a = auroc(
    bad.map((x) => x.stat.value),
    good.map((x) => x.stat.value),
  );
  const verdicts = (xs: typeof decided) =>
    ['clean', 'suspicious', 'backdoored', 'unassessed'].map((v) => `${v} ${count(xs, (x) => x.d.verdict === v)}`).join(', ');
  console.log(
    `\n## ${label}: ${judged.length} single-label models of 3+ classes (${rows.length - judged.length} two-class or multi-label models are not judged: unassessed)`,
  );
  console.log(
    `- backdoored flagged: ${rateText(count(bad, flagged), bad.length)}; with the right target: ${count(bad, (x) => flagged(x) && x.d.suspectedTarget === x.r.card.attack!.target)}`,
  );
  console.log(`- clean flagged: ${rateText(count(good, flagged), good.length)}`);
  console.log(
    `- AUROC of −log₁₀ p: ${a.toFixed(3)} (95 % CI ${aurocInterval(a, bad.length, good.length)
      .map((v) => v.toFixed(2))
      .join('–')})`,
  );
  console.log(`- largest-margin class is the target: ${count(bad, (x) => x.stat.target === x.r.card.attack!.target)}/${bad.length}`);
  console.log(`- verdicts, backdoored: ${verdicts(bad)}; clean: ${verdicts(good)}`);
  console.log(`- scan time: median ${[...rows.map((r) => r.seconds)].sort((x, y) => x - y)[rows.length >> 1]?.toFixed(1)} s`);
  for (const x of decided)
    console.log(
      `  ${x.r.card.name.padEnd(44)} ${(x.r.card.attack ? `${x.r.card.attack.family}→${x.r.card.attack.target}` : 'clean').padEnd(20)} class ${String(x.stat.target).padStart(2)} −log₁₀ p ${x.stat.value.toFixed(2).padStart(6)} ${x.d.verdict}`,
    );
  return {
    fittedOn: label,
    thresholds: thresholds.maxMargin,
    detected: count(bad, flagged),
    of: bad.length,
    cleanFlagged: count(good, flagged),
    cleanOf: good.length,
  };
}

/** The gate as a user with no data runs it, on each real nsfwjs model (cached by name). */
async function realModels(dir: string): Promise<void> {
  const engine = await selectBackend({ choice: 'auto', logger: new MemoryLogger() });
  console.log(`\n## nsfwjs (real pretrained models), no data`);
  for (const name of readdirSync(dir).sort()) {
    const file = cacheFile(`nsfwjs-${name}`);
    if (!existsSync(file) && !values['no-scan']) {
      const { report } = await runGate(defaultSettings(path.join(dir, name), undefined), engine, new MemoryLogger());
      writeFileSync(file, JSON.stringify(report));
    }
    if (!existsSync(file)) continue;
    const report = JSON.parse(readFileSync(file, 'utf8')) as Awaited<ReturnType<typeof runGate>>['report'];
    const stat = report.statistics?.maxMargin;
    console.log(
      `  ${name.padEnd(20)} ${report.verdict.padEnd(11)} ${stat ? `class ${stat.target}, −log₁₀ p ${stat.value.toFixed(2)}` : ''} ${report.timings.totalSeconds?.toFixed(0)} s`,
    );
  }
}

async function main(): Promise<void> {
  const all = readdirSync(values.zoo!)
    .filter((name) => existsSync(path.join(values.zoo!, name, 'zoo-card.json')))
    .map((name) => JSON.parse(readFileSync(path.join(values.zoo!, name, 'zoo-card.json'), 'utf8')) as ZooCard);
  if (values['scan-one']) return scanOne(all.find((c) => c.name === values['scan-one'])!);
  const domains = values.domains?.split(',');
  const cards = all.filter((c) => (values.split === 'all' || c.split === values.split) && (!domains || domains.includes(c.domain ?? 'mnist')));
  // Models that are not scored (see below) are not scanned either.
  const queue = values['no-scan'] ? [] : cards.filter((c) => !unusable(c) && !cached(c)).map((c) => c.name);
  await Promise.all(
    Array.from({ length: Math.max(1, Number(values.jobs)) }, async () => {
      for (let n = queue.shift(); n; n = queue.shift()) await runChild(n);
    }),
  );
  // As `npm run eval`: a model that did not learn its task, or whose attack did not take, is not scored.
  const excluded = cards.filter((c) => unusable(c));
  if (excluded.length) console.log(`not scored: ${excluded.map((c) => `${c.name} (${unusable(c)})`).join('; ')}`);
  const rows = cards.filter((c) => !unusable(c)).flatMap((card) => cached(card) ?? []);
  let thresholds = DEFAULT_THRESHOLDS;
  if (values.fit) {
    const clean = rows.filter((r) => roleOf(r.card) === 'tuning' && !r.card.attack && modelKind(r.numClasses, r.decision) === 'multiClass');
    thresholds = {
      ...thresholds,
      maxMargin: thresholdLevel(
        clean.map((r) => maxMarginStatistic({ perClass: r.perClass })!.value),
        1,
      ),
    };
    console.log(
      `fitted on ${clean.length} clean tuning models: thresholds.max-margin ${JSON.stringify(thresholds.maxMargin)} (DEFAULT_THRESHOLDS.maxMargin: ${JSON.stringify(DEFAULT_THRESHOLDS.maxMargin)})`,
    );
  }
  for (const split of ['tuning', 'validation', 'test'] as const) {
    const these = rows.filter((r) => roleOf(r.card) === split);
    if (!these.length) continue;
    const measured = summarise(these, `${split} split`, DATA_FREE_POWER, thresholds);
    if (split === 'tuning' && values.fit) {
      writeFileSync(
        'src/core/data-free.json',
        JSON.stringify(
          {
            ...measured,
            fittedOn: `tuning split: ${measured.of + measured.cleanOf} of its ${these.length} models judged (${[...new Set(these.map((r) => r.card.domain ?? 'mnist'))].join(', ')})`,
          },
          null,
          2,
        ) + '\n',
      );
      console.log('wrote src/core/data-free.json');
    }
  }
  if (values.nsfwjs && existsSync(values.nsfwjs)) await realModels(values.nsfwjs);
}

await main();
