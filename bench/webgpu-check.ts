// The one script to run on a GPU machine: `npx tsx bench/webgpu-check.ts` after `npm ci && npm run build`.
// 1. the webgpu backend's kernels against cpu (output, loss, gradients; kernel-check.ts) and any GPU fault;
// 2. a full scan of the bundled 28-px example on webgpu and on wasm (verdict, target, seconds);
// 3. with `npm run extract-models` done: a full scan of nsfwjs' 224-px MobileNetV2 on webgpu with
//    1,000 probe images (MNIST digits fitted to 224×224×3), the default budgets for its size.
// Prints a table and writes webgpu-check.json; exits 1 when a kernel or a verdict disagrees.
// Without an adapter it says "not measured: no GPU available" and exits 0.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { writeNpy } from '../src/data/npy.js';
import { loadProbeImages } from '../src/data/sources.js';
import { checkKernels } from '../src/engine/kernel-check.js';
import { openWebgpu, takeWebgpuFaults } from '../src/engine/webgpu.js';

const results: Record<string, unknown> = { machine: { cpus: os.cpus().length, model: os.cpus()[0]?.model, node: process.version } };
const finish = (code: number) => {
  writeFileSync('webgpu-check.json', JSON.stringify(results, null, 2) + '\n');
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

const kernels = await checkKernels('webgpu');
const faults = await takeWebgpuFaults();
results.kernels = kernels;
results.faults = faults;
console.table(
  kernels.map((k) => ({ kernel: k.name, 'worst error': k.worstError.toExponential(2), 'webgpu s': k.seconds.toFixed(3), 'cpu s': k.cpuSeconds.toFixed(3) })),
);
const kernelsAgree = kernels.every((k) => k.worstError < 1e-3) && !faults.length;
if (faults.length) console.log(`GPU faults: ${faults.join('; ')}`);

/** One CLI scan in its own process (as a user runs it): verdict, target, seconds. */
function scan(model: string, backend: string, extra: string[]): { verdict: string; target: number | null; seconds: number; error?: string } {
  const report = path.join(mkdtempSync(path.join(os.tmpdir(), 'bg-scan-')), 'report.json');
  const t0 = performance.now();
  spawnSync(process.execPath, ['dist/cli.js', 'scan', model, '--backend', backend, '--jobs', '1', '--report', report, ...extra], { stdio: 'inherit' });
  const seconds = (performance.now() - t0) / 1000;
  if (!existsSync(report)) return { verdict: 'error', target: null, seconds, error: 'no report' };
  const r = JSON.parse(readFileSync(report, 'utf8')) as { verdict: string; suspectedTarget?: number | null; error?: string; engine?: { backend: string } };
  if (r.engine?.backend !== backend) return { verdict: 'error', target: null, seconds, error: `ran on ${r.engine?.backend}` };
  return { verdict: r.verdict, target: r.suspectedTarget ?? null, seconds, ...(r.error ? { error: r.error } : {}) };
}

const small = ['examples/models/cnn-blended-t4', '--data', 'examples/data/mnist-probe'] as const;
const onGpu = scan(small[0], 'webgpu', [...small.slice(1)]);
const onWasm = scan(small[0], 'wasm', [...small.slice(1)]);
results.exampleScan = { webgpu: onGpu, wasm: onWasm, speedup: onWasm.seconds / onGpu.seconds };
const scansAgree = onGpu.verdict === onWasm.verdict && onGpu.target === onWasm.target;
console.log(
  `full scan, ${small[0]}: webgpu ${onGpu.verdict} (target ${onGpu.target}) in ${onGpu.seconds.toFixed(1)} s; wasm ${onWasm.verdict} (target ${onWasm.target}) in ${onWasm.seconds.toFixed(1)} s; ${(onWasm.seconds / onGpu.seconds).toFixed(2)}× `,
);

const mobilenet = '.cache/models/nsfwjs/mobilenet_v2';
if (existsSync(mobilenet)) {
  // 1,000 MNIST digits fitted to 224×224×3 (about 600 MB as float32), written only when the scan runs.
  const set = loadProbeImages('mnist:test', { shape: [224, 224, 3], maxImages: 1000, seed: 0 });
  const largeProbes = path.join(mkdtempSync(path.join(os.tmpdir(), 'bg-webgpu-')), 'x.npy');
  writeNpy(largeProbes, set.x, [set.count, 224, 224, 3]);
  const large = scan(mobilenet, 'webgpu', ['--data', path.dirname(largeProbes), '--max-probe-images', '1000']);
  results.mobilenetV2Scan = { ...large, probes: 1000 };
  console.log(
    `full scan, nsfwjs mobilenet_v2 224×224, 1,000 probes, webgpu: ${large.verdict} in ${large.seconds.toFixed(1)} s${large.error ? ` (${large.error})` : ''}`,
  );
} else console.log('full scan, nsfwjs mobilenet_v2: skipped (npm run extract-models first)');

finish(kernelsAgree && scansAgree ? 0 : 1);
