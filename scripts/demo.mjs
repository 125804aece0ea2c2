// `npm run demo`: scans every bundled example model with the shipped CLI (dist/cli.js), using the
// bundled probe digits (examples/data/mnist-probe), and prints each verdict and where its report
// went. Exits non-zero only if the demo itself breaks.
import { spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const modelsDir = path.join(root, 'examples', 'models');
const reportsDir = path.join(root, 'demo-reports');
mkdirSync(reportsDir, { recursive: true });
const meaning = { 0: 'pass', 1: 'fail', 2: 'could not scan' };

let broken = 0;
for (const name of readdirSync(modelsDir).sort()) {
  const card = JSON.parse(readFileSync(path.join(modelsDir, name, 'zoo-card.json'), 'utf8'));
  const truth = card.attack ? `backdoored (${card.attack.family}, target ${card.attack.target})` : 'clean';
  const report = path.join(reportsDir, `${name}.json`);
  const data = path.join(root, 'examples', 'data', 'mnist-probe');
  const run = spawnSync(process.execPath, [path.join(root, 'dist', 'cli.js'), 'scan', path.join(modelsDir, name), '--data', data, '--report', report], {
    encoding: 'utf8',
  });
  let verdict = '?';
  let detail = '';
  try {
    const r = JSON.parse(readFileSync(report, 'utf8'));
    verdict = r.verdict;
    detail = `score ${r.score ?? 'n/a'}${r.suspectedTarget == null ? '' : `, target ${r.suspectedTarget}`}, ${r.timings.totalSeconds}s`;
  } catch {
    broken++;
  }
  console.log(
    `${name.padEnd(20)} truth: ${truth.padEnd(34)} verdict: ${verdict.padEnd(11)} (${detail}) exit ${run.status} (${meaning[run.status] ?? 'unexpected'})  report: ${path.relative(root, report)}`,
  );
  if (run.status !== 0 && run.status !== 1 && run.status !== 2) {
    broken++;
    process.stderr.write(run.stderr);
  }
}
process.exit(broken ? 1 : 0);
