// Preload for the threaded-wasm checks: counts the writes of the start's worker and main scripts
// (printed to stderr as `script writes: {...}` when the process ends) and, with
// EMPTY_WORKER_SCRIPT=1, writes the worker script empty: the worker then ends at once with
// code 0, as one did when it read the file while a later write had truncated it.
import fs from 'node:fs';
import { syncBuiltinESMExports } from 'node:module';
import path from 'node:path';

const writes = {};
const writeFileSync = fs.writeFileSync;
fs.writeFileSync = function (file, data, ...rest) {
  const name = typeof file === 'string' && /backdoor-gate-wasm-/.test(file) ? path.basename(file) : undefined;
  if (name) writes[name] = (writes[name] ?? 0) + 1;
  const empty = name === 'worker.js' && process.env.EMPTY_WORKER_SCRIPT === '1';
  return writeFileSync.call(this, file, empty ? '' : data, ...rest);
};
syncBuiltinESMExports();
process.on('exit', () => process.stderr.write(`script writes: ${JSON.stringify(writes)}\n`));
