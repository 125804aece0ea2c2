import * as tf from '@tensorflow/tfjs';
import { mkdtempSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { selectBackend } from '../../src/engine/backend.js';
import { MemoryLogger } from '../../src/logger.js';
import { loadModel } from '../../src/model/load.js';
import { DEFAULT_LIMITS } from '../../src/model/limits.js';
import { EXAMPLES } from '../helpers/run.js';

beforeAll(async () => {
  await selectBackend({ choice: 'wasm', logger: new MemoryLogger() });
});

const batch = () => tf.randomUniform([4, 28, 28, 1], 0, 1, 'float32', 11) as tf.Tensor4D;

describe('layers models', () => {
  it('finds the logits behind a final softmax: softmax(logits) equals the model output', async () => {
    const { model } = await loadModel(EXAMPLES.cleanBn);
    expect(model.endsInSoftmax).toBe(true);
    const layers = (model as unknown as { model: tf.LayersModel }).model;
    const x = batch();
    const viaLogits = tf.softmax(model.logits(x)).arraySync() as number[][];
    const direct = (layers.predict(x) as tf.Tensor).arraySync() as number[][];
    for (let i = 0; i < 4; i++) for (let k = 0; k < 10; k++) expect(viaLogits[i][k]).toBeCloseTo(direct[i][k], 5);
    // The logits are not probabilities (they would sum to 1 if the softmax were still on).
    const sums = tf.sum(model.logits(x), -1).arraySync() as number[];
    expect(sums.some((s) => Math.abs(s - 1) > 0.1)).toBe(true);
    // And switching the softmax off for logits() left the model itself unchanged.
    expect((layers.predict(x) as tf.Tensor).arraySync()).toEqual(direct);
  });

  it('passes plain logits models through', async () => {
    const { model } = await loadModel(EXAMPLES.cleanCnn);
    expect(model.endsInSoftmax).toBe(false);
    expect(model.inputShape).toEqual([28, 28, 1]);
    expect(model.numClasses).toBe(10);
    expect(model.trainableVariables().length).toBe(8);
  });

  it('gives input gradients in pixel space, scaled by the gate.json input range', async () => {
    const { model } = await loadModel(EXAMPLES.cleanCnn);
    const x = batch();
    const g = tf.grad((input: tf.Tensor) => tf.sum(model.logits(input as tf.Tensor4D)))(x);
    expect(g.shape).toEqual([4, 28, 28, 1]);
    expect(tf.norm(g).dataSync()[0]).toBeGreaterThan(0);
  });

  it('saves to a new directory with a new file set, and never overwrites', async () => {
    const { model, source } = await loadModel(EXAMPLES.cleanCnn);
    const out = path.join(mkdtempSync(path.join(os.tmpdir(), 'bg-save-')), 'copy');
    await model.save(out);
    const again = await loadModel(out);
    expect(again.source.files[1].sha256).toBe(source.files[1].sha256); // same weights
    const x = batch();
    expect(again.model.logits(x).arraySync()).toEqual(model.logits(x).arraySync());
    await expect(model.save(out)).rejects.toThrow(/already exists; refusing to overwrite/);
  });
});

describe('http(s) models', () => {
  let server: Server;
  let base: string;
  const requests: string[] = [];
  beforeAll(async () => {
    server = createServer((req, res) => {
      requests.push(req.url ?? '');
      const name = (req.url ?? '').replace(/^\/models\/bn\//, '');
      if (req.url === '/models/huge/model.json') {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(`{"modelTopology":{},"pad":"${'x'.repeat(4096)}"}`);
        return;
      }
      try {
        const body = readFileSync(path.join(EXAMPLES.cleanBn, name));
        res.writeHead(200);
        res.end(body);
      } catch {
        res.writeHead(404);
        res.end();
      }
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => server.close());

  it('loads model.json and shards relative to the URL, with the same digest as on disk', async () => {
    const remote = await loadModel(`${base}/models/bn/model.json`);
    const local = await loadModel(EXAMPLES.cleanBn);
    expect(remote.source.digest).toBe(local.source.digest);
    expect(requests).toContain('/models/bn/group1-shard1of1.bin');
    const x = batch();
    expect(remote.model.logits(x).arraySync()).toEqual(local.model.logits(x).arraySync());
  });

  it('enforces the download cap while streaming', async () => {
    await expect(loadModel(`${base}/models/huge/model.json`, { ...DEFAULT_LIMITS, maxModelJsonBytes: 1024 })).rejects.toThrow(
      /above the limit of 1024|exceeds the limit of 1024/,
    );
  });

  it('names the URL when the server answers 404', async () => {
    await expect(loadModel(`${base}/models/nothing/model.json`)).rejects.toThrow(/nothing\/model\.json: download failed with HTTP 404/);
  });
});
