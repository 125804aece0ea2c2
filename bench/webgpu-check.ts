// The one script to run on a GPU machine: `npx tsx bench/webgpu-check.ts [--out DIR] [--probes DIR]
// [--seconds N]` after `npm ci && npm run build` (bench/gpu-run.sh runs it on a bare machine).
// 1. the webgpu backend's kernels against cpu (output, loss, gradients; kernel-check.ts) and any GPU fault;
// 2. a full scan of the bundled 28-px example on webgpu and on wasm (verdict, target, seconds);
// 3. with `npm run extract-models` done: full scans of nsfwjs' 224-px MobileNetV2 on webgpu with
//    1,000 probe images (MNIST test digits, or the data --probes names, fitted to 224×224×3), first with
//    the papers' budgets (bench/paper-budgets.yml), then with the defaults for its size.
// Writes webgpu-check.json (and each 224-px scan's report) into --out after every step, so a run
// stopped at its deadline (--seconds, default 540) keeps what it measured; exits 1 when a kernel
// or a verdict disagrees. Without an adapter it says "not measured: no GPU available" and exits 0.
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { checkKernels } from '../src/engine/kernel-check.js';
import { openWebgpu, takeWebgpuFaults } from '../src/engine/webgpu.js';

const { values: args } = parseArgs({
  options: { out: { type: 'string', default: '.' }, probes: { type: 'string' }, seconds: { type: 'string', default: '540' } },
});
const outDir = path.resolve(args.out);
mkdirSync(outDir, { recursive: true });
const deadline = performance.now() + Number(args.seconds) * 1000;
const secondsLeft = () => Math.max(0, (deadline - performance.now()) / 1000);

const results: Record<string, unknown> = { machine: { cpus: os.cpus().length, model: os.cpus()[0]?.model, node: process.version } };
const save = () => writeFileSync(path.join(outDir, 'webgpu-check.json'), JSON.stringify(results, null, 2) + '\n');
const finish = (code: number) => {
  save();
  process.exit(code);
};

const gpu = await openWebgpu();
if ('error' in gpu) {
  console.log(`not measured: no GPU available (${gpu.error})`);
  results.adapter = { error: gpu.error };
  finish(0);
}
const adapter = gpu as Exclude<typeof gpu, { error: string }>;
results.adapter = adapter;
console.log(`adapter: ${adapter.name}${adapter.software ? ' (software)' : ''}, WebGPU ${adapter.featureLevel}`);
save();

const kernels = await checkKernels('webgpu');
const faults = await takeWebgpuFaults();
results.kernels = kernels;
results.faults = faults;
save();
console.table(
  kernels.map((k) => ({ kernel: k.name, 'worst error': k.worstError.toExponential(2), 'webgpu s': k.seconds.toFixed(3), 'cpu s': k.cpuSeconds.toFixed(3) })),
);
const kernelsAgree = kernels.every((k) => k.worstError < 1e-3) && !faults.length;
if (faults.length) console.log(`GPU faults: ${faults.join('; ')}`);

interface ScanResult {
  verdict: string;
  target: number | null;
  seconds: number;
  error?: string;
  /** The report's own per-scan timings. */
  timings?: Record<string, number>;
}

/** One CLI scan in its own process (as a user runs it), stopped at the deadline; its report is kept as `keep` in --out. */
function scan(model: string, backend: string, extra: string[], keep?: string): ScanResult {
  const report = path.join(mkdtempSync(path.join(os.tmpdir(), 'bg-scan-')), 'report.json');
  const limit = secondsLeft();
  if (limit < 5) return { verdict: 'error', target: null, seconds: 0, error: 'not run: no time left before the deadline' };
  const t0 = performance.now();
  const run = spawnSync(process.execPath, ['dist/cli.js', 'scan', model, '--backend', backend, '--jobs', '1', '--report', report, ...extra], {
    stdio: 'inherit',
    timeout: Math.floor(limit * 1000),
  });
  const seconds = (performance.now() - t0) / 1000;
  if (run.error || run.signal) return { verdict: 'error', target: null, seconds, error: `stopped at the deadline after ${seconds.toFixed(0)} s` };
  if (!existsSync(report)) return { verdict: 'error', target: null, seconds, error: 'no report' };
  if (keep) copyFileSync(report, path.join(outDir, keep));
  const r = JSON.parse(readFileSync(report, 'utf8')) as {
    verdict: string;
    suspectedTarget?: number | null;
    error?: string;
    engine?: { backend: string };
    timings?: Record<string, number>;
  };
  if (r.engine?.backend !== backend) return { verdict: 'error', target: null, seconds, error: `ran on ${r.engine?.backend}` };
  return { verdict: r.verdict, target: r.suspectedTarget ?? null, seconds, timings: r.timings, ...(r.error ? { error: r.error } : {}) };
}

const small = ['examples/models/cnn-blended-t4', '--data', 'examples/data/mnist-probe'] as const;
const onGpu = scan(small[0], 'webgpu', [...small.slice(1)]);
const onWasm = scan(small[0], 'wasm', [...small.slice(1)]);
results.exampleScan = { webgpu: onGpu, wasm: onWasm, speedup: onWasm.seconds / onGpu.seconds };
save();
const scansAgree = onGpu.verdict === onWasm.verdict && onGpu.target === onWasm.target;
console.log(
  `full scan, ${small[0]}: webgpu ${onGpu.verdict} (target ${onGpu.target}) in ${onGpu.seconds.toFixed(1)} s; wasm ${onWasm.verdict} (target ${onWasm.target}) in ${onWasm.seconds.toFixed(1)} s; ${(onWasm.seconds / onGpu.seconds).toFixed(2)}× `,
);

const mobilenet = '.cache/models/nsfwjs/mobilenet_v2';
if (existsSync(mobilenet)) {
  // 1,000 28-px digits (the mnist package's, unless --probes names a copy); the CLI fits them to 224×224×3 itself.
  const probes = args.probes ?? 'mnist:test';
  const runs = [
    { name: "the papers' budgets", key: 'mobilenetV2PaperScan', extra: ['--policy', 'bench/paper-budgets.yml'], keep: 'mobilenet-paper.json' },
    { name: 'default budgets', key: 'mobilenetV2Scan', extra: ['--max-probe-images', '1000'], keep: 'mobilenet-default.json' },
  ];
  for (const { name, key, extra, keep } of runs) {
    const large = scan(mobilenet, 'webgpu', ['--data', probes, ...extra], keep);
    results[key] = { ...large, probes: 1000 };
    save();
    console.log(
      `full scan, nsfwjs mobilenet_v2 224×224, 1,000 probes, ${name}, webgpu: ${large.verdict} in ${large.seconds.toFixed(1)} s${large.error ? ` (${large.error})` : ''}`,
    );
  }
} else console.log('full scan, nsfwjs mobilenet_v2: skipped (npm run extract-models first)');

finish(kernelsAgree && scansAgree ? 0 : 1);
