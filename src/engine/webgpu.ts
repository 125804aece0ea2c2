// The webgpu backend: tfjs' webgpu kernels on Dawn for Node (the `webgpu` package, prebuilt:
// Vulkan on Linux, Metal, D3D12), which needs no CUDA toolkit. Its synchronous read draws through
// OffscreenCanvas, which Node lacks, so whatever runs on it reads asynchronously (engine/read.ts):
// the scans do; cleaning does not yet, and never runs on it.
// Dawn reports invalid work (a pipeline over the device's limits, a buffer too large) as an event,
// not an exception, and tfjs then reads back zeros: every such event is kept for the caller.
import * as tf from '@tensorflow/tfjs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { NATIVE_INSTALLS } from './native.js';

/** The Dawn package, installed beside the action by `install-native-backend: webgpu` or by the user. */
const DAWN_PACKAGE = NATIVE_INSTALLS.webgpu.name;

/** Adapters that compute on the CPU: fine for testing the kernels, slower than wasm for a scan. */
const SOFTWARE_ADAPTER = /llvmpipe|lavapipe|softpipe|swiftshader|software/i;

// The slice of Dawn's WebGPU objects used here; @webgpu/types is not a dependency.
interface GpuAdapterInfo {
  vendor?: string;
  architecture?: string;
  device?: string;
  description?: string;
}
interface GpuDevice {
  addEventListener(type: 'uncapturederror', listener: (event: { error: { message: string } }) => void): void;
  lost: Promise<{ message: string }>;
  queue: { onSubmittedWorkDone(): Promise<void> };
}
interface GpuAdapter {
  info: GpuAdapterInfo;
  limits: Record<string, number>;
  requestDevice(descriptor: { requiredLimits: Record<string, number> }): Promise<GpuDevice>;
}
interface Gpu {
  requestAdapter(options: { powerPreference?: string; featureLevel?: string }): Promise<GpuAdapter | null>;
}
interface Dawn {
  create(flags: string[]): Gpu;
  globals: Record<string, unknown>;
}

export interface WebgpuAdapter {
  /** The adapter's name as Dawn gives it (device and driver). */
  name: string;
  /** A CPU implementation (Mesa llvmpipe, SwiftShader): `auto` never picks one. */
  software: boolean;
  /** `compatibility` is WebGPU's reduced feature level, the one Dawn's OpenGL backend offers. */
  featureLevel: 'core' | 'compatibility';
  /** The largest buffer one kernel can bind: a tensor beyond it is a fault. */
  maxStorageBufferBindingSize: number;
}

/** The limits tfjs' kernels can use; the defaults are lower than most adapters' (and than its workgroups need). */
const COMPUTE_LIMITS = [
  'maxComputeWorkgroupStorageSize',
  'maxComputeWorkgroupsPerDimension',
  'maxComputeWorkgroupSizeX',
  'maxComputeWorkgroupSizeY',
  'maxComputeWorkgroupSizeZ',
  'maxComputeInvocationsPerWorkgroup',
  'maxStorageBufferBindingSize',
  'maxStorageBuffersPerShaderStage',
  'maxBufferSize',
] as const;

function loadDawn(searchDirs: string[]): Promise<Dawn> | { error: string } {
  const roots = [...searchDirs.map((d) => path.join(d, 'package.json')), fileURLToPath(import.meta.url)];
  for (const root of roots) {
    try {
      const main = createRequire(root).resolve(DAWN_PACKAGE);
      return import(pathToFileURL(main).href) as Promise<Dawn>;
    } catch {
      // not under this root
    }
  }
  return { error: `the ${DAWN_PACKAGE} package (Dawn for Node) is not installed` };
}

function adapterName(info: GpuAdapterInfo): string {
  return [info.vendor, info.device, info.description].filter((s) => s && s.trim()).join(' / ') || 'unnamed adapter';
}

/** A core adapter (Vulkan, Metal, D3D12) first; else WebGPU compatibility on OpenGL, which a machine with Mesa has even without a GPU. */
async function requestAdapter(dawn: Dawn): Promise<{ gpu: Gpu; adapter: GpuAdapter; featureLevel: WebgpuAdapter['featureLevel'] } | undefined> {
  const core = dawn.create([]);
  const found = await core.requestAdapter({ powerPreference: 'high-performance' });
  if (found) return { gpu: core, adapter: found, featureLevel: 'core' };
  // Mesa's EGL needs a platform when there is no display server: surfaceless renders off screen.
  if (process.platform === 'linux' && !process.env.DISPLAY && !process.env.WAYLAND_DISPLAY) process.env.EGL_PLATFORM ??= 'surfaceless';
  const gl = dawn.create(['backend=opengl']);
  const compat = await gl.requestAdapter({ featureLevel: 'compatibility', powerPreference: 'high-performance' });
  return compat ? { gpu: gl, adapter: compat, featureLevel: 'compatibility' } : undefined;
}

