// Optional native backend (libtensorflow via @tensorflow/tfjs-node-gpu): installed with npm into
// the runner's tool cache on request, then loaded so that it shares the bundled tfjs-core.
import * as tf from '@tensorflow/tfjs';
import { execFile } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import type { Logger } from '../logger.js';

/** Pinned to the bundled tfjs version: one engine, one set of kernel names. */
export const NATIVE_PACKAGE = '@tensorflow/tfjs-node-gpu';
export const NATIVE_VERSION = tf.version.tfjs;
const TOOL_NAME = 'tfjs-node-gpu';

/** The slice of @actions/tool-cache used here (a fake in tests). */
export interface ToolCache {
  find(tool: string, version: string): string;
  cacheDir(source: string, tool: string, version: string): Promise<string>;
}

export type CommandRunner = (command: string, args: string[], cwd: string) => Promise<{ code: number; stderr: string }>;

export const runCommand: CommandRunner = (command, args, cwd) =>
  new Promise((resolve) => {
    execFile(command, args, { cwd, maxBuffer: 16 * 1024 * 1024 }, (err, _stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? ((err as { code: number }).code) : 1) : 0;
      resolve({ code, stderr: String(stderr || (err ? err.message : '')) });
    });
  });

/** Last meaningful line of npm's stderr: the cause a user can act on. */
function lastErrorLine(stderr: string): string {
  const lines = stderr.split('\n').map((l) => l.trim()).filter((l) => l && !/^npm (warn|notice)/i.test(l));
  return lines.slice(-3).join(' | ') || 'no error output';
}

/**
 * Returns the tool-cache directory holding the native package, installing it when absent.
 * Never throws: failure yields `{ error }`, and the caller falls back to wasm/cpu.
 */
export async function ensureNativeBackend(cache: ToolCache, logger: Logger, run: CommandRunner = runCommand): Promise<{ dir: string } | { error: string }> {
  const cached = cache.find(TOOL_NAME, NATIVE_VERSION);
  if (cached) {
    logger.info(`native backend: ${NATIVE_PACKAGE}@${NATIVE_VERSION} found in the tool cache`);
    return { dir: cached };
  }
  const staging = mkdtempSync(path.join(os.tmpdir(), 'backdoor-gate-native-'));
  logger.info(`native backend: installing ${NATIVE_PACKAGE}@${NATIVE_VERSION} (downloads libtensorflow)`);
  const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
  const result = await run(npm, ['install', '--no-save', '--no-package-lock', '--no-audit', '--no-fund', '--prefix', staging, `${NATIVE_PACKAGE}@${NATIVE_VERSION}`], staging);
  if (result.code !== 0) return { error: `npm install ${NATIVE_PACKAGE}@${NATIVE_VERSION} failed (exit ${result.code}): ${lastErrorLine(result.stderr)}` };
  try {
    return { dir: await cache.cacheDir(staging, TOOL_NAME, NATIVE_VERSION) };
  } catch (err) {
    return { error: `caching the native backend failed: ${(err as Error).message}` };
  }
}

/**
 * Makes `require('@tensorflow/tfjs-core')` (and `@tensorflow/tfjs`) as seen from the native
 * package's entry file return the bundled tfjs, so the package registers its backend in our
 * engine and no second tfjs-core is ever evaluated.
 */
export function pinTfjsFor(packageMain: string): void {
  const fromPackage = createRequire(packageMain);
  for (const shared of ['@tensorflow/tfjs-core', '@tensorflow/tfjs']) {
    let resolved: string;
    try {
      resolved = fromPackage.resolve(shared);
    } catch {
      continue;
    }
    if (!fromPackage.cache[resolved]) {
      fromPackage.cache[resolved] = { id: resolved, filename: resolved, loaded: true, exports: tf, children: [], paths: [] } as unknown as NodeJS.Module;
    }
  }
}
