// `npm run bench`: speed of this engine against stock tfjs, measured side by side in one run.
// Prints a table and writes bench-results.json. Options: --quick (fewer repetitions),
// --no-large (skip the ~10-minute MobileNetV2 full scan), --only pytorch (only the PyTorch
// Neural Cleanse comparison), --only batch-norm (only the batch-norm folding rows, on wasm).
import * as tf from '@tensorflow/tfjs';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { runClean, DEFAULT_CLEAN_POLICY } from '../src/clean/pipeline.js';
import { writeNpy } from '../src/data/npy.js';
import { loadProbeImages } from '../src/data/sources.js';
import { initWasm, selectBackend } from '../src/engine/backend.js';
import { MAX_WASM_THREADS } from '../src/engine/wasm-threads.js';
import { planRows } from '../src/engine/memory.js';
import { runGate } from '../src/gate.js';
import { MemoryLogger } from '../src/logger.js';
import { GraphModelAdapter, withConstantWeights } from '../src/model/adapter.js';
import { patchConvolutions, type WeightUse } from '../src/model/constant-weights.js';
import { DEFAULT_GATE_JSON } from '../src/model/gate-json.js';
import { loadModel } from '../src/model/load.js';
import { reconstructTriggers } from '../src/scan/inversion.js';
import { neuralCleanse } from '../src/scan/neural-cleanse.js';
import { defaultSettings } from '../src/settings.js';
import { CPU_REPLACED, installFlatKernels, uninstallFlatKernels, useStockWasmKernels } from '../src/engine/kernels/register.js';
import { buildClassifier, type Architecture } from '../src/zoo/architectures.js';
import { ZOO_TRAINING, zooCatalog } from '../src/zoo/catalog.js';
import { classificationLoss } from '../src/zoo/train.js';

const quick = process.argv.includes('--quick');
/** `--only pytorch` / `--only batch-norm`: just the PyTorch Neural Cleanse comparison, or the batch-norm folding rows. */
const only = process.argv.includes('--only') ? process.argv[process.argv.indexOf('--only') + 1] : undefined;
if (only !== undefined && only !== 'pytorch' && only !== 'batch-norm') throw new Error(`bench: --only takes 'pytorch' or 'batch-norm', not '${only}'`);
const results: Record<string, unknown> = { machine: { cpus: os.cpus().length, model: os.cpus()[0]?.model, node: process.version }, tfjs: tf.version.tfjs };

/** Median wall time of `fn` in ms over `reps` runs after `warmup` runs. */
function time(fn: () => void, reps: number, warmup = 1): number {
  for (let i = 0; i < warmup; i++) fn();
  const samples: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    fn();
    samples.push(performance.now() - t0);
  }
  samples.sort((a, b) => a - b);
  return samples[Math.floor(samples.length / 2)];
}

// The timed passes read their result inside tf.tidy and return nothing: a typed array returned
// from tidy is walked element by element for tensors to keep (about half a microsecond each), a
// cost on both sides of a ratio that the scans do not pay.
/** Median wall times of several functions, run in turn so that machine noise hits them alike. */
function interleaved(fns: Array<() => void>, reps: number): number[] {
  for (const fn of fns) fn();
  const samples = fns.map(() => [] as number[]);
  for (let r = 0; r < reps; r++)
    fns.forEach((fn, i) => {
      const t0 = performance.now();
      fn();
      samples[i].push(performance.now() - t0);
    });
  return samples.map((s) => s.sort((a, b) => a - b)[Math.floor(s.length / 2)]);
}

function trainingStep(arch: Architecture, batch: number): () => void {
  const model = buildClassifier(arch, 1);
  const optimizer = tf.train.adam(1e-3);
  const vars = model.trainableWeights.map((w) => w.read() as tf.Variable);
  const x = tf.randomUniform([batch, 28, 28, 1], 0, 1, 'float32', 1);
  const y = tf.oneHot(tf.randomUniform([batch], 0, 10, 'int32', 2), 10);
  return () =>
    tf.tidy(() => {
      optimizer.minimize(() => classificationLoss(model, model.apply(x, { training: true }) as tf.Tensor, y), false, vars);
    });
}

function inputGradient(arch: Architecture, batch: number): () => void {
  const model = buildClassifier(arch, 1);
  const x = tf.randomUniform([batch, 28, 28, 1], 0, 1, 'float32', 3);
  return () =>
    tf.tidy(() => {
      tf.grad((input: tf.Tensor) => tf.sum(model.apply(input) as tf.Tensor))(x).dataSync();
    });
}

