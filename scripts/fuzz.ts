// `npm run fuzz`: mutates the valid example models (model.json text and values, weight shards,
// bundles), the PyTorch ONNX fixtures (bytes, and decoded values, types, wiring and opsets) and
// the example policy file, runs each mutant through the gate's pipeline, and counts
// what must stay zero: crashes (an exception escaping the pipeline, or a worker dying), hangs
// (a case over the per-case bound), passes for unreadable input, unclear errors (not one line, or
// not naming a file), and files written outside the work directory. Seeded, so a run is repeatable.
//   tsx scripts/fuzz.ts [--mutants 2000] [--minutes 10] [--case-seconds 30] [--workers 2] [--seed 1] [--out fuzz-results.json]
import { fork, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import * as tar from 'tar';
import { decodeOnnx, encodeOnnx, type OnnxModel } from '../src/model/onnx/proto.js';
import { mulberry32 } from '../src/util/random.js';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const SEED_MODELS = ['bn-cnn-clean-s1', 'cnn-blended-t4'].map((m) => path.join(REPO, 'examples/models', m));
const SEED_ONNX = ['cnn-mnist', 'vit-mnist'].map((m) => path.join(REPO, 'test/fixtures/onnx', m));
const SEED_POLICY = path.join(REPO, 'examples/backdoor-gate.yml');
const PROBE = path.join(REPO, 'examples/data/mnist-probe');

type Kind = 'model-json-bytes' | 'model-json-values' | 'shard' | 'bundle' | 'policy' | 'onnx-bytes' | 'onnx-values';
interface Mutant {
  id: number;
  kind: Kind;
  /** The model directory or bundle (model kinds) or the policy file. */
  target: string;
  what: string;
}
interface Outcome {
  id: number;
  verdict?: string;
  error?: string;
  /** An exception escaped the pipeline (a crash). */
  crash?: string;
  /** The message is not one line or names no file. */
  unclear?: string;
  /** A verdict that passes the gate for input that could not be read. */
  passedUnreadable?: boolean;
  rssMb: number;
  seconds: number;
}

// ---------------------------------------------------------------------------------------------
// Mutators (parent side): each writes one mutant under `dir` and says what it did.

type Rand = () => number;
const pick = <T>(rand: Rand, items: readonly T[]): T => items[Math.floor(rand() * items.length)];
const HOSTILE_VALUES: unknown[] = [
  null,
  -1,
  0,
  1e12,
  2 ** 53,
  -(2 ** 31),
  3.5,
  'NaN',
  '',
  '../../etc/passwd',
  '/etc/passwd',
  [],
  {},
  [[[[[[]]]]]],
  true,
  'float64',
  'string',
  'x'.repeat(10_000),
  [1e9, 1e9],
];

function mutateBytes(buf: Buffer, rand: Rand): { data: Buffer; what: string } {
  const op = pick(rand, ['flip', 'truncate', 'insert', 'duplicate', 'zero'] as const);
  const at = Math.floor(rand() * Math.max(1, buf.length));
  switch (op) {
    case 'flip': {
      const out = Buffer.from(buf);
      for (let i = 0; i < 1 + Math.floor(rand() * 8); i++) out[(at + i * 97) % out.length] ^= 1 << Math.floor(rand() * 8);
      return { data: out, what: `flip bytes near ${at}` };
    }
    case 'truncate':
      return { data: buf.subarray(0, at), what: `truncate at ${at}` };
    case 'insert':
      return {
        data: Buffer.concat([buf.subarray(0, at), Buffer.from(pick(rand, ['{', ']', '"', '\\', '\u0000', ',', '[[[[[[', 'NaN', '\uFFFF'])), buf.subarray(at)]),
        what: `insert at ${at}`,
      };
    case 'duplicate':
      return { data: Buffer.concat([buf, buf.subarray(at)]), what: `duplicate tail from ${at}` };
    case 'zero':
      return { data: Buffer.concat([buf.subarray(0, at), Buffer.alloc(Math.min(64, buf.length - at)), buf.subarray(at + 64)]), what: `zero 64 bytes at ${at}` };
  }
}

/** Every [parent, key] in a JSON tree, to pick one to change. */
function slots(node: unknown, out: [Record<string, unknown> | unknown[], string | number][] = []): typeof out {
  if (Array.isArray(node)) {
    node.forEach((v, i) => {
      out.push([node, i]);
      slots(v, out);
    });
  } else if (node && typeof node === 'object') {
    for (const [k, v] of Object.entries(node)) {
      out.push([node as Record<string, unknown>, k]);
      slots(v, out);
    }
  }
  return out;
}

function mutateJsonValues(json: Record<string, unknown>, rand: Rand): string {
  const all = slots(json);
  // Half the time aim at the manifest (shapes, dtypes, paths, byte layout), where the checks live.
  const manifest = json.weightsManifest ? slots(json.weightsManifest) : [];
  const [parent, key] = pick(rand, rand() < 0.5 && manifest.length ? manifest : all);
  if (rand() < 0.2 && !Array.isArray(parent)) {
    delete (parent as Record<string, unknown>)[key as string];
    return `delete ${String(key)}`;
  }
  const value = pick(rand, HOSTILE_VALUES);
  (parent as Record<string | number, unknown>)[key] = value;
  return `${String(key)} = ${JSON.stringify(value)?.slice(0, 40)}`;
}

function mutateShard(dir: string, rand: Rand): string {
  const shard = readdirSync(dir).find((f) => f.endsWith('.bin'))!;
  const file = path.join(dir, shard);
  const data = readFileSync(file);
  const op = pick(rand, ['bytes', 'special-floats', 'symlink', 'directory', 'empty'] as const);
  if (op === 'bytes') {
    const m = mutateBytes(data, rand);
    writeFileSync(file, m.data);
    return `shard: ${m.what}`;
  }
  if (op === 'special-floats') {
    const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
    const value = pick(rand, [Number.NaN, Number.POSITIVE_INFINITY, -Number.MAX_VALUE, 3.4e38, 1e-45]);
    const at = 4 * Math.floor((rand() * data.length) / 4);
    view.setFloat32(Math.min(at, data.length - 4), value, true);
    writeFileSync(file, data);
    return `shard: float ${value} at ${at}`;
  }
  unlinkSync(file);
  if (op === 'symlink') symlinkSync(pick(rand, ['/etc/passwd', '/dev/zero', '..', path.join(dir, 'model.json')]), file);
  else if (op === 'directory') mkdirSync(file);
  else writeFileSync(file, '');
  return `shard: ${op}`;
}

/** One structural change to a decoded ONNX model: values, types, shapes, wiring, opset. */
function mutateOnnx(m: OnnxModel, rand: Rand): string {
  const g = m.graph!;
  const nodes = g.node ?? [];
  const n = pick(rand, nodes);
  const t = pick(rand, g.initializer ?? []);
  const num = () => pick(rand, [-1, 0, 1, 2, 7, 1e9, -(2 ** 31), 2 ** 40, 3]);
  switch (pick(rand, ['attr', 'dims', 'dtype', 'input', 'op', 'opset', 'drop', 'graph-input'] as const)) {
    case 'attr': {
      const a = n.attribute?.length ? pick(rand, n.attribute) : undefined;
      if (!a) return `node ${n.name}: no attribute`;
      if (a.ints) a.ints = a.ints.map(() => num());
      else a.i = num();
      return `node ${n.name}: attribute ${a.name} set to hostile values`;
    }
    case 'dims':
      t.dims = (t.dims ?? []).map(() => num());
      return `initialiser ${t.name}: dims [${t.dims.join(', ')}]`;
    case 'dtype':
      t.dataType = pick(rand, [0, 2, 7, 8, 10, 11, 14, 16, 99]);
      return `initialiser ${t.name}: data type ${t.dataType}`;
    case 'input':
      if (n.input?.length) n.input[Math.floor(rand() * n.input.length)] = pick(rand, ['', 'nowhere', n.output?.[0] ?? 'x', g.output?.[0]?.name ?? 'y']);
      return `node ${n.name}: input rewired`;
    case 'op':
      n.opType = pick(rand, ['Conv', 'Gemm', 'Reshape', 'Softmax', 'Gather', 'Slice', 'Concat', 'MatMul', 'LayerNormalization', 'Split', 'Loop', 'If']);
      return `node ${n.name}: op changed to ${n.opType}`;
    case 'opset':
      m.opsetImport = [{ domain: '', version: num() }];
      return `opset ${m.opsetImport[0].version}`;
    case 'drop':
      g.node = nodes.filter((x) => x !== n);
      return `node ${n.name} removed`;
    case 'graph-input': {
      const dims = g.input?.[0]?.type?.tensorType?.shape?.dim ?? [];
      for (const d of dims) d.dimValue = num();
      return 'graph input dims changed';
    }
  }
}

async function writeMutant(kind: Kind, id: number, root: string, rand: Rand): Promise<Mutant> {
  const dir = path.join(root, `m${id}`);
  if (kind === 'onnx-bytes' || kind === 'onnx-values') {
    const seedOnnx = pick(rand, SEED_ONNX);
    cpSync(seedOnnx, dir, { recursive: true });
    const file = path.join(dir, 'model.onnx');
    const bytes = readFileSync(file);
    let what: string;
    if (kind === 'onnx-bytes') {
      const m = mutateBytes(bytes, rand);
      writeFileSync(file, m.data);
      what = m.what;
    } else {
      const model = decodeOnnx(bytes, file);
      what = mutateOnnx(model, rand);
      writeFileSync(file, encodeOnnx(model));
    }
    return { id, kind, target: dir, what: `${path.basename(seedOnnx)} model.onnx: ${what}` };
  }
  const seed = pick(rand, SEED_MODELS);
  if (kind === 'policy') {
    mkdirSync(dir);
    const file = path.join(dir, 'policy.yml');
    const text = readFileSync(SEED_POLICY);
    if (rand() < 0.5) {
      const m = mutateBytes(text, rand);
      writeFileSync(file, m.data);
      return { id, kind, target: file, what: `policy: ${m.what}` };
    }
    const { parse, stringify } = await import('yaml');
    const doc = parse(text.toString('utf8')) as Record<string, unknown>;
    const what = mutateJsonValues(doc, rand);
    writeFileSync(file, stringify(doc));
    return { id, kind, target: file, what: `policy: ${what}` };
  }
  cpSync(seed, dir, { recursive: true });
  const modelJson = path.join(dir, 'model.json');
  let what: string;
  if (kind === 'model-json-bytes') {
    const m = mutateBytes(readFileSync(modelJson), rand);
    writeFileSync(modelJson, m.data);
    what = `model.json: ${m.what}`;
  } else if (kind === 'model-json-values') {
    const json = JSON.parse(readFileSync(modelJson, 'utf8')) as Record<string, unknown>;
    what = `model.json: ${mutateJsonValues(json, rand)}`;
    writeFileSync(modelJson, JSON.stringify(json));
  } else if (kind === 'shard') {
    what = mutateShard(dir, rand);
  } else {
    // A bundle of the (valid) model, with its bytes mutated.
    const file = path.join(root, `m${id}.${rand() < 0.5 ? 'tar.gz' : 'tar'}`);
    await tar.c({ gzip: file.endsWith('.gz'), file, cwd: dir, portable: true, mtime: new Date(0) }, readdirSync(dir).sort());
    const m = mutateBytes(readFileSync(file), rand);
    writeFileSync(file, m.data);
    rmSync(dir, { recursive: true });
    return { id, kind, target: file, what: `bundle: ${m.what}` };
  }
  return { id, kind, target: dir, what: `${path.basename(seed)}: ${what}` };
}

// ---------------------------------------------------------------------------------------------
// Worker side: runs mutants through the pipeline and reports each outcome.

async function worker(): Promise<void> {
  const { buildSettings } = await import('../src/settings.js');
  const { readPolicy } = await import('../src/core/policy.js');
  const { selectBackend } = await import('../src/engine/backend.js');
  const { runGate } = await import('../src/gate.js');
  const { readGitHubContext } = await import('../src/github/context.js');
  const { modelLocator } = await import('../src/github/locator.js');
  const { writeReportFiles } = await import('../src/report/json.js');
  const { exitCodeFor } = await import('../src/report/types.js');
  const { checkConclusion } = await import('../src/report/check.js');
  const { InputError, ConfigurationError, describeError } = await import('../src/errors.js');
  const { MemoryLogger } = await import('../src/logger.js');
  const logger = new MemoryLogger();
  const engine = await selectBackend({ choice: 'wasm', logger });
  const work = process.cwd();

  // An exception that escapes a case asynchronously (a stream's late error event) kills the
  // worker; say which, with its stack, on stderr first, where the parent keeps it.
  const say = (event: string) => (err: unknown) =>
    process.stderr.write(`worker ${event}: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.prependListener('uncaughtException', say('uncaughtException'));
  // A listener would swallow unhandled rejections: rethrow, as Node does without one.
  process.prependListener('unhandledRejection', (err) => {
    say('unhandledRejection')(err);
    throw err;
  });
  // The harness's own test injects faults to prove it sees them (BG_FUZZ_INJECT=crash|hang).
  const inject = process.env.BG_FUZZ_INJECT;
  process.on('message', async (m: Mutant) => {
    if (inject && m.id === 3) {
      if (inject === 'crash')
        setImmediate(() => {
          throw new Error('injected crash');
        });
      else for (;;);
      return;
    }
    const t0 = performance.now();
    const outcome: Outcome = { id: m.id, rssMb: 0, seconds: 0 };
    try {
      if (m.kind === 'policy') {
        try {
          const settings = buildSettings((name) => ({ model: SEED_MODELS[0], policy: m.target, scans: 'none' })[name], readPolicy);
          outcome.verdict = `policy accepted (${settings.scans.length} scans)`;
        } catch (err) {
          outcome.error = describeError(err);
          if (!(err instanceof InputError || err instanceof ConfigurationError)) outcome.crash = `${(err as Error).name}: ${(err as Error).message}`;
          else if (!outcome.error.includes(m.target) || outcome.error.includes('\n')) outcome.unclear = outcome.error;
        }
      } else {
        const inputs: Record<string, string> = { model: m.target, data: PROBE, scans: 'none', 'max-probe-images': '8' };
        const settings = buildSettings(
          (name) => inputs[name],
          () => ({ policy: {}, source: 'defaults (fuzz)' }),
        );
        const { locate } = modelLocator(settings, { ctx: readGitHubContext('', {}), logger });
        const { report, images } = await runGate(settings, engine, logger, locate);
        writeReportFiles(report, images, path.join(work, `r${m.id}.json`), path.join(work, `r${m.id}-artifacts`));
        outcome.verdict = report.verdict;
        outcome.error = report.error;
        if (report.verdict === 'error') {
          if (!report.error || report.error.includes('\n') || !/[/\\]|\.json|\.bin|\.tar|\.gz/.test(report.error))
            outcome.unclear = report.error ?? '(no message)';
          // Fail closed: an unreadable model never passes, and only on-error: warn makes it neutral.
          if (
            exitCodeFor('error') === 0 ||
            checkConclusion(report, 'suspicious', 'fail') !== 'failure' ||
            checkConclusion(report, 'suspicious', 'warn') !== 'neutral'
          )
            outcome.passedUnreadable = true;
        } else if (report.verdict !== 'unassessed') {
          // With no detector configured, a readable model can only be unassessed.
          outcome.passedUnreadable = true;
        }
      }
    } catch (err) {
      outcome.crash = `${(err as Error)?.name}: ${(err as Error)?.message}`.split('\n')[0];
    }
    outcome.seconds = (performance.now() - t0) / 1000;
    outcome.rssMb = Math.round(process.memoryUsage().rss / 2 ** 20);
    process.send!(outcome);
  });
  process.send!({ ready: true });
}

// ---------------------------------------------------------------------------------------------
// Parent: makes mutants, hands them to workers, enforces the per-case bound, counts.

function countBy(keys: string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const k of keys) out[k] = (out[k] ?? 0) + 1;
  return out;
}

function treeDigest(dir: string): string {
  const hash = createHash('sha256');
  for (const e of readdirSync(dir, { recursive: true, withFileTypes: true })
    .map((x) => path.join(x.parentPath, x.name))
    .sort()) {
    hash.update(e);
    if (statSync(e).isFile()) hash.update(readFileSync(e));
  }
  return hash.digest('hex');
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      mutants: { type: 'string', default: '2000' },
      minutes: { type: 'string', default: '10' },
      'case-seconds': { type: 'string', default: '30' },
      workers: { type: 'string', default: String(Math.max(1, Math.min(2, os.cpus().length))) },
      seed: { type: 'string', default: '1' },
      out: { type: 'string', default: 'fuzz-results.json' },
      worker: { type: 'boolean', default: false },
    },
  });
  if (values.worker) return worker();
  const total = Number(values.mutants);
  const deadline = Date.now() + Number(values.minutes) * 60_000;
  const caseMs = Number(values['case-seconds']) * 1000;
  const seed = Number(values.seed);
  const root = mkdtempSync(path.join(os.tmpdir(), 'bg-fuzz-'));
  const mutantsDir = path.join(root, 'mutants');
  const work = path.join(root, 'work');
  mkdirSync(mutantsDir);
  mkdirSync(work);
  const seedDigests = () =>
    [...SEED_MODELS, SEED_POLICY]
      .map((s) => (statSync(s).isDirectory() ? treeDigest(s) : createHash('sha256').update(readFileSync(s)).digest('hex')))
      .join(',');
  const seedsBefore = seedDigests();
  const kinds: Kind[] = ['model-json-bytes', 'model-json-values', 'model-json-values', 'shard', 'bundle', 'policy', 'onnx-bytes', 'onnx-values', 'onnx-values'];
  const outcomes = new Map<number, Outcome & { kind: Kind; what: string }>();
  const hangs: { id: number; what: string }[] = [];
  /** A worker that died mid-case: its exit code, the case before (an async error may be that case's), and its last stderr. */
  const workerDeaths: { id: number; what: string; code: number | null; previous?: string; stderr: string }[] = [];
  let next = 0;
  const t0 = Date.now();

  const more = () => next < total && Date.now() < deadline;
  const runWorker = (): Promise<void> =>
    new Promise<void>((resolve) => {
      let current: Mutant | undefined;
      let timer: NodeJS.Timeout | undefined;
      let restart = false;
      let previous: string | undefined;
      // The last few KB the worker printed: what it said when it died (emscripten's handler turns
      // any uncaught exception into exit code 7, so the code alone names nothing).
      let stderr = '';
      const child: ChildProcess = fork(fileURLToPath(import.meta.url), ['--worker'], { cwd: work, stdio: ['ignore', 'ignore', 'pipe', 'ipc'] });
      // Lines of minified source Node quotes around a throw are dropped: they would crowd out the message.
      child.stderr?.on('data', (d: Buffer) => {
        const text = d
          .toString('utf8')
          .split('\n')
          .map((l) => (l.length > 400 ? '[a long line of minified source]' : l))
          .join('\n');
        stderr = (stderr + text).slice(-4096);
      });
      const give = async () => {
        if (!more()) return void child.kill();
        const id = next++;
        current = await writeMutant(kinds[id % kinds.length], id, mutantsDir, mulberry32(seed * 1_000_003 + id));
        timer = setTimeout(() => {
          hangs.push({ id: current!.id, what: current!.what });
          current = undefined;
          restart = true;
          child.kill('SIGKILL');
        }, caseMs);
        child.send(current);
      };
      child.on('message', (msg: Outcome | { ready: true }) => {
        if ('ready' in msg) return void give();
        clearTimeout(timer);
        if (current) outcomes.set(msg.id, { ...msg, kind: current.kind, what: current.what });
        previous = current?.what;
        current = undefined;
        void give();
      });
      child.on('exit', (code) => {
        clearTimeout(timer);
        // A worker that died mid-case crashed on it; it (or one killed for a hang) is replaced.
        if (current) {
          workerDeaths.push({ id: current.id, what: current.what, code, previous, stderr: stderr.trim() });
          restart = true;
        }
        if (restart && more()) void runWorker().then(resolve);
        else resolve();
      });
    });

  await Promise.all(Array.from({ length: Number(values.workers) }, runWorker));
  const seconds = (Date.now() - t0) / 1000;
  const rows = [...outcomes.values()];
  // Nothing may appear beside the mutants and the work directory (reports go there only).
  const strayInRoot = readdirSync(root).filter((f) => f !== 'mutants' && f !== 'work');
  const strayInWork = readdirSync(work).filter((f) => !/^r\d+(\.json|-artifacts)$/.test(f));
  const summary = {
    seed: Number(values.seed),
    mutants: rows.length + hangs.length + workerDeaths.length,
    seconds: Math.round(seconds),
    byKind: Object.fromEntries(kinds.filter((k, i) => kinds.indexOf(k) === i).map((k) => [k, rows.filter((r) => r.kind === k).length])),
    outcomes: countBy(rows.map((r) => (r.kind === 'policy' ? (r.error ? 'policy rejected' : 'policy accepted') : `model ${r.verdict ?? 'none'}`))),
    crashes: rows.filter((r) => r.crash).length + workerDeaths.length,
    hangs: hangs.length,
    passesForUnreadable: rows.filter((r) => r.passedUnreadable).length,
    unclearErrors: rows.filter((r) => r.unclear).length,
    filesWrittenOutsideWork: strayInRoot.length + strayInWork.length,
    seedsChanged: seedDigests() !== seedsBefore,
    maxWorkerRssMb: Math.max(0, ...rows.map((r) => r.rssMb)),
    slowestCaseSeconds: Number(Math.max(0, ...rows.map((r) => r.seconds)).toFixed(2)),
    examples: {
      crashes: [
        ...rows
          .filter((r) => r.crash)
          .slice(0, 5)
          .map((r) => ({ what: r.what, crash: r.crash })),
        ...workerDeaths.slice(0, 5),
      ],
      hangs: hangs.slice(0, 5),
      unclear: rows
        .filter((r) => r.unclear)
        .slice(0, 5)
        .map((r) => ({ what: r.what, error: r.unclear })),
      passes: rows
        .filter((r) => r.passedUnreadable)
        .slice(0, 5)
        .map((r) => ({ what: r.what, verdict: r.verdict })),
    },
  };
  writeFileSync(values.out!, `${JSON.stringify(summary, null, 2)}\n`);
  console.log(JSON.stringify(summary, null, 2));
  rmSync(root, { recursive: true, force: true });
  const bad =
    summary.crashes + summary.hangs + summary.passesForUnreadable + summary.unclearErrors + summary.filesWrittenOutsideWork + (summary.seedsChanged ? 1 : 0);
  if (summary.mutants < total && Date.now() > deadline) console.log(`time budget reached after ${summary.mutants} of ${total} mutants`);
  process.exitCode = bad === 0 ? 0 : 1;
}

await main();
