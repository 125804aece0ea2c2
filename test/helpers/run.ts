// Runs the committed bundles (dist/) as a user would.
import { spawn } from 'node:child_process';
import path from 'node:path';

export const REPO = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..', '..');

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

export function runNode(script: string, args: string[], env: Record<string, string> = {}, cwd = REPO): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(REPO, script), ...args], {
      cwd,
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...env },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

export const runCli = (args: string[], env?: Record<string, string>, cwd?: string) => runNode('dist/cli.js', args, env, cwd);

/** 256 held-out MNIST digits committed for scans (no zoo model trained on them). */
export const PROBE = path.join(REPO, 'examples/data/mnist-probe');
/** 600 labelled held-out digits, 60 per class: the small clean set cleaning is tested with. */
export const CLEAN_DATA = path.join(REPO, 'examples/data/mnist-clean');

export const EXAMPLES = {
  cleanBn: path.join(REPO, 'examples/models/bn-cnn-clean-s1'),
  badnetsBn: path.join(REPO, 'examples/models/bn-cnn-badnets-t6'),
  cleanCnn: path.join(REPO, 'examples/models/cnn-clean-s1'),
  blendedCnn: path.join(REPO, 'examples/models/cnn-blended-t4'),
};
