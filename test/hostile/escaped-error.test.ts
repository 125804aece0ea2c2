// An error that escapes asynchronously, with the wasm runtime loaded (whose own handler would end
// the process with exit code 7 and a raw stack): the entry points report it in one line and exit
// with the gate's could-not-scan code instead.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { REPO } from '../helpers/run.js';

const run = promisify(execFile);

const script = `
import { selectBackend } from './src/engine/backend.ts';
import { exitOnEscapedError } from './src/errors.ts';
import { MemoryLogger } from './src/logger.ts';
await selectBackend({ choice: 'wasm', logger: new MemoryLogger() });
exitOnEscapedError((m) => process.stderr.write('gate: ' + m + '\\n'), 2);
void Promise.reject(new Error('a stray rejection'));
setTimeout(() => process.exit(0), 2000);
`;

describe('an error that escapes asynchronously', () => {
  it('is one line on stderr and exit code 2, not the wasm runtime’s crash', async () => {
    const result = await run(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: REPO }).then(
      () => ({ code: 0, stderr: '' }),
      (err: { code: number; stderr: string }) => ({ code: err.code, stderr: err.stderr }),
    );
    expect(result.code).toBe(2);
    expect(
      result.stderr
        .trim()
        .split('\n')
        .filter((l) => l.startsWith('gate: ')),
    ).toEqual(['gate: internal error: a stray rejection']);
  });

  it('a run whose event loop runs dry before it settles exits 2, not 0', async () => {
    // As the CLI calls main(): a promise, not a top-level await (which Node ends with code 13).
    const script = (wait: string) => `
import { failIfEndedEarly } from './src/errors.ts';
const settled = failIfEndedEarly((m) => process.stderr.write('gate: ' + m + '\\n'), 2);
void ${wait}.then(settled);
`;
    const outcome = (wait: string) =>
      run(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script(wait)], { cwd: REPO }).then(
        (r) => ({ code: 0, stderr: r.stderr }),
        (err: { code: number; stderr: string }) => ({ code: err.code, stderr: err.stderr }),
      );
    // Pending with nothing left to wait for: Node alone would end the process with code 0.
    const [ranDry, finished] = await Promise.all([outcome('new Promise(() => {})'), outcome('new Promise((resolve) => setTimeout(resolve, 10))')]);
    expect(ranDry.code).toBe(2);
    expect(ranDry.stderr).toContain('gate: internal error: the run ended before it finished');
    expect(finished).toEqual({ code: 0, stderr: '' });
  });
});
