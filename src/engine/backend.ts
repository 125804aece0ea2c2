// Chooses the tfjs backend: `tensorflow` (libtensorflow through tfjs-node[-gpu]) when it can be
// loaded, else `webgpu` on a GPU adapter, else `wasm`, else `cpu`, and installs the flat kernels
// the chosen backend needs.
import * as tf from '@tensorflow/tfjs';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Logger } from '../logger.js';
import { ConfigurationError } from '../errors.js';
import { pinTfjsFor } from './native.js';
import { openWebgpu, takeWebgpuFaults } from './webgpu.js';
import { CPU_REPLACED, WASM_ACCELERATED, WASM_SUPPLIED, accelerateWasmKernels, installFlatKernels } from './kernels/register.js';
import { registerActivationGradients } from './kernels/activation-gradients.js';
import { MAX_WASM_THREADS, startThreadedWasm } from './wasm-threads.js';

export const BACKEND_CHOICES = ['auto', 'tensorflow', 'webgpu', 'wasm', 'cpu'] as const;
export type BackendChoice = (typeof BACKEND_CHOICES)[number];
export type BackendName = Exclude<BackendChoice, 'auto'>;

/** What was chosen and why; recorded in every report. */
export interface EngineInfo {
  backend: BackendName;
  reason: string;
  tfjsVersion: string;
  /** Kernels this engine registered over or beside the backend's own. */
  flatKernels: string[];
}

/** The native packages tried, in order; GPU first. */
export const NATIVE_PACKAGES = ['@tensorflow/tfjs-node-gpu', '@tensorflow/tfjs-node'] as const;

const WASM_FILE = 'tfjs-backend-wasm.wasm';

