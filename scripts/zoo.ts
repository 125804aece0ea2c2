// `npm run zoo`: trains the model zoo (clean and backdoored MNIST classifiers) deterministically.
//   tsx scripts/zoo.ts [--out zoo] [--only NAME[,NAME]] [--jobs N] [--reuse] [--export-examples]
// --reuse keeps models already trained (their zoo-card.json exists) and trains the rest.
// Without --only it runs one child process per model, N at a time (default: one per core).
import { spawn } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { mnistSplit } from '../src/data/mnist.js';
import { initWasm } from '../src/engine/backend.js';
import { directoryWriter } from '../src/model/save.js';
import { EXAMPLE_MODELS, ZOO_TRAINING, zooCatalog, type ZooEntry } from '../src/zoo/catalog.js';
import { accuracy, attackSuccessRate, poisonDataset, predictClasses, trainClassifier } from '../src/zoo/train.js';
import { writeGateJson } from '../src/model/gate-json.js';

const { values } = parseArgs({
  options: {
    out: { type: 'string', default: 'zoo' },
    only: { type: 'string' },
    jobs: { type: 'string', default: String(Math.max(1, os.availableParallelism?.() ?? os.cpus().length)) },
    'export-examples': { type: 'boolean', default: false },
    reuse: { type: 'boolean', default: false },
  },
});
const outDir = path.resolve(values.out!);

export interface ZooCard {
  name: string;
  arch: string;
  seed: number;
  attack: ZooEntry['attack'] | null;
  poisonedTrainingImages: number;
  cleanAccuracy: number;
  attackSuccessRate: number | null;
  trainSeconds: number;
  backend: string;
  testSet: string;
}

async function trainOne(entry: ZooEntry): Promise<ZooCard> {
  await initWasm();
  const train = mnistSplit('train');
  const test = mnistSplit('test');
  const { data, poisoned } = entry.attack ? poisonDataset(train, entry.attack, entry.seed) : { data: train, poisoned: 0 };
  const t0 = performance.now();
  const model = trainClassifier({ arch: entry.arch, seed: entry.seed, ...ZOO_TRAINING, attack: entry.attack }, data);
  const trainSeconds = (performance.now() - t0) / 1000;
  const cleanAccuracy = accuracy(predictClasses(model, test.x, test.count, 28, 28, 1), test.labels);
  const asr = entry.attack ? attackSuccessRate(model, test, entry.attack) : null;
  const dir = path.join(outDir, entry.name);
  rmSync(dir, { recursive: true, force: true }); // the zoo directory is this script's own output
  await model.save(directoryWriter(dir));
  writeGateJson(dir, { input: { range: [0, 1] }, classes: Array.from({ length: 10 }, (_, i) => String(i)) });
  const card: ZooCard = {
    name: entry.name,
    arch: entry.arch,
    seed: entry.seed,
    attack: entry.attack ?? null,
    poisonedTrainingImages: poisoned,
    cleanAccuracy,
    attackSuccessRate: asr,
    trainSeconds: Math.round(trainSeconds * 10) / 10,
    backend: 'wasm',
    testSet: `${test.source} (${test.count} digits never trained on)`,
  };
  writeFileSync(path.join(dir, 'zoo-card.json'), `${JSON.stringify(card, null, 2)}\n`);
  return card;
}

function runChild(name: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...process.execArgv, process.argv[1], '--out', outDir, '--only', name], { stdio: ['ignore', 'inherit', 'inherit'] });
    child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`training ${name} exited with ${code}`))));
  });
}

async function main(): Promise<void> {
  const catalog = zooCatalog();
  if (values.only) {
    for (const name of values.only.split(',')) {
      const entry = catalog.find((e) => e.name === name);
      if (!entry) throw new Error(`unknown zoo model '${name}' (known: ${catalog.map((e) => e.name).join(', ')})`);
      const card = await trainOne(entry);
      const asr = card.attackSuccessRate === null ? '' : ` ASR ${(100 * card.attackSuccessRate).toFixed(1)}%`;
      console.log(`${card.name}: clean accuracy ${(100 * card.cleanAccuracy).toFixed(2)}%${asr} (${card.trainSeconds}s)`);
    }
    return;
  }
  const t0 = performance.now();
  mkdirSync(outDir, { recursive: true });
  const trained = (name: string) => existsSync(path.join(outDir, name, 'zoo-card.json'));
  const queue = catalog.filter((e) => !(values.reuse && trained(e.name)));
  const trainedNow = queue.length;
  const jobs = Math.max(1, Number(values.jobs));
  await Promise.all(Array.from({ length: jobs }, async () => {
    for (let e = queue.shift(); e; e = queue.shift()) await runChild(e.name);
  }));
  const cards = catalog.map((e) => JSON.parse(readFileSync(path.join(outDir, e.name, 'zoo-card.json'), 'utf8')) as ZooCard);
  const seconds = Math.round((performance.now() - t0) / 100) / 10;
  // With --reuse only part of the zoo was trained now: the wall time is then not the zoo's.
  const timing = trainedNow === cards.length ? { wallSeconds: seconds } : { wallSecondsThisRun: seconds, trainedThisRun: trainedNow };
  writeFileSync(path.join(outDir, 'manifest.json'), `${JSON.stringify({ generatedBy: 'scripts/zoo.ts', trainingRecipe: ZOO_TRAINING, ...timing, jobs, models: cards }, null, 2)}\n`);
  console.log(`zoo: ${trainedNow} of ${cards.length} models trained in ${seconds}s with ${jobs} parallel jobs → ${path.join(outDir, 'manifest.json')}`);
  if (values['export-examples']) {
    for (const name of EXAMPLE_MODELS) {
      const dest = path.resolve('examples', 'models', name);
      if (existsSync(dest)) rmSync(dest, { recursive: true });
      cpSync(path.join(outDir, name), dest, { recursive: true });
    }
    console.log(`copied ${EXAMPLE_MODELS.join(', ')} to examples/models/`);
  }
}

main().catch((err) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
