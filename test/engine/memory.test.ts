// planRows measures a model under tfjs' profiler. A kernel that throws there used to leave the
// profiler's timing promises rejected with no handler, and that killed the process (the fuzzer's
// worker deaths, exit code 7): the error must come back as an ordinary rejection, and only that.
import * as tf from '@tensorflow/tfjs';
import { afterEach, describe, expect, it } from 'vitest';
import { selectBackend } from '../../src/engine/backend.js';
import { planRows } from '../../src/engine/memory.js';
import { MemoryLogger } from '../../src/logger.js';
import type { ModelUnderTest } from '../../src/model/adapter.js';

/** A model whose logits run a matMul with mismatched shapes: tfjs throws inside the kernel. */
const brokenModel = {
  inputShape: [4, 4, 1],
  numClasses: 2,
  logits: (x: tf.Tensor4D) => tf.matMul(tf.reshape(x, [-1, 16]), tf.ones([3, 2])) as tf.Tensor2D,
} as unknown as ModelUnderTest;

const unhandled: unknown[] = [];
const record = (reason: unknown) => unhandled.push(reason);
afterEach(() => {
  process.off('unhandledRejection', record);
});

describe.each(['wasm', 'cpu'] as const)('planRows on %s', (backend) => {
  it('rejects with the kernel error of a model that cannot run, and leaves no unhandled rejection behind', async () => {
    await selectBackend({ choice: backend, logger: new MemoryLogger() });
    unhandled.length = 0;
    process.prependListener('unhandledRejection', record);
    await expect(planRows(brokenModel)).rejects.toThrow(/matMul/);
    // Node reports unhandled rejections after the microtask queue drains: give it a few turns.
    for (let i = 0; i < 5; i++) await new Promise((resolve) => setTimeout(resolve, 20));
    expect(unhandled.map(String)).toEqual([]);
  });

  it('measures a model that runs: one row of each kind within the default budget', async () => {
    await selectBackend({ choice: backend, logger: new MemoryLogger() });
    const dense = tf.randomNormal([16, 3], 0, 1, 'float32', 1);
    const model = { inputShape: [4, 4, 1], numClasses: 3, logits: (x: tf.Tensor4D) => tf.matMul(tf.reshape(x, [-1, 16]), dense) } as unknown as ModelUnderTest;
    const plan = await planRows(model);
    // A differentiated row holds the forward row's tensors and their gradients: never less.
    expect(plan.forwardRowBytes).toBeGreaterThan(0);
    expect(plan.gradientRowBytes).toBeGreaterThanOrEqual(plan.forwardRowBytes);
    expect(plan.gradient).toBe(Math.floor(plan.budgetBytes / plan.gradientRowBytes));
  });

  it('keeps every tensor of a pass under a per-tensor limit (a GPU binding size)', async () => {
    await selectBackend({ choice: backend, logger: new MemoryLogger() });
    // The largest tensor of a row is the 8×8×32 activation (and its gradient): 8,192 bytes.
    const filter = tf.randomNormal([1, 1, 1, 32], 0, 1, 'float32', 2);
    const dense = tf.randomNormal([32, 3], 0, 1, 'float32', 3);
    const model = {
      inputShape: [8, 8, 1],
      numClasses: 3,
      logits: (x: tf.Tensor4D) => tf.matMul(tf.mean(tf.conv2d(x, filter as tf.Tensor4D, 1, 'same'), [1, 2]), dense),
    } as unknown as ModelUnderTest;
    const plan = await planRows(model, 2 ** 30, 10 * 8192);
    expect(plan.forward).toBe(10);
    expect(plan.gradient).toBe(10);
    expect((await planRows(model, 2 ** 30)).forward).toBeGreaterThan(1000);
  });
});