/**
 * The batch-norm CNN's passes with its batch norms run as they are and folded into their
 * convolutions, side by side: an input gradient with weights held constant (scans, warp
 * inversion) and a training step with the batch norms in inference mode (cleaning).
 */
function batchNormFolding(batch: number): Record<'inputGradient' | 'trainingStep', { unfoldedMs: number; foldedMs: number }> {
  const model = buildClassifier('bn-cnn', 1);
  let use: WeightUse = 'trainable';
  patchConvolutions(model, () => use);
  const x = tf.randomUniform([batch, 28, 28, 1], 0, 1, 'float32', 8) as tf.Tensor4D;
  const y = tf.oneHot(tf.randomUniform([batch], 0, 10, 'int32', 9), 10);
  const vars = model.trainableWeights.map((w) => w.read() as tf.Variable);
  const optimizer = tf.train.adam(1e-3);
  const gradient = (u: WeightUse) => () => {
    use = u;
    tf.tidy(() => {
      tf.grad((input: tf.Tensor) => tf.sum(model.apply(input) as tf.Tensor))(x).dataSync();
    });
  };
  const step = (u: WeightUse) => () => {
    use = u;
    tf.tidy(() => {
      optimizer.minimize(() => tf.losses.softmaxCrossEntropy(y, model.apply(x) as tf.Tensor) as tf.Scalar, false, vars);
    });
  };
  const [gradUnfolded, gradFolded] = interleaved([gradient('constant'), gradient('constant-folded')], quick ? 5 : 20);
  const [stepUnfolded, stepFolded] = interleaved([step('trainable'), step('trainable-folded')], quick ? 5 : 20);
  return { inputGradient: { unfoldedMs: gradUnfolded, foldedMs: gradFolded }, trainingStep: { unfoldedMs: stepUnfolded, foldedMs: stepFolded } };
}

const rows: Array<[string, string, string, string]> = [];

const fmt = (ms: number) => (ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : `${ms.toFixed(1)} ms`);

function batchNormFoldingRows(folding: ReturnType<typeof batchNormFolding>, batch: number, threads: number): void {
  for (const [pass, t] of Object.entries(folding))
    rows.push([
      `bn-cnn ${pass === 'inputGradient' ? 'input gradient, weights held' : 'training step, inference-mode batch norm'}, batch ${batch}, wasm, ${threads} thread${threads > 1 ? 's' : ''}`,
      `batch norms as they are ${fmt(t.unfoldedMs)}`,
      `folded ${fmt(t.foldedMs)} (${(t.unfoldedMs / t.foldedMs).toFixed(1)}×)`,
      '',
    ]);
}

/**
 * The reference a user would pick instead (issue 23): a plain PyTorch Neural Cleanse (20 epochs
 * × 1,000 digits × 10 classes, 2 threads) on the very ONNX exports the gate scans, against the
 * gate's full scan through the CLI as a user runs it (its default --jobs), side by side.
 */
function neuralCleanseReference(): Record<string, unknown> | undefined {
  const python = ['python3', '/usr/bin/python3'].find((p) => spawnSync(p, ['-c', 'import torch, onnx']).status === 0);
  if (!python) {
    rows.push(['PyTorch Neural Cleanse reference', 'not measured: no python3 with torch and onnx (apt-get install python3-torch python3-onnx)', '', '']);
    return undefined;
  }
  const dir = mkdtempSync(path.join(os.tmpdir(), 'bench-nc-'));
  const digits = loadProbeImages('mnist:test', { shape: [28, 28, 1], maxImages: 1000, seed: 0 });
  writeNpy(path.join(dir, 'x.npy'), digits.x, [digits.count, 1, 28, 28]);
  const reference: Record<string, unknown> = {};
  for (const name of ['cnn-badnets-mnist', 'cnn-mnist', 'resnet-badnets-mnist', 'resnet-mnist']) {
    const model = `test/fixtures/onnx/${name}`;
    const t0 = performance.now();
    spawnSync(process.execPath, ['dist/cli.js', 'scan', model, '--data', 'examples/data/mnist-probe', '--report', path.join(dir, `${name}.json`)]);
    const oursSeconds = (performance.now() - t0) / 1000;
    const ours = JSON.parse(readFileSync(path.join(dir, `${name}.json`), 'utf8'));
    const run = spawnSync(python, ['bench/neural-cleanse.py', `${model}/model.onnx`, `${model}/gate.json`, path.join(dir, 'x.npy'), '20'], {
      encoding: 'utf8',
    });
    if (run.status !== 0) throw new Error(`bench/neural-cleanse.py failed on ${name}: ${run.stderr}`);
    const nc = JSON.parse(run.stdout) as { seconds: number; flagged: boolean; target: number; anomalyIndex: number };
    reference[name] = {
      ours: { seconds: oursSeconds, verdict: ours.verdict, target: ours.suspectedTarget },
      neuralCleanse: nc,
      speedup: nc.seconds / oursSeconds,
    };
    rows.push([
      `PyTorch Neural Cleanse vs scan (${name}, CLI)`,
      `NC ${nc.seconds.toFixed(1)} s (${nc.flagged ? `flags ${nc.target}` : 'not flagged'}, index ${nc.anomalyIndex.toFixed(2)}) vs ${oursSeconds.toFixed(1)} s (${ours.verdict}${ours.suspectedTarget == null ? '' : ` ${ours.suspectedTarget}`})`,
      `${(nc.seconds / oursSeconds).toFixed(2)}× faster (bar: 5×)`,
      '',
    ]);
  }
  rmSync(dir, { recursive: true, force: true });
  return reference;
}

