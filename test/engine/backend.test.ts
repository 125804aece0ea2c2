import * as tf from '@tensorflow/tfjs';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { mayHaveGpu, parseBackendChoice, selectBackend } from '../../src/engine/backend.js';
import { DAWN_VERSION, ensureNativeBackend, NATIVE_VERSION, type ToolCache } from '../../src/engine/native.js';
import { MemoryLogger } from '../../src/logger.js';

describe('backend selection', () => {
  it('auto picks wasm when no native package can be loaded, and says why', async () => {
    const logger = new MemoryLogger();
    const info = await selectBackend({ choice: 'auto', logger });
    expect(info.backend).toBe('wasm');
    expect(tf.getBackend()).toBe('wasm');
    expect(info.reason).toMatch(/native backend unavailable: neither @tensorflow\/tfjs-node-gpu nor @tensorflow\/tfjs-node is installed/);
    expect(logger.lines.some((l) => l.startsWith('info: compute backend: wasm'))).toBe(true);
    expect(info.flatKernels).toContain('Conv2DBackpropFilter');
  });

  it('an explicit tensorflow request that cannot be met warns and falls back', async () => {
    const logger = new MemoryLogger();
    const info = await selectBackend({ choice: 'tensorflow', logger });
    expect(info.backend).toBe('wasm');
    expect(logger.lines.some((l) => /warning: backend 'tensorflow' was requested but cannot be used/.test(l))).toBe(true);
  });

  it('cpu installs the flat kernels', async () => {
    const info = await selectBackend({ choice: 'cpu', logger: new MemoryLogger() });
    expect(info.backend).toBe('cpu');
    expect(info.flatKernels).toContain('Conv2DBackpropFilter');
  });

  it('rejects unknown choices', () => {
    expect(() => parseBackendChoice('gpu', 'backend')).toThrow(/backend must be one of auto, tensorflow, webgpu, wasm, cpu, got 'gpu'/);
  });

  it('auto looks for a GPU adapter only where Linux shows a GPU device file', () => {
    expect(mayHaveGpu(() => false)).toBe(process.platform !== 'linux');
    expect(mayHaveGpu((f) => f === '/dev/nvidia0')).toBe(true);
    expect(mayHaveGpu((f) => f === '/dev/dri')).toBe(true);
  });

  it('cleaning, which reads synchronously, passes webgpu over with a warning', async () => {
    const logger = new MemoryLogger();
    const info = await selectBackend({ choice: 'webgpu', logger, readsSynchronously: true });
    expect(info.backend).toBe('wasm');
    expect(info.reason).toMatch(/webgpu passed over: cleaning reads results synchronously/);
    expect(logger.lines.some((l) => /warning: backend 'webgpu' was requested, but cleaning reads results synchronously/.test(l))).toBe(true);
  });

  it('loads a native package from a tool-cache directory, sharing the one tfjs-core', async () => {
    // A stand-in for tfjs-node-gpu: registers a 'tensorflow' backend through whatever
    // require('@tensorflow/tfjs-core') returns. Its own tfjs-core copy throws if evaluated.
    const dir = mkdtempSync(path.join(os.tmpdir(), 'bg-native-'));
    const pkg = path.join(dir, 'node_modules', '@tensorflow', 'tfjs-node-gpu');
    const core = path.join(dir, 'node_modules', '@tensorflow', 'tfjs-core');
    mkdirSync(pkg, { recursive: true });
    mkdirSync(core, { recursive: true });
    writeFileSync(path.join(dir, 'package.json'), '{"name":"cache-root","private":true}');
    writeFileSync(path.join(pkg, 'package.json'), '{"name":"@tensorflow/tfjs-node-gpu","main":"index.js"}');
    writeFileSync(path.join(core, 'package.json'), '{"name":"@tensorflow/tfjs-core","main":"index.js"}');
    writeFileSync(path.join(core, 'index.js'), 'throw new Error("a second tfjs-core copy was loaded");');
    writeFileSync(path.join(pkg, 'index.js'), "const tf = require('@tensorflow/tfjs-core'); tf.registerBackend('tensorflow', () => tf.findBackend('cpu'), 3);");
    const logger = new MemoryLogger();
    const info = await selectBackend({ choice: 'auto', nativeDirs: [dir], logger });
    expect(info.backend).toBe('tensorflow');
    expect(info.reason).toMatch(/@tensorflow\/tfjs-node-gpu loaded/);
    tf.removeBackend('tensorflow');
    await tf.setBackend('cpu');
  });
});

