// Starts tfjs' wasm backend on its multithreaded build (XNNPACK's thread pool: convolutions and
// matrix products split over cores), which tfjs supports in browsers only. In Node three things
// stand in the way, each worked around for the length of the start-up alone:
// - the pthread workers are created from blob: URLs, which Node's Worker cannot load: the two
//   scripts are written to a private temporary folder instead, the worker told to load the main
//   script from there, and the folder removed once every worker has loaded;
// - the main script is the emscripten factory's source, whose free variables (the bundler's names
//   for fs, path, perf_hooks, os and the global object) are defined for it, and only those: any
//   other name means another build of the package, and the start fails rather than guess;
// - tfjs caps the pool at half the logical cores (it assumes two hardware threads a core), so the
//   core count it reads is doubled.
// The workers are unref'd so that they never keep a finished run alive. A start that fails (no
// usable temporary folder, a worker that cannot load its script) must not take the process down:
// while it runs, an uncaught error is the start's failure, its workers are ended, and the caller
// falls back to the single-threaded build. XNNPACK splits its work by output tiles, so results are
// the same numbers as on one thread (test/engine/wasm-threads.test.ts).
import * as tf from '@tensorflow/tfjs';
import { getThreadsCount, setThreadsCount } from '@tensorflow/tfjs-backend-wasm';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import workerThreads, { type Worker } from 'node:worker_threads';

/** Where the emscripten worker script loads the main script from a Blob (tfjs-backend-wasm 4.x). */
const BLOB_IMPORT = 'var objectUrl=URL.createObjectURL(e.data.urlOrBlob);importScripts(objectUrl);URL.revokeObjectURL(objectUrl)';
const MAIN_SCRIPT_START = 'var WasmBackendModuleThreadedSimd';
/** The bundler's module variables the factory's source refers to, as the worker defines them. */
const FREE_NAMES: Readonly<Record<string, string>> = {
  require$$0: 'require("fs")',
  require$$1: 'require("path")',
  require$$3: 'require("perf_hooks")',
  require$$4: 'require("os")',
  commonjsGlobal: 'globalThis',
  // esbuild's require in an ESM bundle (dist/).
  __require: 'require',
};
const BUNDLER_NAME = /\b(?:require\$\$\d+|commonjsGlobal\w*|__require\w*)\b/g;
const START_TIMEOUT_MS = 60_000;
/** The emscripten build creates this many workers up front; more threads would need the scripts again. */
export const MAX_WASM_THREADS = 8;

/** The main script with the definitions it needs; throws on a name this package version does not use. */
export function threadedMainScript(source: string): string {
  const names = [...new Set(source.match(BUNDLER_NAME) ?? [])];
  const unknown = names.filter((n) => !(n in FREE_NAMES));
  if (unknown.length) throw new Error(`the threaded wasm build refers to ${unknown.join(', ')}, which this version does not know`);
  const defs = names.map((n) => `${n}=${FREE_NAMES[n]}`).join(',');
  return `${defs ? `var ${defs};` : ''}${source}`;
}

/**
 * Sets the wasm backend up on `threads` threads (2..MAX_WASM_THREADS) and resolves to the count
 * XNNPACK reports; rejects when the threaded build cannot start, leaving the globals as they were.
 * Call instead of, not after, a single-threaded start (tfjs starts a backend once).
 */
