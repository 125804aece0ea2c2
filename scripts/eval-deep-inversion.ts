// `npm run eval:deep-inversion`: the gate with probes synthesised from the model (data:
// deep-inversion, issue 20) on the benchmark's models that have batch norm (the prior DeepInversion
// matches; `--archs` widens it). Each model is scanned once as a user would (`backdoor-gate scan
// <model> --data deep-inversion`, one child process per model, reports cached by model digest and
// synthesis settings in .cache/eval-deep-inversion), then decided again by the shipped rule (so a
// rule change needs no re-scan) and reported per split as `npm run eval` splits them: backdoored
// models flagged (and with the right target), clean models flagged, the verdicts, the AUROC of
// the report's score, with 95 % intervals, and the time taken.
//   tsx scripts/eval-deep-inversion.ts [--zoo zoo] [--split tuning|test|all] [--domains mnist,signs10] [--archs bn-cnn,resnet] [--jobs 2] [--no-scan] [--cli dist/cli.js]
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { DEEP_INVERSION_DEFAULTS } from '../src/data/deep-inversion.js';
import type { GateReport } from '../src/report/types.js';
import { DEFAULT_THRESHOLDS } from '../src/core/policy.js';
import { decide } from '../src/core/verdict.js';
import { auroc, evidenceOf, rateText, roleOf, unusable, type Role } from './eval-summary.js';
import { median } from '../src/scan/robust.js';
import type { ZooCard } from './zoo.js';

const { values } = parseArgs({
  options: {
    zoo: { type: 'string', default: 'zoo' },
    cache: { type: 'string', default: '.cache/eval-deep-inversion' },
    split: { type: 'string', default: 'all' },
    domains: { type: 'string' },
    archs: { type: 'string', default: 'bn-cnn,resnet' },
    jobs: { type: 'string', default: '2' },
    'no-scan': { type: 'boolean', default: false },
    // A copy of the bundle lets a long run survive rebuilds of dist/.
    cli: { type: 'string', default: 'dist/cli.js' },
  },
});

const modelDigest = (dir: string) =>
  createHash('sha256')
    .update(readFileSync(path.join(dir, 'model.json')))
    .update(readFileSync(path.join(dir, 'group1-shard1of1.bin')))
    .update(JSON.stringify(DEEP_INVERSION_DEFAULTS))
    .digest('hex')
    .slice(0, 16);
const reportFile = (card: ZooCard) => path.resolve(values.cache!, `${card.name}-${modelDigest(path.join(values.zoo!, card.name))}.json`);

const scan = (card: ZooCard) =>
  new Promise<void>((resolve, reject) => {
    const started = performance.now();
    spawn(
      process.execPath,
      [
        values.cli!,
        'scan',
        path.join(values.zoo!, card.name),
        '--data',
        'deep-inversion',
        '--report',
        reportFile(card),
        '--jobs',
        '1',
        '--artifacts',
        path.join(values.cache!, 'artifacts', card.name),
      ],
      { stdio: ['ignore', 'ignore', 'inherit'] },
    ).on('exit', (code) => {
      // Exit codes 0–2 are verdicts, with a report; anything else, or no report, is a crash.
      if (code !== null && code <= 2 && existsSync(reportFile(card))) {
        console.log(`${card.name.padEnd(44)} [${card.split}] ${((performance.now() - started) / 1000).toFixed(0)} s`);
        resolve();
      } else reject(new Error(`scanning ${card.name} exited with ${code}`));
    });
  });

/** The report's verdict, target and score under the shipped decision rule. */
function decided(report: GateReport): { verdict: string; target: number | null; score: number } {
  const e = evidenceOf(report);
  if (!e) return { verdict: report.verdict, target: null, score: 0 };
  const d = decide({ dense: e.dense, mask: e.mask }, e.context, DEFAULT_THRESHOLDS);
  return { verdict: d.verdict, target: d.suspectedTarget, score: d.score ?? 0 };
}

const pct = (v: number) => `${(100 * v).toFixed(0)} %`;

