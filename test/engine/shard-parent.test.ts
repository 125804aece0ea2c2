// The process that starts a scan's shards only loads the model and merges reports: it must not
// hold the cores' worth of wasm threads the shards need. tfjs starts a backend once per process,
// so this file runs alone in its own.
import os from 'node:os';
import { describe, expect, it } from 'vitest';
import { scanProcesses, selectShardParentBackend } from '../../src/session.js';
import { buildSettings } from '../../src/settings.js';
import { EXAMPLES } from '../helpers/run.js';

describe("a --jobs scan's own process", () => {
  it('counts its processes without starting wasm, then computes on one thread', async () => {
    const values: Record<string, string> = { model: EXAMPLES.cleanCnn, data: 'mnist:test', jobs: 'auto', threads: '2', backend: 'auto' };
    const settings = buildSettings(
      (name) => values[name],
      () => ({ policy: {}, source: 'test policy' }),
    );
    // No native package and no GPU here: the JS backends, one process a core.
    expect(await scanProcesses(settings)).toBe(Math.min(os.availableParallelism(), 64));
    // Had the count started wasm for a scan in this process, its two threads would stand.
    const engine = await selectShardParentBackend(settings);
    expect(engine.backend).toBe('wasm');
    expect(engine.reason).toMatch(/wasm initialised, 1 thread$/);
  });
});
