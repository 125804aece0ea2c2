// Optional native backends, installed on request with `npm ci` from a lock file the action ships
// (every package pinned and integrity-checked, nothing resolved at job time) into the runner's
// tool cache: libtensorflow via @tensorflow/tfjs-node-gpu (native/), loaded so that it shares the
// bundled tfjs-core, or Dawn for Node, the `webgpu` package (native/webgpu/).
import * as tf from '@tensorflow/tfjs';
import { execFile } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import type { Logger } from '../logger.js';

/** Pinned to the bundled tfjs version: one engine, one set of kernel names. */
export const NATIVE_VERSION = tf.version.tfjs;
/** Dawn's build the webgpu backend was checked on (test/engine/webgpu.test.ts). */
export const DAWN_VERSION = '0.6.2';

/** What `install-native-backend` can install: the package, its version, its tool-cache name and its lock file's folder under native/. */
export const NATIVE_INSTALLS = {
  tensorflow: { name: '@tensorflow/tfjs-node-gpu', version: NATIVE_VERSION, tool: 'tfjs-node-gpu', folder: '.', note: 'downloads libtensorflow' },
  webgpu: { name: 'webgpu', version: DAWN_VERSION, tool: 'dawn-webgpu', folder: 'webgpu', note: 'Dawn, prebuilt in the package' },
} as const;
export type NativeBackend = keyof typeof NATIVE_INSTALLS;

/** The slice of @actions/tool-cache used here (a fake in tests). */
export interface ToolCache {
  find(tool: string, version: string): string;
  cacheDir(source: string, tool: string, version: string): Promise<string>;
}

/** native/<folder> beside dist/ (the action's checkout) or beside src/ (tests): package.json and its lock file. */
export function nativeLockDirectory(backend: NativeBackend, from = path.dirname(new URL(import.meta.url).pathname)): string | undefined {
  const folder = NATIVE_INSTALLS[backend].folder;
  for (const dir of [path.join(from, '..', 'native', folder), path.join(from, '..', '..', 'native', folder)])
    if (existsSync(path.join(dir, 'package-lock.json'))) return path.normalize(dir);
  return undefined;
}

export type CommandRunner = (command: string, args: string[], cwd: string) => Promise<{ code: number; stderr: string }>;

export const runCommand: CommandRunner = (command, args, cwd) =>
  new Promise((resolve) => {
    execFile(command, args, { cwd, maxBuffer: 16 * 1024 * 1024 }, (err, _stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 1) : 0;
      resolve({ code, stderr: String(stderr || (err ? err.message : '')) });
    });
  });

/** Last meaningful line of npm's stderr: the cause a user can act on. */
function lastErrorLine(stderr: string): string {
  const lines = stderr
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !/^npm (warn|notice)/i.test(l));
  return lines.slice(-3).join(' | ') || 'no error output';
}

/**
 * Returns the tool-cache directory holding the native package, installing it when absent.
 * Never throws: failure yields `{ error }`, and the caller falls back to wasm/cpu.
 */
export async function ensureNativeBackend(
  cache: ToolCache,
  logger: Logger,
  run: CommandRunner = runCommand,
  backend: NativeBackend = 'tensorflow',
  lockDir: string | null = nativeLockDirectory(backend) ?? null,
): Promise<{ dir: string } | { error: string }> {
  const { name, version, tool, note } = NATIVE_INSTALLS[backend];
  const cached = cache.find(tool, version);
  if (cached) {
    logger.info(`native backend: ${name}@${version} found in the tool cache`);
    return { dir: cached };
  }
  if (!lockDir) return { error: `the lock file for ${name} (native/) is missing from the action: refusing to resolve packages at job time` };
  // The staging copy goes once the tool cache holds its own (or the install failed): a self-hosted
  // runner keeps its temp directory, and an installed backend is hundreds of megabytes.
  let staging: string | undefined;
  try {
    staging = mkdtempSync(path.join(process.env.RUNNER_TEMP || os.tmpdir(), 'backdoor-gate-native-'));
    for (const f of ['package.json', 'package-lock.json']) copyFileSync(path.join(lockDir, f), path.join(staging, f));
    logger.info(`native backend: installing ${name}@${version} from the shipped lock file (npm ci; ${note})`);
    const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
    const result = await run(npm, ['ci', '--no-audit', '--no-fund'], staging);
    if (result.code !== 0) return { error: `npm ci of ${name}@${version} from the lock file failed (exit ${result.code}): ${lastErrorLine(result.stderr)}` };
    try {
      return { dir: await cache.cacheDir(staging, tool, version) };
    } catch (err) {
      return { error: `caching the native backend failed: ${(err as Error).message}` };
    }
  } catch (err) {
    return { error: `staging the install of ${name}@${version} failed: ${(err as Error).message}` };
  } finally {
    if (staging) rmSync(staging, { recursive: true, force: true });
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
