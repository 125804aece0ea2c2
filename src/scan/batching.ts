// Batches that fit in memory. A scan's optimisation step is defined over (classes × images)
// rows; on a big model those rows do not fit at once (MobileNetV2 at 224 px keeps ~340 MB of
// activations per differentiated row), so the step is split into blocks whose gradients are
// summed before one optimiser update: the same step, in less memory.
import * as tf from '@tensorflow/tfjs';

/** Most rows (model inputs) one pass may hold: differentiated, and forward only. */
export interface RowLimits {
  gradient: number;
  forward: number;
}

export const UNLIMITED_ROWS: RowLimits = { gradient: Number.MAX_SAFE_INTEGER, forward: Number.MAX_SAFE_INTEGER };

/** Consecutive [start, end) spans of at most `size` covering [0, count). */
export function spans(count: number, size: number): Array<[number, number]> {
  const step = Math.max(1, Math.floor(size));
  const out: Array<[number, number]> = [];
  for (let s = 0; s < count; s += step) out.push([s, Math.min(count, s + step)]);
  return out;
}

/** Classes [c0, c1) × images [s, e) of a step's batch. */
export interface Block {
  c0: number;
  c1: number;
  s: number;
  e: number;
}

/** Blocks of at most `maxRows` rows covering classes × images, all classes of an image span together when they fit. */
export function blocks(classes: number, images: number, maxRows: number): Block[] {
  const classesPerBlock = Math.max(1, Math.min(classes, maxRows));
  const imagesPerBlock = Math.max(1, Math.floor(maxRows / classesPerBlock));
  const out: Block[] = [];
  for (const [c0, c1] of spans(classes, classesPerBlock)) for (const [s, e] of spans(images, imagesPerBlock)) out.push({ c0, c1, s, e });
  return out;
}

/**
 * One optimiser step on the sum of the parts' losses (each part scaled so that they add up to
 * the full-batch loss): gradient accumulation. Returns the summed loss, unread (the caller
 * disposes it), so that a step never waits for the device.
 */
export function accumulatedStep(optimizer: tf.Optimizer, vars: tf.Variable[], parts: Array<() => tf.Scalar>): tf.Scalar {
  if (parts.length === 1) return optimizer.minimize(parts[0], true, vars)!;
  let total = tf.scalar(0);
  const sums: Record<string, tf.Tensor> = {};
  for (const part of parts) {
    const { value, grads } = tf.variableGrads(part, vars);
    const next = tf.add(total, value) as tf.Scalar;
    tf.dispose([total, value]);
    total = next;
    for (const [name, g] of Object.entries(grads)) {
      const prev = sums[name];
      sums[name] = prev ? tf.add(prev, g) : g;
      if (prev) {
        prev.dispose();
        g.dispose();
      }
    }
  }
  optimizer.applyGradients(sums as tf.NamedTensorMap);
  tf.dispose(Object.values(sums));
  return total;
}