export async function startThreadedWasm(threads: number): Promise<number> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'backdoor-gate-wasm-'));
  const mainPath = path.join(dir, 'main.js');
  const workerPath = path.join(dir, 'worker.js');
  // Emscripten asks for the worker script once per worker while the earlier ones are already
  // reading it: rewriting the file then could hand one of them an empty script (it exits, never
  // loads). Each script is written once.
  let mainWritten = false;
  let workerWritten = false;
  const NativeBlob = globalThis.Blob;
  const createObjectURL = URL.createObjectURL;
  const cpus = os.cpus;
  const texts = new WeakMap<Blob, string>();
  let failure: Error | undefined;
  globalThis.Blob = class extends NativeBlob {
    constructor(parts?: BlobPart[], options?: BlobPropertyBag) {
      super(parts, options);
      if (!parts?.every((p) => typeof p === 'string')) return;
      const text = parts.join('');
      texts.set(this, text);
      if (!text.startsWith(MAIN_SCRIPT_START) || mainWritten) return;
      mainWritten = true;
      try {
        writeFileSync(mainPath, threadedMainScript(text));
      } catch (err) {
        failure = err instanceof Error ? err : new Error(String(err));
      }
    }
  };
  URL.createObjectURL = (blob: Blob) => {
    const text = texts.get(blob);
    if (text === undefined || !text.includes(BLOB_IMPORT)) return createObjectURL(blob);
    if (!workerWritten) writeFileSync(workerPath, text.replace(BLOB_IMPORT, `importScripts(${JSON.stringify(mainPath)})`));
    workerWritten = true;
    return workerPath;
  };
  const fakeCpus = Array.from({ length: 2 * threads }, () => cpus()[0]);
  os.cpus = () => fakeCpus;
  // A worker that fails to load throws from an event handler, where no promise sees it: while the
  // backend starts, an uncaught error is the start's failure (and no one else's to exit on).
  let workerFailed = (_: unknown) => {};
  const failed = new Promise<never>((_, reject) => (workerFailed = reject));
  // Emscripten unrefs each worker once it has loaded; with nothing else pending, Node could end
  // the process in the middle of the start (silently, exit code 0). This timer holds it open, and
  // a start that never finishes fails instead of hanging.
  const deadline = setTimeout(() => workerFailed(new Error(`the threaded wasm build did not start within ${START_TIMEOUT_MS / 1000} s`)), START_TIMEOUT_MS);
  // The emscripten factory adds listeners that rethrow; they are added once the start is over.
  const uncaughtListeners = process.listeners('uncaughtException');
  process.removeAllListeners('uncaughtException');
  process.on('uncaughtException', workerFailed);
  const processOn = process.on;
  const factoryListeners: Array<[string, (...args: unknown[]) => void]> = [];
  process.on = function (this: NodeJS.Process, event: string | symbol, listener: (...args: unknown[]) => void) {
    if (event === 'uncaughtException' || event === 'unhandledRejection') factoryListeners.push([event, listener]);
    else processOn.call(this, event, listener);
    return this;
  } as typeof process.on;
  // Every worker the start creates, to end them all when it fails (each would fail again later).
  const NativeWorker = workerThreads.Worker;
  const workers: Worker[] = [];
  workerThreads.Worker = class extends NativeWorker {
    constructor(...args: ConstructorParameters<typeof Worker>) {
      super(...args);
      workers.push(this);
      // A worker that ends before the start is over would leave it waiting for the worker's 'loaded'.
      this.once('exit', (code) => !started && workerFailed(new Error(`a pthread worker exited (code ${code}) before the start finished`)));
    }
  };
  let started = false;
  try {
    tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', true);
    setThreadsCount(threads);
    const ok = await Promise.race([tf.setBackend('wasm'), failed]);
    if (failure) throw failure;
    if (!ok) throw new Error('the threaded wasm backend did not initialise');
    for (const worker of workers) worker.unref();
    started = true;
    return getThreadsCount();
  } catch (err) {
    await Promise.all(workers.map((w) => w.terminate()));
    throw err;
  } finally {
    clearTimeout(deadline);
    workerThreads.Worker = NativeWorker;
    process.on = processOn;
    process.off('uncaughtException', workerFailed);
    for (const listener of uncaughtListeners) process.on('uncaughtException', listener);
    if (started) for (const [event, listener] of factoryListeners) process.on(event, listener);
    globalThis.Blob = NativeBlob;
    URL.createObjectURL = createObjectURL;
    os.cpus = cpus;
    rmSync(dir, { recursive: true, force: true });
  }
}
