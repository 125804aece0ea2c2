// `npm run zoo`: trains the model zoo (the development benchmark: clean and backdoored classifiers
// over three data domains; see src/zoo/catalog.ts) deterministically.
//   tsx scripts/zoo.ts [--out zoo] [--only NAME[,NAME]] [--jobs N] [--reuse] [--split tuning|test]
//                      [--domains mnist,signs43,…] [--round 1|2|3|4|5] [--export-examples]
// --reuse keeps models already trained (their zoo-card.json exists) and trains the rest.
// Without --only it runs one child process per model, N at a time (default: one per core).
import { spawn } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { initWasm } from '../src/engine/backend.js';
import { directoryWriter } from '../src/model/save.js';
import { benchmarkOrder, DOMAIN_EPOCHS, EXAMPLE_MODELS, epochsFor, ZOO_TRAINING, zooCatalog, type ZooEntry } from '../src/zoo/catalog.js';
import { domain, type DataSplit, type Domain, type TaskData } from '../src/zoo/domains.js';
import { accuracy, attackSuccessRate, labelAccuracy, poisonDataset, predictClasses, trainClassifier } from '../src/zoo/train.js';
import { writeGateJson } from '../src/model/gate-json.js';

const { values } = parseArgs({
  options: {
    out: { type: 'string', default: 'zoo' },
    only: { type: 'string' },
    jobs: { type: 'string', default: String(Math.max(1, os.availableParallelism?.() ?? os.cpus().length)) },
    'export-examples': { type: 'boolean', default: false },
    reuse: { type: 'boolean', default: false },
    split: { type: 'string' },
    domains: { type: 'string' },
    round: { type: 'string' },
  },
});
const outDir = path.resolve(values.out!);

export interface ZooCard {
  name: string;
  domain: ZooEntry['domain'];
  arch: string;
  head: ZooEntry['head'];
  split: ZooEntry['split'];
  round: ZooEntry['round'];
  /** Classes (labels, for multi-label heads). */
  outputs: number;
  seed: number;
  attack: ZooEntry['attack'] | null;
  poisonedTrainingImages: number;
  cleanAccuracy: number;
  attackSuccessRate: number | null;
  trainSeconds: number;
  backend: string;
  testSet: string;
}

/** A domain split, generated once and kept under <out>/.data (procedural images take seconds to draw). */
function cachedSplit(d: Domain, split: DataSplit): TaskData {
  const file = path.join(outDir, '.data', `${d.name}-${split}.bin`);
  const [h, w, c] = d.shape;
  if (existsSync(file)) {
    const buf = readFileSync(file);
    const count = buf.readUInt32LE(0);
    const n = h * w * c;
    const L = d.multiLabel ? d.outputs : 0;
    const copy = (offset: number, bytes: number) => new Uint8Array(buf.buffer.slice(buf.byteOffset + offset, buf.byteOffset + offset + bytes));
    const x = new Float32Array(copy(4, count * n * 4).buffer);
    const labels = new Int32Array(copy(4 + count * n * 4, count * 4).buffer);
    const multi = L ? copy(4 + count * (n + 1) * 4, count * L) : undefined;
    return { x, labels, count, height: h, width: w, channels: c, source: `${d.name}:${split}`, ...(multi ? { multi } : {}) };
  }
  const data = d.split(split);
  mkdirSync(path.dirname(file), { recursive: true });
  const head = Buffer.alloc(4);
  head.writeUInt32LE(data.count);
  writeFileSync(
    `${file}.tmp`,
    Buffer.concat([
      head,
      Buffer.from(data.x.buffer, data.x.byteOffset, data.x.byteLength),
      Buffer.from(data.labels.buffer, data.labels.byteOffset, data.labels.byteLength),
      ...(data.multi ? [Buffer.from(data.multi)] : []),
    ]),
  );
  renameSync(`${file}.tmp`, file);
  return data;
}

async function trainOne(entry: ZooEntry): Promise<ZooCard> {
  await initWasm();
  const d = domain(entry.domain);
  const train = cachedSplit(d, 'train');
  const test = cachedSplit(d, 'test');
  const { data, poisoned } = entry.attack ? poisonDataset(train, entry.attack, entry.seed, d.outputs) : { data: train, poisoned: 0 };
  const t0 = performance.now();
  const model = trainClassifier(
    { arch: entry.arch, seed: entry.seed, ...ZOO_TRAINING, epochs: epochsFor(entry), attack: entry.attack, head: entry.head, outputs: d.outputs },
    data,
  );
  const trainSeconds = (performance.now() - t0) / 1000;
  const cleanAccuracy = d.multiLabel ? labelAccuracy(model, test) : accuracy(predictClasses(model, test.x, test.count, ...d.shape), test.labels);
  const asr = entry.attack ? attackSuccessRate(model, test, entry.attack, d.outputs) : null;
  const dir = path.join(outDir, entry.name);
  rmSync(dir, { recursive: true, force: true }); // the zoo directory is this script's own output
  await model.save(directoryWriter(dir));
  writeGateJson(dir, { input: { range: [0, 1] }, classes: d.classNames, ...(entry.head === 'multi-label' ? { head: 'multi-label' as const } : {}) });
  const card: ZooCard = {
    name: entry.name,
    domain: entry.domain,
    arch: entry.arch,
    head: entry.head,
    split: entry.split,
    round: entry.round,
    outputs: d.outputs,
    seed: entry.seed,
    attack: entry.attack ?? null,
    poisonedTrainingImages: poisoned,
    cleanAccuracy,
    attackSuccessRate: asr,
    trainSeconds: Math.round(trainSeconds * 10) / 10,
    backend: 'wasm',
    testSet: `${test.source} (${test.count} images never trained on)`,
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
      console.log(`${card.name} [${card.split}]: clean accuracy ${(100 * card.cleanAccuracy).toFixed(2)}%${asr} (${card.trainSeconds}s)`);
    }
    return;
  }
  const t0 = performance.now();
  mkdirSync(outDir, { recursive: true });
  const trained = (name: string) => existsSync(path.join(outDir, name, 'zoo-card.json'));
  // --split / --domains / --round train part of the benchmark; the tuning split goes first.
  const wanted = (e: ZooEntry) =>
    (!values.split || e.split === values.split) &&
    (!values.domains || values.domains.split(',').includes(e.domain)) &&
    (!values.round || e.round === Number(values.round));
  const queue = benchmarkOrder(catalog.filter((e) => wanted(e) && !(values.reuse && trained(e.name))));
  const trainedNow = queue.length;
  const jobs = Math.max(1, Number(values.jobs));
  await Promise.all(
    Array.from({ length: jobs }, async () => {
      for (let e = queue.shift(); e; e = queue.shift()) await runChild(e.name);
    }),
  );
  const cards = catalog.filter((e) => trained(e.name)).map((e) => JSON.parse(readFileSync(path.join(outDir, e.name, 'zoo-card.json'), 'utf8')) as ZooCard);
  const seconds = Math.round((performance.now() - t0) / 100) / 10;
  // With --reuse only part of the zoo was trained now: the wall time is then not the zoo's.
  const timing = trainedNow === cards.length ? { wallSeconds: seconds } : { wallSecondsThisRun: seconds, trainedThisRun: trainedNow };
  writeFileSync(
    path.join(outDir, 'manifest.json'),
    `${JSON.stringify({ generatedBy: 'scripts/zoo.ts', trainingRecipe: { ...ZOO_TRAINING, epochsPerDomain: DOMAIN_EPOCHS }, ...timing, jobs, models: cards }, null, 2)}\n`,
  );
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
