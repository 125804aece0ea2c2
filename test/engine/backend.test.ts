import * as tf from '@tensorflow/tfjs';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseBackendChoice, selectBackend } from '../../src/engine/backend.js';
import { ensureNativeBackend, NATIVE_VERSION, type ToolCache } from '../../src/engine/native.js';
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
    expect(() => parseBackendChoice('gpu', 'backend')).toThrow(/backend must be one of auto, tensorflow, wasm, cpu, got 'gpu'/);
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
    writeFileSync(
      path.join(pkg, 'index.js'),
      "const tf = require('@tensorflow/tfjs-core'); tf.registerBackend('tensorflow', () => tf.findBackend('cpu'), 3);",
    );
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

  it('reports the cause when npm install fails, without throwing', async () => {
    const tc = cache();
    const result = await ensureNativeBackend(tc, new MemoryLogger(), async () => ({
      code: 1,
      stderr: 'npm warn deprecated x\nnpm error code ECONNREFUSED\nnpm error network request to https://storage.googleapis.com failed',
    }));
    expect(result).toEqual({
      error: `npm install @tensorflow/tfjs-node-gpu@${NATIVE_VERSION} failed (exit 1): npm error code ECONNREFUSED | npm error network request to https://storage.googleapis.com failed`,
    });
    expect(tc.cached).toEqual([]);
  });

  it('installs into a staging directory and caches it', async () => {
    const tc = cache();
    const calls: string[][] = [];
    const result = await ensureNativeBackend(tc, new MemoryLogger(), async (cmd, args) => (calls.push([cmd, ...args]), { code: 0, stderr: '' }));
    expect(calls[0]).toContain(`@tensorflow/tfjs-node-gpu@${NATIVE_VERSION}`);
    expect(tc.cached).toHaveLength(1);
    expect(result).toEqual({ dir: `/cache/${path.basename(tc.cached[0])}` });
  });

  it('uses the tool cache without reinstalling', async () => {
    let ran = false;
    const result = await ensureNativeBackend(cache('/cache/hit'), new MemoryLogger(), async () => ((ran = true), { code: 0, stderr: '' }));
    expect(result).toEqual({ dir: '/cache/hit' });
    expect(ran).toBe(false);
  });
});