let opened: Promise<WebgpuAdapter | { error: string }> | undefined;
let device: GpuDevice | undefined;
let bindingLimit = Infinity;
const faults: string[] = [];

/**
 * Finds an adapter, opens a device with the adapter's compute limits and registers tfjs' webgpu
 * backend on it (not activated: the caller decides). Once per process; never throws.
 */
export function openWebgpu(searchDirs: string[] = []): Promise<WebgpuAdapter | { error: string }> {
  opened ??= (async () => {
    try {
      const dawn = loadDawn(searchDirs);
      if ('error' in dawn) return dawn;
      const { create, globals } = await dawn;
      const found = await requestAdapter({ create, globals });
      if (!found) return { error: 'Dawn found no WebGPU adapter (no Vulkan, Metal, D3D12 or OpenGL driver)' };
      const { gpu, adapter, featureLevel } = found;
      const requiredLimits = Object.fromEntries(COMPUTE_LIMITS.filter((k) => adapter.limits[k] != null).map((k) => [k, adapter.limits[k]]));
      device = await adapter.requestDevice({ requiredLimits });
      bindingLimit = adapter.limits.maxStorageBufferBindingSize ?? Infinity;
      device.addEventListener('uncapturederror', (event) => faults.push(event.error.message.split('\n')[0]));
      void device.lost.then((info) => faults.push(`the GPU device was lost: ${info.message || 'no reason given'}`));
      // The package is CommonJS: bundled, its exports arrive as the default export.
      const loaded = (await import('@tensorflow/tfjs-backend-webgpu')) as typeof import('@tensorflow/tfjs-backend-webgpu') & {
        default?: typeof import('@tensorflow/tfjs-backend-webgpu');
      };
      const WebGPUBackend = loaded.WebGPUBackend ?? loaded.default?.WebGPUBackend;
      // tfjs' kernels name the WebGPU globals (GPUBufferUsage…) and find the GPU on navigator.
      for (const [name, value] of Object.entries(globals))
        if (!(name in globalThis)) Object.defineProperty(globalThis, name, { value, configurable: true, writable: true });
      if (!('navigator' in globalThis)) Object.defineProperty(globalThis, 'navigator', { value: {}, configurable: true });
      Object.defineProperty((globalThis as unknown as { navigator: object }).navigator, 'gpu', { value: gpu, configurable: true });
      // Ours replaces any factory of tfjs' own (which asks for a core adapter with default limits).
      if (tf.findBackendFactory('webgpu')) tf.removeBackend('webgpu');
      const info = adapter.info;
      const opened = device;
      tf.registerBackend(
        'webgpu',
        () => {
          const backend = new WebGPUBackend(opened as never, info as never);
          // Row planning profiles memory, not kernel times: tfjs' hint about timestamp queries (for Chrome) is noise here.
          Object.assign(backend, { hasTimestampQueryWarned: true });
          return backend;
        },
        0,
      );
      const name = adapterName(info);
      return { name, software: SOFTWARE_ADAPTER.test(name), featureLevel, maxStorageBufferBindingSize: adapter.limits.maxStorageBufferBindingSize };
    } catch (err) {
      return { error: `WebGPU could not start: ${err instanceof Error ? err.message.split('\n')[0] : String(err)}` };
    }
  })();
  return opened;
}

/** The largest tensor, in bytes, one kernel may use on the active backend (unbounded off the GPU). */
export function tensorByteLimit(): number {
  return tf.getBackend() === 'webgpu' ? bindingLimit : Infinity;
}

/**
 * What went wrong on the GPU since the last call (validation, out of memory, device lost), once
 * the work submitted so far has finished; empty when nothing did or no device is open.
 */
export async function takeWebgpuFaults(): Promise<string[]> {
  if (!device) return [];
  await device.queue.onSubmittedWorkDone();
  // The error events are delivered on a later turn of the event loop.
  await new Promise((resolve) => setTimeout(resolve, 0));
  return faults.splice(0);
}