/** The mean of timed runs' seconds. */
const meanSeconds = (runs: readonly { seconds: number }[]) => runs.reduce((a, r) => a + r.seconds, 0) / runs.length;

function printAndSave(): void {
  const widths = [0, 1, 2, 3].map((i) => Math.max(...rows.map((r) => r[i].length)));
  for (const r of rows) console.log(r.map((c, i) => c.padEnd(widths[i])).join('  '));
  writeFileSync('bench-results.json', `${JSON.stringify(results, null, 2)}\n`);
  console.log('→ bench-results.json');
}

async function main(): Promise<void> {
  tf.env().set('PROD', true); // no tfjs console banner in the table
  if (only === 'pytorch') {
    results.scans = { pytorchNeuralCleanse: neuralCleanseReference() };
    return printAndSave();
  }
  if (only === 'batch-norm') {
    // On every core, as a cleaning runs (the full bench's wasm rows run on one thread).
    const threads = Math.min(os.availableParallelism(), MAX_WASM_THREADS);
    await initWasm(threads);
    const folding = batchNormFolding(64);
    results.batchNormFolding = { threads, ...folding };
    batchNormFoldingRows(folding, 64, threads);
    return printAndSave();
  }
  // 1. Training step of the zoo CNN (batch 64, as in the issue's profile): stock cpu vs engine.
  await tf.setBackend('cpu');
  const batch = 64;
  const training: Record<string, Record<string, number>> = {};
  for (const arch of ['cnn', 'bn-cnn'] as const) {
    uninstallFlatKernels('cpu');
    const stock = time(trainingStep(arch, batch), quick ? 1 : 2);
    installFlatKernels('cpu', CPU_REPLACED);
    const flat = time(trainingStep(arch, batch), quick ? 3 : 8);
    training[arch] = { stockCpuMs: stock, engineCpuMs: flat };
  }
  // 2. Per-kernel timings on the zoo CNN's shapes, stock vs flat (cpu), to show which are hot.
  const kernels: Record<string, { stockMs: number; flatMs: number }> = {};
  const x = tf.randomNormal([batch, 14, 14, 16], 0, 1, 'float32', 4);
  const w = tf.randomNormal([3, 3, 16, 32], 0, 1, 'float32', 5);
  const dy = tf.randomNormal([batch, 14, 14, 32], 0, 1, 'float32', 6);
  const dwf = tf.randomNormal([3, 3, 16, 1], 0, 1, 'float32', 7);
  const dyd = tf.randomNormal([batch, 14, 14, 16], 0, 1, 'float32', 8);
  const pooled = tf.maxPool(x as tf.Tensor4D, 2, 2, 'valid');
  const dyp = tf.randomNormal(pooled.shape, 0, 1, 'float32', 9);
  const common = { strides: [1, 1], pad: 'same', dataFormat: 'NHWC', dilations: [1, 1] };
  const cases: Array<[string, tf.NamedTensorMap, Record<string, unknown>]> = [
    ['Conv2D', { x, filter: w }, common],
    ['Conv2DBackpropFilter', { x, dy }, { ...common, filterShape: w.shape }],
    ['Conv2DBackpropInput', { dy, filter: w }, { ...common, inputShape: x.shape }],
    ['DepthwiseConv2dNative', { x, filter: dwf }, common],
    ['DepthwiseConv2dNativeBackpropInput', { dy: dyd, filter: dwf }, { ...common, inputShape: x.shape }],
    ['DepthwiseConv2dNativeBackpropFilter', { x, dy: dyd }, { ...common, filterShape: dwf.shape }],
    ['MaxPoolGrad', { dy: dyp, input: x, output: pooled }, { filterSize: [2, 2], strides: [2, 2], pad: 'valid' }],
    ['Tile', { x: tf.randomNormal([1, 1, 1, 16]) }, { reps: [batch, 14, 14, 1] }],
  ];
  const runK = (name: string, inputs: tf.NamedTensorMap, attrs: Record<string, unknown>) => () => {
    const out = tf.engine().runKernel(name, inputs, attrs as tf.NamedAttrMap) as tf.Tensor;
    out.dataSync();
    out.dispose();
  };
  for (const [name, inputs, attrs] of cases) {
    uninstallFlatKernels('cpu');
    const stockMs = time(runK(name, inputs, attrs), quick ? 2 : 5);
    installFlatKernels('cpu', CPU_REPLACED);
    const flatMs = time(runK(name, inputs, attrs), quick ? 3 : 10);
    kernels[name] = { stockMs, flatMs };
  }
  const cpuGrad = time(inputGradient('cnn', 32), quick ? 3 : 10);

  // 3. The same on wasm (with the kernels it lacks supplied).
  await initWasm();
  for (const arch of ['cnn', 'bn-cnn'] as const) training[arch].engineWasmMs = time(trainingStep(arch, batch), quick ? 3 : 10);
  const wasmGrad = time(inputGradient('cnn', 32), quick ? 3 : 10);
  const folding = batchNormFolding(batch);
  results.batchNormFolding = { threads: 1, ...folding };

  for (const [arch, t] of Object.entries(training)) {
    rows.push([
      `training step, ${arch}, batch ${batch}`,
      `stock cpu ${fmt(t.stockCpuMs)}`,
      `engine cpu ${fmt(t.engineCpuMs)} (${(t.stockCpuMs / t.engineCpuMs).toFixed(1)}×)`,
      `engine wasm ${fmt(t.engineWasmMs)} (${(t.stockCpuMs / t.engineWasmMs).toFixed(1)}×)`,
    ]);
  }
  for (const [name, k] of Object.entries(kernels))
    rows.push([`kernel ${name}`, `stock cpu ${fmt(k.stockMs)}`, `flat cpu ${fmt(k.flatMs)} (${(k.stockMs / k.flatMs).toFixed(1)}×)`, '']);
  rows.push([
    'forward + input gradient, cnn, batch 32',
    `engine cpu ${fmt(cpuGrad)}`,
    `engine wasm ${fmt(wasmGrad)} (${(cpuGrad / wasmGrad).toFixed(1)}× cpu)`,
    '',
  ]);
  batchNormFoldingRows(folding, batch, 1);

  // 4. Zoo: measured wall time when a zoo run left its manifest, and the step-time estimate.
  const samplesPerModel = 7000 * ZOO_TRAINING.epochs;
  const stepsPerModel = Math.floor(7000 / ZOO_TRAINING.batchSize) * ZOO_TRAINING.epochs;
  const models = zooCatalog().length;
  let zoo: Record<string, unknown> = { models, samplesPerModel, stepsPerModel };
  if (existsSync('zoo/manifest.json')) {
    const m = JSON.parse(readFileSync('zoo/manifest.json', 'utf8')) as { wallSeconds?: number; jobs: number; models: Array<{ trainSeconds: number }> };
    const trainSeconds = m.models.reduce((a, c) => a + c.trainSeconds, 0);
    zoo = { ...zoo, measuredWallSeconds: m.wallSeconds ?? null, jobs: m.jobs, summedTrainSeconds: trainSeconds };
    if (m.wallSeconds !== undefined)
      rows.push([
        `zoo: ${models} models (npm run zoo)`,
        `measured ${m.wallSeconds} s with ${m.jobs} jobs`,
        m.wallSeconds < 600 ? 'under 10 min' : 'OVER 10 min',
        '',
      ]);
    else
      rows.push([
        `zoo: ${models} models (partly reused)`,
        `per-model training summed: ${trainSeconds.toFixed(0)} s`,
        `≈ ${(trainSeconds / 2).toFixed(0)} s on 2 jobs`,
        '',
      ]);
  } else {
    rows.push([`zoo: ${models} models`, 'not measured (run npm run zoo first)', '', '']);
  }
  // 5. Full scans through the gate's own pipeline (default policy), and the CLIP-Inspector-style
  //    inversion against the Neural Cleanse baseline on the same model and probes.
  const engine = await selectBackend({ choice: 'wasm', logger: new MemoryLogger() });
  const fullScan = async (model: string, data: string | undefined) => {
    const { report } = await runGate(defaultSettings(model, data), engine, new MemoryLogger());
    return {
      verdict: report.verdict,
      target: report.suspectedTarget,
      seconds: report.timings.totalSeconds,
      scans: Object.fromEntries(report.scans.map((x) => [x.method, x.seconds])),
    };
  };
  const scans: Record<string, unknown> = {};
  const zooScan = await fullScan('examples/models/cnn-blended-t4', 'examples/data/mnist-probe');
  scans.zooCnn = zooScan;
  rows.push([
    'full scan, zoo cnn (cnn-blended-t4, 256 probes)',
    `${zooScan.seconds.toFixed(1)} s, ${zooScan.verdict}`,
    zooScan.seconds <= 60 ? 'within 60 s' : 'OVER 60 s',
    '',
  ]);
  // One scan split over processes (scan --jobs, issue 23) or over threads (--threads: the wasm
  // build's thread pool), through the bundled CLI as a user runs it, in turn: the speedup of all
  // the cores of one machine, and the same verdict.
  {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'bench-jobs-'));
    const configs = [
      { jobs: 1, threads: 1 },
      { jobs: 2, threads: 1 },
      { jobs: 1, threads: 2 },
    ];
    const runScan = ({ jobs, threads }: (typeof configs)[number]) => {
      const t0 = performance.now();
      const report = path.join(dir, `jobs-${jobs}-${threads}.json`);
      spawnSync(process.execPath, [
        'dist/cli.js',
        'scan',
        'examples/models/cnn-blended-t4',
        '--data',
        'examples/data/mnist-probe',
        '--jobs',
        String(jobs),
        '--threads',
        String(threads),
        '--report',
        report,
      ]);
      const r = JSON.parse(readFileSync(report, 'utf8'));
      return { seconds: (performance.now() - t0) / 1000, verdict: r.verdict as string, target: r.suspectedTarget as number | null };
    };
    const runs = [...configs, ...configs].map((c) => ({ ...c, ...runScan(c) }));
    const [one, twoProcesses, twoThreads] = configs.map((c) => meanSeconds(runs.filter((r) => r.jobs === c.jobs && r.threads === c.threads)));
    const verdicts = [...new Set(runs.map((r) => `${r.verdict} ${r.target}`))];
    scans.jobs = { cores: os.availableParallelism(), oneProcessSeconds: one, twoProcessesSeconds: twoProcesses, speedup: one / twoProcesses, verdicts };
    scans.threads = { oneThreadSeconds: one, twoThreadsSeconds: twoThreads, speedup: one / twoThreads, verdicts };
    rows.push([
      'full scan, zoo cnn, --jobs 1 vs --jobs 2 (CLI, 2 runs each)',
      `${one.toFixed(1)} s vs ${twoProcesses.toFixed(1)} s`,
      `${(one / twoProcesses).toFixed(2)}× on ${os.availableParallelism()} cores`,
      verdicts.join(' / '),
    ]);
    rows.push([
      'full scan, zoo cnn, --threads 1 vs --threads 2, one process (CLI, 2 runs each)',
      `${one.toFixed(1)} s vs ${twoThreads.toFixed(1)} s`,
      `${(one / twoThreads).toFixed(2)}×`,
      verdicts.join(' / '),
    ]);
    // Cleaning runs in one process: threads are how it uses more than one core.
    const runClean = (threads: number) => {
      const out = path.join(dir, `cleaned-${threads}-${performance.now()}`);
      const t0 = performance.now();
      const args = ['dist/cli.js', 'clean', 'examples/models/bn-cnn-badnets-t6', '--data', 'examples/data/mnist-clean', '--method', 'unlearn'];
      spawnSync(process.execPath, [...args, '--out', out, '--report', `${out}.json`, '--threads', String(threads)]);
      const digest = JSON.parse(readFileSync(`${out}.json`, 'utf8')).output?.digest as string | undefined;
      return { seconds: (performance.now() - t0) / 1000, digest };
    };
    const cleans = [1, 2, 1, 2].map((threads) => ({ threads, ...runClean(threads) }));
    const [cleanOne, cleanTwo] = [1, 2].map((threads) => meanSeconds(cleans.filter((c) => c.threads === threads)));
    const digests = [...new Set(cleans.map((c) => c.digest ?? 'no model written'))];
    scans.cleanThreads = { oneThreadSeconds: cleanOne, twoThreadsSeconds: cleanTwo, speedup: cleanOne / cleanTwo, digests };
    rows.push([
      'clean --method unlearn, bn-cnn-badnets-t6, --threads 1 vs 2 (CLI, 2 runs each)',
      `${cleanOne.toFixed(1)} s vs ${cleanTwo.toFixed(1)} s`,
      `${(cleanOne / cleanTwo).toFixed(2)}×`,
      digests.length === 1 ? 'the same cleaned model' : `DIFFERENT cleaned models: ${digests.join(', ')}`,
    ]);
    rmSync(dir, { recursive: true, force: true });
  }
  // ONNX imports (PyTorch exports) through the same pipeline: the cost of the import's NCHW
  // transposes and op-by-op execution, next to the tfjs zoo CNN above.
  for (const [name, label] of [
    ['cnn-badnets-mnist', 'PyTorch ONNX cnn'],
    ['vit-mnist', 'PyTorch ONNX ViT'],
  ] as const) {
    const r = await fullScan(`test/fixtures/onnx/${name}`, 'examples/data/mnist-probe');
    scans[`onnx:${name}`] = r;
    rows.push([
      `full scan, ${label} (${name}, 256 probes)`,
      `${r.seconds.toFixed(1)} s, ${r.verdict}`,
      `${(r.seconds / zooScan.seconds).toFixed(1)}× the zoo cnn scan`,
      '',
    ]);
  }
  // A transformer's kernels (rank-5 transposes, a batch of token rows times one weight matrix, the
  // patch embedding's input gradient) on wasm's own kernels against the gate's wrapped ones, on the
  // unit of every scan: the ViT's input-gradient step.
  {
    const { model: vit } = await loadModel('test/fixtures/onnx/vit-mnist');
    const x = tf.randomUniform([64, 28, 28, 1], 0, 1, 'float32', 11) as tf.Tensor4D;
    const kernels = ['Transpose', 'BatchMatMul', '_FusedMatMul', 'Conv2DBackpropInput'] as const;
    const step = (stock: boolean) => () => {
      useStockWasmKernels(kernels, stock);
      tf.tidy(() => {
        tf.grad((t: tf.Tensor) => tf.sum(vit.logits(t as tf.Tensor4D)))(x).dataSync();
      });
    };
    const [stockMs, gateMs] = interleaved([step(true), step(false)], quick ? 3 : 10);
    useStockWasmKernels(kernels, false);
    vit.dispose();
    x.dispose();
    scans.vitGradientStepMs = { stock: stockMs, gate: gateMs };
    rows.push([
      'input gradient step, ONNX ViT (vit-mnist), batch 64',
      `wasm's own ${kernels.join(', ')}: ${fmt(stockMs)}`,
      `the gate's: ${fmt(gateMs)} (${(stockMs / gateMs).toFixed(2)}×)`,
      '',
    ]);
  }
  scans.pytorchNeuralCleanse = neuralCleanseReference();
  // A 64-px grayscale 7-class mini-Xception in graph-model form (the converter's fused ops, as
  // users ship such models), backdoored and its clean twin: the graph executor's cost.
  {
    // The unit of work of every scan, an input-gradient step (batch 16), on the graph as the
    // converter wrote it (fused ops) against the graph the gate runs (fused ops split on load).
    const dir = 'test/fixtures/graph/cnn64-badnets-t3';
    const { model: split, source } = await loadModel(dir);
    const artifacts = (source as { artifacts: tf.io.ModelArtifacts }).artifacts;
    const fused = new GraphModelAdapter(await tf.loadGraphModel({ load: async () => artifacts }), artifacts.modelTopology as object, DEFAULT_GATE_JSON, dir);
    const x = tf.randomUniform([16, 64, 64, 1], 0, 1, 'float32', 10) as tf.Tensor4D;
    const step = (m: { logits(t: tf.Tensor4D): tf.Tensor2D }) => () => {
      tf.tidy(() => {
        tf.grad((t: tf.Tensor) => tf.sum(tf.logSoftmax(m.logits(t as tf.Tensor4D))))(x).dataSync();
      });
    };
    const [fusedMs, splitMs] = interleaved([step(fused), step(split)], quick ? 5 : 20);
    scans.graphGradientStepMs = { fused: fusedMs, split: splitMs };
    rows.push([
      'input gradient step, 64×64 graph model, batch 16',
      `fused ops ${fmt(fusedMs)}`,
      `split on load ${fmt(splitMs)} (${(fusedMs / splitMs).toFixed(2)}×)`,
      '',
    ]);
    fused.dispose();
    split.dispose();
    x.dispose();
  }
  for (const name of ['cnn64-badnets-t3', 'cnn64-clean']) {
    const r = await fullScan(`test/fixtures/graph/${name}`, 'examples/data/mnist-probe');
    scans[`graph:${name}`] = r;
    rows.push([
      `full scan, 64×64 graph model (${name}, 200k params, 256 probes)`,
      `${r.seconds.toFixed(1)} s, ${r.verdict}${r.target === undefined ? '' : ` (target ${r.target})`}`,
      r.seconds <= 120 ? 'within 2 min' : 'OVER 2 min',
      '',
    ]);
  }
  const mobilenet = '.cache/models/nsfwjs/mobilenet_v2';
  if (existsSync(mobilenet) && !process.argv.includes('--no-large')) {
    // Explicit paddings' gradients are slices: wasm's own Slice against the gate's run copies, on
    // the unit of every 224-px scan, MobileNetV2's input-gradient step.
    {
      const net = withConstantWeights((await loadModel(mobilenet)).model); // as the scans run it
      const x = tf.randomUniform([8, 224, 224, 3], 0, 1, 'float32', 12) as tf.Tensor4D;
      const step = (stock: boolean) => () => {
        useStockWasmKernels(['Slice'], stock);
        tf.tidy(() => {
          tf.grad((t: tf.Tensor) => tf.sum(net.logits(t as tf.Tensor4D)))(x).dataSync();
        });
      };
      const [stockMs, gateMs] = interleaved([step(true), step(false)], quick ? 2 : 5);
      useStockWasmKernels(['Slice'], false);
      net.dispose();
      x.dispose();
      scans.mobilenetGradientStepMs = { stock: stockMs, gate: gateMs };
      rows.push([
        'input gradient step, nsfwjs mobilenet_v2 224×224, batch 8',
        `wasm's own Slice: ${fmt(stockMs)}`,
        `the gate's: ${fmt(gateMs)} (${(stockMs / gateMs).toFixed(2)}×)`,
        '',
      ]);
    }
    const big = await fullScan(mobilenet, undefined);
    scans.nsfwjsMobilenetV2 = big;
    rows.push([
      'full scan, nsfwjs mobilenet_v2 224×224 (no data: the data-free scan)',
      `${big.seconds.toFixed(1)} s, ${big.verdict}`,
      big.seconds <= 600 ? 'within 10 min' : 'OVER 10 min',
      '',
    ]);
  } else rows.push(['full scan, nsfwjs mobilenet_v2', 'skipped (npm run extract-models; or --no-large)', '', '']);
  {
    const { model } = await loadModel('examples/models/cnn-blended-t4');
    const probe = loadProbeImages('examples/data/mnist-probe', { shape: model.inputShape, maxImages: 256, seed: 0 });
    const rowsPlan = await planRows(model);
    const inv = await reconstructTriggers(model, probe, { rows: rowsPlan });
    const nc = await neuralCleanse(model, probe, { rows: rowsPlan });
    model.dispose();
    const evalFile = existsSync('eval-results.json')
      ? (JSON.parse(readFileSync('eval-results.json', 'utf8')) as {
          scanners?: Record<string, { auroc: number }>;
          neuralCleanseBaseline?: { auroc: number } | null;
        })
      : undefined;
    scans.inversionVsNeuralCleanse = {
      inversionSeconds: inv.seconds,
      neuralCleanseSeconds: nc.seconds,
      speedup: nc.seconds / inv.seconds,
      aurocFromEval: evalFile && { inversion: evalFile.scanners?.['trigger-inversion']?.auroc, neuralCleanse: evalFile.neuralCleanseBaseline?.auroc },
    };
    const auc = evalFile?.neuralCleanseBaseline
      ? `AUROC ${evalFile.scanners?.['trigger-inversion']?.auroc.toFixed(2)} vs ${evalFile.neuralCleanseBaseline.auroc.toFixed(2)} (eval-results.json)`
      : 'AUROC: run npm run eval';
    rows.push([
      'trigger inversion vs Neural Cleanse, cnn-blended-t4',
      `${inv.seconds.toFixed(1)} s vs ${nc.seconds.toFixed(1)} s`,
      `${(nc.seconds / inv.seconds).toFixed(1)}× faster`,
      auc,
    ]);
  }
  // 6. Cleaning one zoo CNN end to end (scan, auto clean, re-scan, save) from 600 labelled digits.
  {
    const out = mkdtempSync(path.join(os.tmpdir(), 'bench-clean-'));
    const t0 = performance.now();
    const report = await runClean(
      {
        model: 'examples/models/cnn-blended-t4',
        data: 'examples/data/mnist-clean',
        out: path.join(out, 'model'),
        method: 'auto',
        seed: 0,
        policy: DEFAULT_CLEAN_POLICY,
      },
      new MemoryLogger(),
    );
    const seconds = (performance.now() - t0) / 1000;
    rmSync(out, { recursive: true, force: true });
    scans.cleanZooCnn = { seconds, method: report.method, cleaningSeconds: report.log?.seconds, verdictAfter: report.verdictAfter };
    rows.push([
      `clean, zoo cnn (cnn-blended-t4, ${report.method}, 600 digits), scan + clean + re-scan`,
      `${seconds.toFixed(1)} s (cleaning ${report.log?.seconds.toFixed(1)} s), re-scan ${report.verdictAfter}`,
      seconds <= 180 ? 'within 3 min' : 'OVER 3 min',
      '',
    ]);
  }
  // 7. Dual encoders (CLIP-style fixtures): a full scan of the prompt learner (N × K text
  // passes per image), and cleaning each backdoored fixture (auto: prompt repair, PAR).
  {
    const r = await fullScan('test/fixtures/dual/cocoop-badclip-t7', 'examples/data/mnist-probe');
    scans['dual:cocoop-badclip-t7'] = r;
    rows.push([
      'full scan, dual encoder with prompt learner (cocoop-badclip-t7, 256 probes)',
      `${r.seconds.toFixed(1)} s, ${r.verdict}`,
      `${(r.seconds / zooScan.seconds).toFixed(1)}× the zoo cnn scan`,
      '',
    ]);
    // The action hands the gate's finding to the cleaning (the CLI's --target): the prompt
    // learner's scan of the 480 labelled images alone is quiet, the probes' scan above is not.
    const flaggedBy = r.verdict === 'suspicious' || r.verdict === 'backdoored' ? { verdict: r.verdict, target: r.target ?? null } : undefined;
    for (const name of ['cocoop-badclip-t7', 'clip-blended-t3']) {
      const out = mkdtempSync(path.join(os.tmpdir(), 'bench-clean-dual-'));
      const t0 = performance.now();
      const report = await runClean(
        {
          model: `test/fixtures/dual/${name}`,
          data: 'examples/data/mnist-clean',
          out: path.join(out, 'model'),
          method: 'auto',
          seed: 0,
          policy: DEFAULT_CLEAN_POLICY,
          ...(name === 'cocoop-badclip-t7' && flaggedBy ? { flagged: flaggedBy } : {}),
        },
        new MemoryLogger(),
      );
      const seconds = (performance.now() - t0) / 1000;
      rmSync(out, { recursive: true, force: true });
      const method = (report.log?.options as { method?: string } | undefined)?.method;
      scans[`cleanDual:${name}`] = { seconds, method, cleaningSeconds: report.log?.seconds, verdictAfter: report.verdictAfter };
      rows.push([
        `clean, dual encoder (${name}, auto → ${method}, 600 digits), scan + clean + re-scan`,
        report.log
          ? `${seconds.toFixed(1)} s (cleaning ${report.log.seconds.toFixed(1)} s), re-scan ${report.verdictAfter}`
          : `${seconds.toFixed(1)} s, NOT CLEANED: ${report.skipped}`,
        seconds <= 180 ? 'within 3 min' : 'OVER 3 min',
        '',
      ]);
    }
  }
  results.scans = scans;
  results.trainingStepMs = training;
  results.kernelsMs = kernels;
  results.inputGradientMs = { cpu: cpuGrad, wasm: wasmGrad };
  results.zoo = zoo;

  printAndSave();
}

await main();