/** Where the .wasm binaries are: in dist/ beside the bundle (chunks live one level down) or in node_modules. */
export function wasmDirectory(): string {
  const here = path.dirname(fileURLToPath(import.meta.url));
  for (const dir of [here, path.dirname(here)]) if (existsSync(path.join(dir, WASM_FILE))) return dir;
  const require = createRequire(import.meta.url);
  return path.join(path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json')), 'dist');
}

/**
 * What every backend needs: no tfjs console banner (it suggests tfjs-node; our log already says
 * which backend runs and why), the optional-input fix, the one-pass activation gradients.
 */
function prepareTfjs(): void {
  tf.env().set('PROD', true);
  patchOptionalGradientInputs();
  registerActivationGradients();
}

let gradientPatchApplied = false;

/**
 * tfjs 4.22 saves every input a gradient declares, and crashes cloning an absent optional one:
 * FusedBatchNorm's gradient saves `scale`, which Keras BN layers with scale=False (InceptionV3)
 * leave undefined. Absent trailing inputs are left out, which the gradient reads as undefined.
 */
export function patchOptionalGradientInputs(): void {
  if (gradientPatchApplied) return;
  const engine = tf.engine() as unknown as {
    saveTensorsForBackwardMode(tensors: Array<tf.Tensor | undefined>): Array<tf.Tensor | undefined>;
    addTapeNode(kernelName: string, inputs: Record<string, tf.Tensor | undefined>, ...rest: unknown[]): void;
  };
  const save = engine.saveTensorsForBackwardMode.bind(engine);
  const addTapeNode = engine.addTapeNode.bind(engine);
  // The tape must not list the absent input either, or backprop dereferences it.
  engine.addTapeNode = (kernelName, inputs, ...rest) =>
    addTapeNode(kernelName, Object.fromEntries(Object.entries(inputs).filter(([, t]) => t != null)), ...rest);
  // Trailing absent inputs are dropped (the gradient reads them as undefined); the tape later
  // disposes every saved entry, so the array must not hold undefined.
  engine.saveTensorsForBackwardMode = (tensors) => {
    let end = tensors.length;
    while (end > 0 && tensors[end - 1] == null) end--;
    return save(tensors.slice(0, end));
  };
  gradientPatchApplied = true;
}

let wasmReady: Promise<boolean> | undefined;
/** The threads the wasm backend started on, and why not more when a threaded start failed. */
const wasmStart: { threads: number; failure?: string } = { threads: 1 };

/**
 * Registers the wasm backend once (with the kernels it lacks); false when it cannot start.
 * `threads` > 1 starts the multithreaded build (wasm-threads.ts), or the single-threaded one when
 * that fails; the first call decides, as tfjs starts a backend once.
 */
export function initWasm(threads = 1): Promise<boolean> {
  wasmReady ??= (async () => {
    prepareTfjs();
    setWasmPaths(`${wasmDirectory()}${path.sep}`);
    let ok = false;
    if (threads > 1) {
      try {
        wasmStart.threads = await startThreadedWasm(Math.min(threads, MAX_WASM_THREADS));
        ok = true;
      } catch (err) {
        wasmStart.failure = err instanceof Error ? err.message : String(err);
      }
    }
    if (!ok) {
      tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', false);
      ok = await tf.setBackend('wasm');
    }
    // The wasm kernels register at import; ours go beside (or around) them.
    installFlatKernels('wasm', WASM_SUPPLIED);
    accelerateWasmKernels();
    return ok;
  })();
  return wasmReady;
}

/** Attempts to load a native tfjs-node package, from `searchDirs` (tool cache) or node_modules. */
export function loadNativeBackend(searchDirs: string[]): { loaded: string } | { error: string } {
  const failures: string[] = [];
  const roots = [...searchDirs.map((d) => path.join(d, 'package.json')), fileURLToPath(import.meta.url)];
  for (const pkg of NATIVE_PACKAGES) {
    for (const root of roots) {
      const require = createRequire(root);
      let main: string;
      try {
        main = require.resolve(pkg);
      } catch {
        continue;
      }
      try {
        pinTfjsFor(main);
        require(main);
        if (tf.findBackend('tensorflow')) return { loaded: pkg };
      } catch (err) {
        failures.push(`${pkg}: ${err instanceof Error ? err.message.split('\n')[0] : String(err)}`);
      }
    }
  }
  return { error: failures.length ? failures.join('; ') : `neither ${NATIVE_PACKAGES.join(' nor ')} is installed` };
}

export interface SelectOptions {
  choice: BackendChoice;
  /** Directories (e.g. the tool-cache install) to search for the native packages (tfjs-node, webgpu). */
  nativeDirs?: string[];
  logger: Logger;
  /** The work reads tensors synchronously (cleaning does), which webgpu cannot in Node: it is passed over. */
  readsSynchronously?: boolean;
  /** Threads for the wasm backend (jobs.ts threadsPerProcess); 1 when absent. */
  wasmThreads?: number;
}

/**
 * Whether `auto` should look for a GPU adapter: on Linux only where a GPU device file exists, so a
 * CPU runner never starts Dawn (whose driver probing costs time and writes to stderr).
 */
export function mayHaveGpu(exists: (file: string) => boolean = existsSync): boolean {
  if (process.platform !== 'linux') return true;
  return ['/dev/nvidia0', '/dev/dri', '/dev/kfd'].some((f) => exists(f));
}

function engineInfo(logger: Logger, backend: BackendName, reason: string, flatKernels: string[]): EngineInfo {
  logger.info(`compute backend: ${backend} (${reason})`);
  return { backend, reason, tfjsVersion: tf.version.tfjs, flatKernels };
}

/**
 * Starts a backend that uses every core (or the GPU) itself, tensorflow or webgpu, where the
 * choice allows one and it works; otherwise starts nothing and says why. A caller can thus learn
 * whether the work would run in one process before wasm starts its threads (session.ts).
 */
export async function startWholeMachineBackend({
  choice,
  nativeDirs = [],
  logger,
  readsSynchronously = false,
}: Omit<SelectOptions, 'wasmThreads'>): Promise<{ engine: EngineInfo } | { reasons: string[] }> {
  prepareTfjs();
  const reasons: string[] = [];
  const finish = (backend: BackendName, reason: string) => ({ engine: engineInfo(logger, backend, reason, []) });

  if (choice === 'tensorflow' || choice === 'auto') {
    const native = loadNativeBackend(nativeDirs);
    if ('loaded' in native && (await tf.setBackend('tensorflow'))) {
      return finish('tensorflow', `${native.loaded} loaded${choice === 'auto' ? ' (auto prefers native)' : ''}`);
    }
    const why = 'error' in native ? native.error : 'the tensorflow backend did not initialise';
    if (choice === 'tensorflow') {
      logger.warning(`backend 'tensorflow' was requested but cannot be used (${why}); falling back to wasm`);
    }
    reasons.push(`native backend unavailable: ${why}`);
  }

  if (readsSynchronously && choice === 'webgpu') {
    logger.warning(
      `backend 'webgpu' was requested, but cleaning reads results synchronously, which tfjs' webgpu backend cannot do in Node; falling back to wasm`,
    );
    reasons.push('webgpu passed over: cleaning reads results synchronously');
  } else if (choice === 'webgpu' || (choice === 'auto' && !readsSynchronously && mayHaveGpu())) {
    const gpu = await openWebgpu(nativeDirs);
    // A software adapter is a test bench for the kernels: used when asked for by name only.
    const unusable = 'error' in gpu ? gpu.error : gpu.software && choice === 'auto' ? `only a software adapter (${gpu.name})` : undefined;
    if (!unusable && !('error' in gpu) && (await tf.setBackend('webgpu'))) {
      if (gpu.software) logger.warning(`backend 'webgpu' runs on a software adapter (${gpu.name}): correct, but slower than wasm`);
      const level = gpu.featureLevel === 'compatibility' ? ', WebGPU compatibility mode' : '';
      return finish('webgpu', `adapter ${gpu.name}${level}${choice === 'auto' ? ' (auto prefers a GPU)' : ''}`);
    }
    const why = unusable ?? 'the webgpu backend did not initialise';
    if (choice === 'webgpu') logger.warning(`backend 'webgpu' was requested but cannot be used (${why}); falling back to wasm`);
    reasons.push(`webgpu unavailable: ${why}`);
  }
  return { reasons };
}

/** Selects and activates a backend; logs the choice and the reason. */
export async function selectBackend(options: SelectOptions): Promise<EngineInfo> {
  const { choice, logger, wasmThreads = 1 } = options;
  const whole = await startWholeMachineBackend(options);
  if ('engine' in whole) return whole.engine;
  const { reasons } = whole;

  if (choice !== 'cpu') {
    try {
      // initWasm registers once; the backend is set here each time (an attempt at another may have failed since).
      if ((await initWasm(wasmThreads)) && (await tf.setBackend('wasm'))) {
        if (wasmStart.failure) logger.warning(`wasm runs on one thread: the multithreaded build did not start (${wasmStart.failure})`);
        const threads = `${wasmStart.threads} thread${wasmStart.threads > 1 ? 's' : ''}`;
        return engineInfo(logger, 'wasm', [...reasons, `wasm initialised, ${threads}`].join('; '), [...WASM_SUPPLIED, ...WASM_ACCELERATED]);
      }
      reasons.push('wasm failed to initialise');
    } catch (err) {
      reasons.push(`wasm failed to initialise: ${err instanceof Error ? err.message : String(err)}`);
    }
    if (choice === 'wasm') logger.warning(`backend 'wasm' was requested but ${reasons.at(-1)}; falling back to cpu`);
  }

  const flat = installFlatKernels('cpu', CPU_REPLACED);
  if (!(await tf.setBackend('cpu'))) throw new ConfigurationError('no tfjs backend could be initialised (cpu failed)');
  return engineInfo(logger, 'cpu', choice === 'cpu' ? 'requested' : reasons.join('; '), flat.length ? flat : [...CPU_REPLACED]);
}

/**
 * Throws when the computation so far cannot be trusted. The JS backends throw at the fault; a GPU
 * reports invalid work asynchronously and tfjs goes on with zeros, so a scan asks before it decides.
 */
export async function assertNoEngineFault(): Promise<void> {
  const faults = await takeWebgpuFaults();
  if (!faults.length) return;
  const more = faults.length > 1 ? ` (and ${faults.length - 1} more)` : '';
  throw new Error(`the GPU rejected part of the computation, so its results are not trusted: ${faults[0]}${more}`);
}

export function parseBackendChoice(value: string, source: string): BackendChoice {
  const v = (value || 'auto').trim().toLowerCase();
  if ((BACKEND_CHOICES as readonly string[]).includes(v)) return v as BackendChoice;
  throw new ConfigurationError(`${source} must be one of ${BACKEND_CHOICES.join(', ')}, got '${value}'`);
}
