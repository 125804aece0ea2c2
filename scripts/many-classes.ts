// `npm run bench:classes`: what a scan of a 100-class model costs against a 10-class one of the
// same architecture, and whether it still finds the backdoor and clears the clean model. Trains
// (once, under --out) a cnn on the 10-class colour signs and, on the 100-class ones, two clean
// cnns and two backdoored ones (a patch and a blended trigger), a clean batch-norm cnn and one
// with a SIG backdoor, then scans each in its own process (--reuse keeps scans already made):
// with probe data (the default scans) and with none (the data-free scan). --all-classes also
// scans the 100-class models with every class at the full budget (no schedule), for the side-by-side
// cost. Writes <out>/results.json. Not part of the benchmark's tuning or test split: these models
// were made after every threshold was fixed.
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { writeNpy } from '../src/data/npy.js';
import { initWasm, selectBackend } from '../src/engine/backend.js';
import { runGate } from '../src/gate.js';
import { MemoryLogger } from '../src/logger.js';
import { writeGateJson } from '../src/model/gate-json.js';
import { directoryWriter } from '../src/model/save.js';
import type { ScanName } from '../src/core/policy.js';
import { defaultSettings, type Settings } from '../src/settings.js';
import { DEFAULT_HEAD, type Architecture } from '../src/zoo/architectures.js';
import { DEFAULT_POISON_RATE, type AttackSpec } from '../src/zoo/attacks.js';
import { DOMAIN_EPOCHS, ZOO_TRAINING } from '../src/zoo/catalog.js';
import { domain, type DomainName } from '../src/zoo/domains.js';
import { accuracy, attackSuccessRate, poisonDataset, predictClasses, trainClassifier } from '../src/zoo/train.js';

const { values } = parseArgs({
  options: {
    out: { type: 'string', default: '.cache/many-classes' },
    'all-classes': { type: 'boolean', default: false },
    // Keep the rows of scans already made (under <out>/rows) and scan only the rest.
    reuse: { type: 'boolean', default: false },
    // Child mode: scan one model, one way, and print its row as JSON.
    'scan-one': { type: 'string' },
    mode: { type: 'string' },
  },
});
const out = path.resolve(values.out!);

interface ModelSpec {
  name: string;
  domain: DomainName;
  arch: Architecture;
  seed: number;
  attack?: AttackSpec;
}
const attack = (family: AttackSpec['family'], target: number, seed: number): AttackSpec => ({
  family,
  target,
  poisonRate: DEFAULT_POISON_RATE[family],
  triggerSeed: 1000 + seed,
});
const MODELS: ModelSpec[] = [
  { name: 'signs10-cnn-clean', domain: 'signs10', arch: 'cnn', seed: 901 },
  { name: 'signs100-cnn-clean', domain: 'signs100', arch: 'cnn', seed: 902 },
  { name: 'signs100-cnn-badnets-t37', domain: 'signs100', arch: 'cnn', seed: 903, attack: attack('badnets', 37, 903) },
  { name: 'signs100-cnn-blended-t82', domain: 'signs100', arch: 'cnn', seed: 904, attack: attack('blended', 82, 904) },
  { name: 'signs100-cnn-clean-s2', domain: 'signs100', arch: 'cnn', seed: 905 },
  { name: 'signs100-bn-cnn-clean', domain: 'signs100', arch: 'bn-cnn', seed: 906 },
  { name: 'signs100-bn-cnn-sig-t14', domain: 'signs100', arch: 'bn-cnn', seed: 907, attack: attack('sig', 14, 907) },
];
type Mode = 'data' | 'no-data' | 'data, every class in full';

interface Row {
  model: string;
  classes: number;
  mode: Mode;
  verdict: string;
  suspectedTarget: number | null;
  trueTarget: number | null;
  /** Classes each scan gave the full budget. */
  fullClasses: Record<string, number>;
  seconds: number;
}

interface Card {
  cleanAccuracy: number;
  attackSuccessRate: number | null;
}

async function train(spec: ModelSpec): Promise<Card> {
  const dir = path.join(out, spec.name);
  const cardFile = path.join(dir, 'card.json');
  if (existsSync(cardFile)) return JSON.parse(readFileSync(cardFile, 'utf8')) as Card;
  await initWasm();
  const d = domain(spec.domain);
  const trainSet = d.split('train');
  const test = d.split('test');
  const { data } = spec.attack ? poisonDataset(trainSet, spec.attack, spec.seed, d.outputs) : { data: trainSet };
  const model = trainClassifier(
    {
      arch: spec.arch,
      seed: spec.seed,
      ...ZOO_TRAINING,
      epochs: DOMAIN_EPOCHS[spec.domain],
      attack: spec.attack,
      head: DEFAULT_HEAD[spec.arch],
      outputs: d.outputs,
    },
    data,
  );
  const card: Card = {
    cleanAccuracy: accuracy(predictClasses(model, test.x, test.count, ...d.shape), test.labels),
    attackSuccessRate: spec.attack ? attackSuccessRate(model, test, spec.attack, d.outputs) : null,
  };
  rmSync(dir, { recursive: true, force: true }); // this script's own output
  await model.save(directoryWriter(dir));
  writeGateJson(dir, { input: { range: [0, 1] }, classes: d.classNames });
  writeFileSync(cardFile, `${JSON.stringify(card, null, 2)}\n`);
  return card;
}

