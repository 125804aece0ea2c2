// `scan --jobs N` (the action's `jobs`): the shards of one scan as N processes of the CLI on one
// machine, their partial reports merged as `merge` merges a matrix's. Processes, not worker threads: tfjs keeps its
// backend and kernels in global state; each process's wasm backend gets its share of the cores as
// threads (threadsPerProcess).
import { spawn } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import { MAX_WASM_THREADS } from './engine/wasm-threads.js';
import type { Logger } from './logger.js';
import { Inputs, type Settings } from './settings.js';

/**
 * How many processes a scan runs in: one a core for the JS backends, which then compute on one
 * thread each (threadsPerProcess); tensorflow uses every core itself and webgpu the one GPU, so
 * splitting those only adds copies of the model. A shard, a merge and a scan with no scans are one
 * process. `wholeMachineBackend`: whether such a backend (tensorflow, webgpu) runs this process's work.
 */
export async function resolveJobs(
  settings: Pick<Settings, 'jobs' | 'shard' | 'merge' | 'scans'>,
  wholeMachineBackend: () => Promise<boolean>,
): Promise<number> {
  if (settings.shard || settings.merge || !settings.scans.length) return 1;
  if (settings.jobs !== 'auto') return settings.jobs;
  return (await wholeMachineBackend()) ? 1 : Math.max(1, Math.min(os.availableParallelism(), 64));
}

/**
 * Threads for each of `processes` processes that compute at once with the wasm backend: `threads`
 * as set, or `auto`, the machine's cores shared among them (at most the wasm pool's).
 */
export function threadsPerProcess(threads: number | 'auto', processes: number, cores = os.availableParallelism()): number {
  if (threads !== 'auto') return threads;
  return Math.max(1, Math.min(MAX_WASM_THREADS, Math.floor(cores / processes)));
}

/** The inputs (CLI flags of the same names) a shard process needs to scan as the whole scan would; the report, images and SARIF are the merge's. */
const SHARD_INPUTS = [Inputs.Data, Inputs.Backend, Inputs.Seed, Inputs.MaxProbeImages, Inputs.Scans, Inputs.Policy, Inputs.Thresholds] as const;

/** `--name value` for each shard input that is set (`get`: the action's inputs or the CLI's flags). */
export function shardFlags(get: (name: string) => string | undefined): string[] {
  return SHARD_INPUTS.flatMap((name) => {
    const value = get(name)?.trim();
    return value ? [`--${name}`, value] : [];
  });
}

/** The backdoor-gate CLI a shard process runs: its script and node's flags for it (a loader under tsx). */
export interface ShardCommand {
  script: string;
  execArgv: readonly string[];
}

/**
 * Runs `scan <location> <flags> --shard i/n` for i = 1..n at once, each writing its partial report
 * under `dir/shard-i/`, and resolves when all have ended. A shard that fails leaves its error report
 * (or none), which the merge then turns into verdict `error`. Their log lines are passed on, prefixed.
 */
export async function scanShardsInProcesses(
  n: number,
  command: ShardCommand,
  location: string,
  flags: readonly string[],
  dir: string,
  logger: Logger,
): Promise<string[]> {
  const runOne = (index: number) =>
    new Promise<string>((resolve, reject) => {
      const report = path.join(dir, `shard-${index}`, 'report.json');
      const child = spawn(process.execPath, [...command.execArgv, command.script, 'scan', location, ...flags, '--shard', `${index}/${n}`, '--report', report], {
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      let partial = '';
      child.stderr.on('data', (chunk: Buffer) => {
        const lines = (partial + chunk.toString('utf8')).split('\n');
        partial = lines.pop() ?? '';
        for (const line of lines) if (line.trim()) logger.info(`[shard ${index}/${n}] ${line}`);
      });
      child.on('error', reject);
      child.on('close', (code) => {
        if (partial.trim()) logger.info(`[shard ${index}/${n}] ${partial}`);
        if (code !== 0) logger.warning(`shard ${index}/${n} ended with exit code ${code}`);
        resolve(report);
      });
    });
  return Promise.all(Array.from({ length: n }, (_, i) => runOne(i + 1)));
}