describe('native backend install', () => {
  const cache = (found = ''): ToolCache & { cached: string[] } => {
    const cached: string[] = [];
    return { cached, find: () => found, cacheDir: async (src) => (cached.push(src), `/cache/${path.basename(src)}`) };
  };

  it('reports the cause when npm ci fails, without throwing, and leaves no staging directory', async () => {
    const tc = cache();
    let staging = '';
    const result = await ensureNativeBackend(tc, new MemoryLogger(), async (_cmd, _args, cwd) => {
      staging = cwd;
      writeFileSync(path.join(cwd, 'partial-install'), '');
      return {
        code: 1,
        stderr: 'npm warn deprecated x\nnpm error code ECONNREFUSED\nnpm error network request to https://storage.googleapis.com failed',
      };
    });
    expect(existsSync(staging)).toBe(false);
    expect(result).toEqual({
      error: `npm ci of @tensorflow/tfjs-node-gpu@${NATIVE_VERSION} from the lock file failed (exit 1): npm error code ECONNREFUSED | npm error network request to https://storage.googleapis.com failed`,
    });
    expect(tc.cached).toEqual([]);
  });

  it('installs with npm ci from the shipped lock file (pinned, integrity-checked) into a staging directory and caches it', async () => {
    const tc = cache();
    const calls: string[][] = [];
    let staged: { pkg: string; lock: { packages: Record<string, { version?: string; integrity?: string }> } } | undefined;
    const result = await ensureNativeBackend(tc, new MemoryLogger(), async (cmd, args, cwd) => {
      calls.push([cmd, ...args]);
      staged = { pkg: readFileSync(path.join(cwd, 'package.json'), 'utf8'), lock: JSON.parse(readFileSync(path.join(cwd, 'package-lock.json'), 'utf8')) };
      return { code: 0, stderr: '' };
    });
    expect(calls[0].slice(1)).toEqual(['ci', '--no-audit', '--no-fund']);
    // The lock pins the package at the bundled tfjs version, and every package has an integrity hash.
    const native = staged!.lock.packages['node_modules/@tensorflow/tfjs-node-gpu'];
    expect(native.version).toBe(NATIVE_VERSION);
    const pinned = Object.entries(staged!.lock.packages).filter(([k]) => k.startsWith('node_modules/'));
    expect(pinned.length).toBeGreaterThan(20);
    for (const [name, p] of pinned) expect(p.integrity, name).toMatch(/^sha(512|1)-/);
    expect(tc.cached).toHaveLength(1);
    expect(result).toEqual({ dir: `/cache/${path.basename(tc.cached[0])}` });
    // The tool cache keeps its own copy; the staging directory (hundreds of MB installed) is gone.
    expect(existsSync(tc.cached[0])).toBe(false);
  });

  it('installs Dawn (webgpu) from its own shipped lock file, at the version the tests run on', async () => {
    const tc = cache();
    let lock: { packages: Record<string, { version?: string; integrity?: string }> } | undefined;
    const result = await ensureNativeBackend(
      tc,
      new MemoryLogger(),
      async (_cmd, _args, cwd) => ((lock = JSON.parse(readFileSync(path.join(cwd, 'package-lock.json'), 'utf8'))), { code: 0, stderr: '' }),
      'webgpu',
    );
    expect(lock!.packages['node_modules/webgpu'].version).toBe(DAWN_VERSION);
    for (const [name, p] of Object.entries(lock!.packages).filter(([k]) => k.startsWith('node_modules/'))) expect(p.integrity, name).toMatch(/^sha512-/);
    const ours = JSON.parse(readFileSync('package.json', 'utf8')) as { devDependencies: Record<string, string> };
    expect(ours.devDependencies.webgpu).toBe(DAWN_VERSION);
    expect(result).toEqual({ dir: expect.stringMatching(/^\/cache\//) });
  });

  it('reports a staging directory it cannot create, without throwing', async () => {
    const missing = path.join(os.tmpdir(), `no-such-runner-temp-${process.pid}`, 'deeper');
    const saved = process.env.RUNNER_TEMP;
    process.env.RUNNER_TEMP = missing;
    let ran = false;
    try {
      const result = await ensureNativeBackend(cache(), new MemoryLogger(), async () => ((ran = true), { code: 0, stderr: '' }));
      expect(result).toEqual({
        error: expect.stringMatching(new RegExp(`staging the install of @tensorflow/tfjs-node-gpu@.* failed: .*ENOENT.*${missing.replace(/[\\/.]/g, '.')}`)),
      });
    } finally {
      if (saved === undefined) delete process.env.RUNNER_TEMP;
      else process.env.RUNNER_TEMP = saved;
    }
    expect(ran).toBe(false);
  });

  it('refuses to resolve packages at job time when the lock file is missing', async () => {
    let ran = false;
    const result = await ensureNativeBackend(cache(), new MemoryLogger(), async () => ((ran = true), { code: 0, stderr: '' }), 'tensorflow', null);
    expect(result).toEqual({ error: expect.stringMatching(/lock file for @tensorflow\/tfjs-node-gpu \(native\/\) is missing/) });
    expect(ran).toBe(false);
  });

  it('uses the tool cache without reinstalling', async () => {
    let ran = false;
    const result = await ensureNativeBackend(cache('/cache/hit'), new MemoryLogger(), async () => ((ran = true), { code: 0, stderr: '' }));
    expect(result).toEqual({ dir: '/cache/hit' });
    expect(ran).toBe(false);
  });
});
