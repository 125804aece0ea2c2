// tfjs' webgpu kernels on Dawn, on whatever adapter this machine has: a GPU where there is one,
// else Mesa's llvmpipe through OpenGL (WebGPU compatibility mode), which runs the same kernels on
// the CPU. Skipped, with the reason printed, where Dawn finds no adapter at all.
import * as tf from '@tensorflow/tfjs';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkKernels, KERNEL_CASES } from '../../src/engine/kernel-check.js';
import { openWebgpu, takeWebgpuFaults, tensorByteLimit } from '../../src/engine/webgpu.js';
import { selectBackend } from '../../src/engine/backend.js';
import { runGate } from '../../src/gate.js';
import { MemoryLogger } from '../../src/logger.js';
import { buildSettings, Inputs } from '../../src/settings.js';
import { outputs, runnerEnv } from '../helpers/action.js';
import { EXAMPLES, PROBE, REPO, runCli, runNode } from '../helpers/run.js';

const gpu = await openWebgpu();
if ('error' in gpu) console.log(`webgpu tests skipped: ${gpu.error}`);

describe.skipIf('error' in gpu)('webgpu kernels (Dawn)', () => {
  it('every kernel the scans and cleaning use matches the cpu backend: output, loss and gradients', async () => {
    const checks = await checkKernels('webgpu');
    expect(checks.map((c) => c.name)).toEqual(KERNEL_CASES.map((c) => c.name));
    for (const c of checks) expect(c.worstError, c.name).toBeLessThan(1e-3);
    expect(await takeWebgpuFaults()).toEqual([]);
  });

  it('plans rows within the adapter binding size on webgpu, and without it elsewhere', async () => {
    if ('error' in gpu) return;
    await tf.setBackend('webgpu');
    expect(tensorByteLimit()).toBe(gpu.maxStorageBufferBindingSize);
    await tf.setBackend('cpu');
    expect(tensorByteLimit()).toBe(Infinity);
  });

  it('a kernel that computes something else than cpu is caught', async () => {
    const [check] = await checkKernels('webgpu', [
      { name: 'off by 1 %', shapes: { x: [8, 8] }, wrt: ['x'], run: ({ x }) => (tf.getBackend() === 'cpu' ? tf.square(x) : tf.mul(tf.square(x), 1.01)) },
    ]);
    expect(check.worstError).toBeGreaterThan(1e-3);
  });

  it('work beyond the adapter limits is reported as a fault, not returned as numbers', async () => {
    if ('error' in gpu) return;
    await tf.setBackend('webgpu');
    // One float more than a kernel may bind.
    const big = tf.fill([gpu.maxStorageBufferBindingSize / 4 + 1], 1);
    const sum = tf.sum(tf.add(big, 1));
    await sum.data();
    tf.dispose([big, sum]);
    const faults = await takeWebgpuFaults();
    expect(faults.length).toBeGreaterThan(0);
    expect(faults.join('\n')).toMatch(/bind|size|limit/i);
  });
});

describe.skipIf('error' in gpu)('scans on webgpu', () => {
  const logger = new MemoryLogger();
  it('give the verdict and suspected target that wasm gives, on a backdoored and a clean model', async () => {
    for (const model of ['examples/models/cnn-blended-t4', 'examples/models/cnn-clean-s1']) {
      const inputs: Record<string, string> = {
        [Inputs.Model]: model,
        [Inputs.Data]: 'examples/data/mnist-probe',
        [Inputs.Scans]: 'inversion',
        [Inputs.MaxProbeImages]: '64',
      };
      const settings = buildSettings(
        (name) => inputs[name],
        () => ({ policy: {}, source: 'test' }),
      );
      const reports = [];
      for (const choice of ['webgpu', 'wasm'] as const) {
        const engine = await selectBackend({ choice, logger });
        expect(engine.backend).toBe(choice);
        reports.push((await runGate(settings, engine, logger)).report);
      }
      const [onGpu, onWasm] = reports;
      console.log(model, reports.map((r) => `${r.engine?.backend}: ${r.verdict} ${r.suspectedTarget} ${r.statistics?.dense?.value}`).join(' | '));
      expect(onGpu.error).toBeUndefined();
      expect(onGpu.verdict).toBe(onWasm.verdict);
      expect(onGpu.suspectedTarget).toBe(onWasm.suspectedTarget);
    }
  });

  it('run from the bundle (dist/cli.js, default --jobs) as from the source', async () => {
    const report = path.join(mkdtempSync(path.join(os.tmpdir(), 'bg-webgpu-cli-')), 'report.json');
    const run = await runCli([
      'scan',
      EXAMPLES.blendedCnn,
      '--data',
      PROBE,
      '--backend',
      'webgpu',
      '--scans',
      'inversion',
      '--max-probe-images',
      '16',
      '--report',
      report,
    ]);
    const written = JSON.parse(readFileSync(report, 'utf8')) as { verdict: string; engine: { backend: string }; error?: string };
    expect(written.error).toBeUndefined();
    expect(written.engine.backend).toBe('webgpu');
    expect(written.verdict).not.toBe('error');
    expect(run.stderr).not.toMatch(/timestamp-query|OffscreenCanvas/);
  });

  it('the action installs Dawn into the tool cache (install-native-backend: webgpu) and scans on it', async () => {
    const { dir, files, env } = runnerEnv({
      model: EXAMPLES.blendedCnn,
      data: PROBE,
      backend: 'webgpu',
      'install-native-backend': 'webgpu',
      scans: 'inversion',
      // On 16 probes its trigger is quiet (and the scan unassessed: power was measured on 256); on 64 it flags.
      'max-probe-images': '64',
    });
    // A stand-in npm: `npm ci` from native/webgpu's lock file leaves the webgpu package in node_modules.
    const bin = path.join(dir, 'bin');
    mkdirSync(bin);
    writeFileSync(path.join(bin, 'npm'), `#!/bin/sh\nmkdir -p node_modules && ln -s '${path.join(REPO, 'node_modules', 'webgpu')}' node_modules/webgpu\n`);
    chmodSync(path.join(bin, 'npm'), 0o755);
    const result = await runNode('dist/index.js', [], { ...env, PATH: `${bin}:${process.env.PATH}` }, dir);
    expect(result.stdout).toMatch(/native backend: installing webgpu@0\.6\.2 from the shipped lock file/);
    expect(result.stdout).toMatch(/compute backend: webgpu \(adapter /);
    expect(existsSync(path.join(env.RUNNER_TOOL_CACHE, 'dawn-webgpu', '0.6.2'))).toBe(true);
    expect(outputs(files.output).verdict).toBe('backdoored');
  });
});
