import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { threadedMainScript } from '../../src/engine/wasm-threads.js';
import { threadsPerProcess } from '../../src/jobs.js';
import { threadsInput } from '../../src/settings.js';
import { EXAMPLES, REPO } from '../helpers/run.js';

interface ThreadsCheck {
  backend: string;
  reason: string;
  warnings: string[];
  digests: Record<string, string>;
  /** Elements ReLU6's gradient did by the SIMD loop (0 where it could not run). */
  simdElements: number;
  /** How often the start wrote each of its script files (test/helpers/worker-script-writes.mjs). */
  scriptWrites: Record<string, number>;
  seconds: number;
}

/** One process per thread count (tfjs starts a backend once); it must end by itself. */
async function check(threads: number, env: Record<string, string> = {}, nodeFlags: string[] = []): Promise<ThreadsCheck> {
  const t0 = performance.now();
  const { stdout, stderr } = await promisify(execFile)(
    process.execPath,
    [
      ...nodeFlags,
      '--import',
      './test/helpers/worker-script-writes.mjs',
      '--import',
      'tsx',
      'test/helpers/wasm-threads-check.ts',
      String(threads),
      EXAMPLES.badnetsBn,
    ],
    {
      cwd: REPO,
      env: { ...process.env, ...env },
      timeout: 120_000,
    },
  );
  const writes = /^script writes: (.*)$/m.exec(stderr)?.[1] ?? '{}';
  const result = JSON.parse(stdout.trim().split('\n').at(-1) ?? '') as Omit<ThreadsCheck, 'scriptWrites' | 'seconds'>;
  return { ...result, scriptWrites: JSON.parse(writes) as Record<string, number>, seconds: (performance.now() - t0) / 1000 };
}

describe('the multithreaded wasm build', () => {
  it("runs on two threads and computes the same bits as one thread (convolutions, matrix products, a model and its input gradient, ReLU6's SIMD gradient)", async () => {
    const [one, two] = await Promise.all([check(1), check(2)]);
    expect(one.backend).toBe('wasm');
    expect(one.reason).toMatch(/wasm initialised, 1 thread$/);
    expect(two.backend).toBe('wasm');
    // XNNPACK's own count of the threads in its pool.
    expect(two.reason).toMatch(/wasm initialised, 2 threads$/);
    expect(two.warnings).toEqual([]);
    expect(Object.keys(two.digests)).toEqual(['conv2d', 'depthwise', 'matMul', 'logits', 'inputGradient', 'clipGradient']);
    expect(two.digests).toEqual(one.digests);
    // ReLU6's SIMD loop runs on both builds' memory (the threaded one's is shared).
    expect([one.simdElements, two.simdElements]).toEqual([96 * 200, 96 * 200]);
    // Emscripten asks for the worker script once per worker (8) while the first ones already read
    // it: a rewrite could hand one an empty file. Each script is written once.
    expect(two.scriptWrites).toEqual({ 'main.js': 1, 'worker.js': 1 });
  }, 240_000);

  it('fails at once, not at the start deadline, when a worker ends before it has loaded (it read an empty script)', async () => {
    const [one, broken] = await Promise.all([check(1), check(2, { EMPTY_WORKER_SCRIPT: '1' })]);
    expect(broken.reason).toMatch(/wasm initialised, 1 thread$/);
    expect(broken.warnings.join('\n')).toMatch(/the multithreaded build did not start \(a pthread worker exited \(code 0\) before the start finished\)/);
    expect(broken.digests).toEqual(one.digests);
    // The deadline is 60 s; the whole check (model load, gradients) takes a few seconds.
    expect(broken.seconds).toBeLessThan(30);
  }, 240_000);

  it('falls back to one thread, with a warning, when the threaded build cannot start (no usable temporary folder)', async () => {
    // A file where the temporary folder should be (tsx's own cache off, as it would fail there first).
    const notAFolder = path.join(mkdtempSync(path.join(os.tmpdir(), 'wasm-threads-test-')), 'file');
    writeFileSync(notAFolder, '');
    const [one, broken] = await Promise.all([check(1), check(2, { TMPDIR: notAFolder, TSX_DISABLE_CACHE: '1' })]);
    expect(broken.backend).toBe('wasm');
    expect(broken.reason).toMatch(/wasm initialised, 1 thread$/);
    expect(broken.warnings.join('\n')).toMatch(/wasm runs on one thread: the multithreaded build did not start \(ENOTDIR: not a directory, mkdtemp/);
    expect(broken.digests).toEqual(one.digests);
  }, 240_000);

  it('falls back to one thread, and the run still ends by itself, when the workers fail to load', async () => {
    // Workers inherit node's flags; this one stops them evaluating the script they load.
    const [one, broken] = await Promise.all([check(1), check(2, {}, ['--disallow-code-generation-from-strings'])]);
    expect(broken.reason).toMatch(/wasm initialised, 1 thread$/);
    expect(broken.warnings.join('\n')).toMatch(/the multithreaded build did not start \(Code generation from strings disallowed/);
    expect(broken.digests).toEqual(one.digests);
  }, 240_000);

  it('defines the bundler names the factory refers to, and refuses one it does not know', () => {
    const source = 'var WasmBackendModuleThreadedSimd = function(){ return [require$$0.readFileSync, require$$4.cpus(), commonjsGlobal]; }';
    const script = threadedMainScript(source);
    expect(script.startsWith('var require$$0=require("fs"),require$$4=require("os"),commonjsGlobal=globalThis;var WasmBackendModuleThreadedSimd')).toBe(true);
    expect(threadedMainScript('var WasmBackendModuleThreadedSimd = () => __require("fs")')).toMatch(/^var __require=require;/);
    expect(() => threadedMainScript(`${source}; require$$7.x`)).toThrow(/refers to require\$\$7, which this version does not know/);
  });
});

describe('threads per process', () => {
  it('auto shares the cores among the processes, at least one each and at most the pool of 8', () => {
    expect(threadsPerProcess('auto', 1, 2)).toBe(2);
    expect(threadsPerProcess('auto', 2, 2)).toBe(1);
    expect(threadsPerProcess('auto', 3, 2)).toBe(1);
    expect(threadsPerProcess('auto', 2, 12)).toBe(6);
    expect(threadsPerProcess('auto', 1, 64)).toBe(8);
    expect(threadsPerProcess(3, 4, 2)).toBe(3);
  });

  it('the input takes auto or 1 to 8', () => {
    expect(threadsInput(undefined)).toBe('auto');
    expect(threadsInput(' 4 ')).toBe(4);
    expect(() => threadsInput('0')).toThrow(/threads must be auto or a number of threads from 1 to 8, got '0'/);
    expect(() => threadsInput('9')).toThrow(/from 1 to 8, got '9'/);
    expect(() => threadsInput('two')).toThrow(/got 'two'/);
  });
});
