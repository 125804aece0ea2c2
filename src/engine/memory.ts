// How many rows a model can take per pass within a memory budget, measured rather than guessed:
// tfjs' profiler reports the peak bytes of one differentiated row and of one forward row.
import * as tf from '@tensorflow/tfjs';
import type { ModelUnderTest } from '../model/adapter.js';
import type { RowLimits } from '../scan/batching.js';
import { tensorByteLimit } from './webgpu.js';

/** Default budget per backend: wasm's heap stops at 4 GiB (and fragments), JS typed arrays are freer. */
export const DEFAULT_MEMORY_BUDGET_BYTES: Record<string, number> = {
  wasm: 1.5 * 2 ** 30,
  cpu: 3 * 2 ** 30,
  tensorflow: 4 * 2 ** 30,
  // GPU memory: a small GPU's worth.
  webgpu: 4 * 2 ** 30,
};

export interface RowPlan extends RowLimits {
  /** Peak bytes of one row, differentiated and forward only. */
  gradientRowBytes: number;
  forwardRowBytes: number;
  budgetBytes: number;
}

/**
 * Rows per pass within `budgetBytes`, and with no single tensor above `tensorLimitBytes` (a GPU
 * binds at most so many bytes to one kernel: 128 MiB on some adapters, and beyond it the work is
 * rejected). A tensor's size per row is taken from the largest kernel output of the one-row pass.
 */
export async function planRows(
  model: ModelUnderTest,
  budgetBytes = DEFAULT_MEMORY_BUDGET_BYTES[tf.getBackend()] ?? 2 ** 30,
  tensorLimitBytes = tensorByteLimit(),
): Promise<RowPlan> {
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
    const largest = Math.max(4, ...info.kernels.flatMap((k) => k.outputShapes.map((shape) => 4 * shape.reduce((a, b) => a * b, 1))));
    return { peak: Math.max(info.peakBytes, 1), largest };
  };
  try {
    const gradient = await measure(() => tf.grad((input: tf.Tensor) => tf.sum(tf.max(model.logits(input as tf.Tensor4D), -1)))(x));
    const forward = await measure(() => tf.tidy(() => model.logits(x)));
    const rows = (m: { peak: number; largest: number }) => Math.max(1, Math.floor(Math.min(budgetBytes / m.peak, tensorLimitBytes / m.largest)));
    return {
      gradient: rows(gradient),
      forward: rows(forward),
      gradientRowBytes: gradient.peak,
      forwardRowBytes: forward.peak,
      budgetBytes,
    };
  } finally {
    x.dispose();
  }
}
