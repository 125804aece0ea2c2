// `scan --jobs N`: the shards of one scan as N processes of this CLI on one machine, their partial
// reports merged as `merge` merges a matrix's. Processes, not worker threads: tfjs keeps its
// backend and kernels in global state, and the wasm backend computes on one core per process.
import { spawn } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import type { BackendName } from './engine/backend.js';
import { ConfigurationError } from './errors.js';
import type { Logger } from './logger.js';

/**
 * The JS backends compute on one core each; tensorflow uses every core itself and webgpu the one
 * GPU, so splitting those only adds copies of the model.
 */
export async function resolveJobs(raw: string | undefined, backend: () => Promise<BackendName>): Promise<number> {
  const text = raw?.trim() || 'auto';
  if (text === 'auto') return ['tensorflow', 'webgpu'].includes(await backend()) ? 1 : Math.max(1, Math.min(os.availableParallelism(), 64));
  const n = /^\d+$/.test(text) ? Number(text) : NaN;
  if (!(n >= 1 && n <= 64)) throw new ConfigurationError(`--jobs must be auto or a number of processes from 1 to 64, got '${text}'`);
  return n;
}

/**
 * Runs `scan <location> <flags> --shard i/n` for i = 1..n at once, each writing its partial report
 * under `dir/shard-i/`, and resolves when all have ended. A shard that fails leaves its error report
 * (or none), which the merge then turns into verdict `error`. Their log lines are passed on, prefixed.
 */
export async function scanShardsInProcesses(n: number, location: string, flags: readonly string[], dir: string, logger: Logger): Promise<string[]> {
  const runOne = (index: number) =>
    new Promise<string>((resolve, reject) => {
      const report = path.join(dir, `shard-${index}`, 'report.json');
      // This same CLI (and its loader under tsx), as the user ran it.
      const child = spawn(
        process.execPath,
        [...process.execArgv, process.argv[1], 'scan', location, ...flags, '--shard', `${index}/${n}`, '--report', report],
        {
          stdio: ['ignore', 'ignore', 'pipe'],
        },
      );
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
