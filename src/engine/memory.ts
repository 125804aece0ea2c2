// How many rows a model can take per pass within a memory budget, measured rather than guessed:
// tfjs' profiler reports the peak bytes of one differentiated row and of one forward row.
import * as tf from '@tensorflow/tfjs';
import type { ModelUnderTest } from '../model/adapter.js';
import type { RowLimits } from '../scan/batching.js';

/** Default budget per backend: wasm's heap stops at 4 GiB (and fragments), JS typed arrays are freer. */
export const DEFAULT_MEMORY_BUDGET_BYTES: Record<string, number> = {
  wasm: 1.5 * 2 ** 30,
  cpu: 3 * 2 ** 30,
  tensorflow: 4 * 2 ** 30,
};

export interface RowPlan extends RowLimits {
  /** Peak bytes of one row, differentiated and forward only. */
  gradientRowBytes: number;
  forwardRowBytes: number;
  budgetBytes: number;
}

export async function planRows(model: ModelUnderTest, budgetBytes = DEFAULT_MEMORY_BUDGET_BYTES[tf.getBackend()] ?? 2 ** 30): Promise<RowPlan> {
  const [h, w, c] = model.inputShape;
  const x = tf.zeros([1, h, w, c]) as tf.Tensor4D;
  // Read each figure before the next profile: tfjs reuses one profile object for every call.
  const measure = async (f: () => tf.Tensor) => {
    // A plain pass first. A kernel that throws under tf.profile leaves the profiler's timing
    // promises rejected with no handler, and the wasm runtime turns that into a process crash;
    // thrown here, it is an ordinary error the caller names the model in.
    tf.dispose(f());
    const info = await tf.profile(() => f());
    tf.dispose(info.result as tf.Tensor);
    return Math.max(info.peakBytes, 1);
  };
  try {
    const gradientRowBytes = await measure(() => {
      const g = tf.grad((input: tf.Tensor) => tf.sum(tf.max(model.logits(input as tf.Tensor4D), -1)))(x);
      g.dataSync();
      return g;
    });
    const forwardRowBytes = await measure(() => tf.tidy(() => model.logits(x)));
    return {
      gradient: Math.max(1, Math.floor(budgetBytes / gradientRowBytes)),
      forward: Math.max(1, Math.floor(budgetBytes / forwardRowBytes)),
      gradientRowBytes,
      forwardRowBytes,
      budgetBytes,
    };
  } finally {
    x.dispose();
  }
}