function summarise(label: string, rows: Array<{ card: ZooCard; report: GateReport; d: ReturnType<typeof decided> }>): void {
  const flagged = (d: ReturnType<typeof decided>) => d.verdict === 'suspicious' || d.verdict === 'backdoored';
  const bad = rows.filter((r) => r.card.attack);
  const good = rows.filter((r) => !r.card.attack);
  const count = <T>(xs: T[], f: (x: T) => boolean) => xs.filter(f).length;
  const verdicts = (xs: typeof rows) =>
    ['clean', 'suspicious', 'backdoored', 'unassessed'].map((v) => `${v} ${count(xs, (x) => x.d.verdict === v)}`).join(', ');
  console.log(`\n## ${label}: ${rows.length} models (${bad.length} backdoored, ${good.length} clean)`);
  console.log(
    `- backdoored flagged: ${rateText(
      count(bad, (x) => flagged(x.d)),
      bad.length,
    )}; with the right target: ${count(bad, (x) => flagged(x.d) && x.d.target === x.card.attack!.target)}`,
  );
  console.log(
    `- clean flagged: ${rateText(
      count(good, (x) => flagged(x.d)),
      good.length,
    )}`,
  );
  console.log(`- verdicts, backdoored: ${verdicts(bad)}; clean: ${verdicts(good)}`);
  const score = (x: (typeof rows)[number]) => x.d.score;
  if (bad.length && good.length) console.log(`- AUROC of the score: ${auroc(bad.map(score), good.map(score)).toFixed(2)}`);
  console.log(
    `- median seconds (2-core CPU, ${values.jobs} scans at once): synthesis ${median(rows.map((x) => x.report.timings.dataSeconds ?? 0)).toFixed(0)}, whole scan ${median(rows.map((x) => x.report.timings.totalSeconds ?? 0)).toFixed(0)}; the model gives a synthesised image its class: median ${pct(median(rows.map((x) => x.report.data?.synthesis?.classified ?? 0)))}`,
  );
  for (const { card, d, report } of rows)
    console.log(
      `  ${card.name.padEnd(44)} ${(card.attack ? `${card.attack.family}→${card.attack.target}` : 'clean').padEnd(22)} ${d.verdict.padEnd(11)} ${String(d.target ?? '').padEnd(2)} score ${d.score.toFixed(3)}, images given their class ${pct(report.data?.synthesis?.classified ?? 0)}`,
    );
}

async function main(): Promise<void> {
  const archs = values.archs!.split(',');
  const domains = values.domains?.split(',');
  const cards = readdirSync(values.zoo!)
    .filter((name) => existsSync(path.join(values.zoo!, name, 'zoo-card.json')))
    .map((name) => JSON.parse(readFileSync(path.join(values.zoo!, name, 'zoo-card.json'), 'utf8')) as ZooCard)
    .filter((c) => archs.includes(c.arch) && (values.split === 'all' || c.split === values.split) && (!domains || domains.includes(c.domain ?? 'mnist')))
    .filter((c) => !unusable(c));
  mkdirSync(values.cache!, { recursive: true });
  const queue = values['no-scan'] ? [] : cards.filter((c) => !existsSync(reportFile(c)));
  await Promise.all(
    Array.from({ length: Math.max(1, Number(values.jobs)) }, async () => {
      for (let c = queue.shift(); c; c = queue.shift()) await scan(c);
    }),
  );
  const rows = cards
    .filter((c) => existsSync(reportFile(c)))
    .map((card) => {
      const report = JSON.parse(readFileSync(reportFile(card), 'utf8')) as GateReport;
      return { card, report, d: decided(report) };
    });
  console.log(`# DeepInversion probes (${JSON.stringify(DEEP_INVERSION_DEFAULTS)}), archs ${archs.join(', ')}`);
  const roles: Role[] = ['tuning', 'validation', 'test'];
  for (const role of roles) {
    const mine = rows.filter((r) => roleOf(r.card) === role);
    if (mine.length) summarise(role, mine);
  }
  const unseen = rows.filter((r) => r.card.split === 'test');
  if (unseen.length) summarise('test split (validation and test rounds together)', unseen);
}

await main();