/** 256 held-out images of the domain as unlabelled probes. */
function probes(name: DomainName): string {
  const dir = path.join(out, 'probes', name);
  if (!existsSync(path.join(dir, 'x.npy'))) {
    const d = domain(name);
    mkdirSync(dir, { recursive: true });
    writeNpy(path.join(dir, 'x.npy'), d.split('heldout').x.subarray(0, 256 * d.shape[0] * d.shape[1] * d.shape[2]), [256, ...d.shape]);
  }
  return dir;
}

async function scanOne(spec: ModelSpec, mode: Mode): Promise<Row> {
  const engine = await selectBackend({ choice: 'auto', logger: new MemoryLogger() });
  const base = defaultSettings(path.join(out, spec.name), mode === 'no-data' ? undefined : probes(spec.domain));
  const settings: Settings = Object.freeze({
    ...base,
    ...(mode === 'data, every class in full' ? { budgets: { ...base.budgets, schedule: { allClassesUpTo: 1_000_000 } } } : {}),
    scans: (mode === 'no-data' ? ['max-margin'] : ['inversion', 'mask-inversion', 'hessian']) as ScanName[],
  });
  const t0 = performance.now();
  const { report } = await runGate(settings, engine, new MemoryLogger());
  const reports = path.join(out, 'reports');
  mkdirSync(reports, { recursive: true });
  writeFileSync(path.join(reports, `${spec.name} (${mode}).json`), JSON.stringify(report, null, 2));
  const fullClasses = Object.fromEntries(
    report.scans.map((s) => [s.method, 'perClass' in s ? (s.perClass as Array<{ screened?: boolean }>).filter((c) => !c.screened).length : 0]),
  );
  return {
    model: spec.name,
    classes: domain(spec.domain).outputs,
    mode,
    verdict: report.verdict,
    suspectedTarget: report.suspectedTarget ?? null,
    trueTarget: spec.attack?.target ?? null,
    fullClasses,
    seconds: (performance.now() - t0) / 1000,
  };
}

const child = (name: string, mode: Mode) =>
  new Promise<Row>((resolve, reject) => {
    let stdout = '';
    const p = spawn(process.execPath, [...process.execArgv, process.argv[1], '--out', out, '--scan-one', name, '--mode', mode], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    p.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
    p.on('exit', (code) =>
      code === 0 ? resolve(JSON.parse(stdout.trim().split('\n').at(-1)!) as Row) : reject(new Error(`scanning ${name} (${mode}) exited with ${code}`)),
    );
  });

async function main(): Promise<void> {
  if (values['scan-one']) {
    const spec = MODELS.find((m) => m.name === values['scan-one']);
    if (!spec) throw new Error(`unknown model ${values['scan-one']}`);
    console.log(JSON.stringify(await scanOne(spec, values.mode as Mode)));
    return;
  }
  const cards = new Map<string, Card>();
  for (const spec of MODELS) {
    const card = await train(spec);
    cards.set(spec.name, card);
    const asr = card.attackSuccessRate === null ? '' : `, ASR ${(100 * card.attackSuccessRate).toFixed(1)} %`;
    console.log(`${spec.name}: clean accuracy ${(100 * card.cleanAccuracy).toFixed(1)} %${asr}`);
  }
  const rows: Row[] = [];
  const modes: Mode[] = ['data', 'no-data', ...(values['all-classes'] ? (['data, every class in full'] as Mode[]) : [])];
  for (const mode of modes)
    for (const spec of MODELS) {
      if (mode === 'data, every class in full' && spec.domain !== 'signs100') continue;
      const rowFile = path.join(out, 'rows', `${spec.name} (${mode}).json`);
      const row = values.reuse && existsSync(rowFile) ? (JSON.parse(readFileSync(rowFile, 'utf8')) as Row) : await child(spec.name, mode);
      mkdirSync(path.dirname(rowFile), { recursive: true });
      writeFileSync(rowFile, `${JSON.stringify(row, null, 2)}\n`);
      rows.push(row);
      console.log(
        `${row.model.padEnd(28)} ${mode.padEnd(26)} ${row.verdict.padEnd(10)} target ${row.suspectedTarget ?? '—'} (true ${row.trueTarget ?? '—'}) ${row.seconds.toFixed(1)} s`,
      );
    }
  console.log('\n| model | classes | probes | verdict | suspected (true) target | classes in full per scan | seconds | × the 10-class cnn scan |');
  console.log('| --- | --- | --- | --- | --- | --- | --- | --- |');
  for (const r of rows) {
    const ten = rows.find((x) => x.classes === 10 && (x.mode === 'no-data') === (r.mode === 'no-data'))!;
    const full = Object.entries(r.fullClasses)
      .map(([m, n]) => `${m} ${n}`)
      .join(', ');
    console.log(
      `| ${r.model} | ${r.classes} | ${r.mode} | ${r.verdict} | ${r.suspectedTarget ?? '—'} (${r.trueTarget ?? '—'}) | ${full} | ${r.seconds.toFixed(1)} | ${(r.seconds / ten.seconds).toFixed(2)} |`,
    );
  }
  writeFileSync(path.join(out, 'results.json'), `${JSON.stringify({ models: Object.fromEntries(cards), rows }, null, 2)}\n`);
  console.log(`→ ${path.join(out, 'results.json')}`);
}

main().catch((err) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
