// Runs test/helpers/warp-clean-check.ts in its own process (it trains, so it gets a fresh tfjs).
import { spawn } from 'node:child_process';
import path from 'node:path';
import { REPO } from './run.js';

export const WANET = path.join(REPO, 'test/fixtures/models/bn-cnn-wanet-t5');

export function warpCheck(dir: string, target: number, rounds: number, maxShift?: number): Promise<Record<string, any>> {
  return new Promise((resolve, reject) => {
    const args = [dir, String(target), String(rounds), ...(maxShift === undefined ? [] : [String(maxShift)])];
    const child = spawn(process.execPath, ['--import', 'tsx', path.join(REPO, 'test/helpers/warp-clean-check.ts'), ...args], { cwd: REPO });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    child.on('close', (code) => (code === 0 ? resolve(JSON.parse(out.trim().split('\n').at(-1)!)) : reject(new Error(`exit ${code}: ${err}`))));
  });
}
