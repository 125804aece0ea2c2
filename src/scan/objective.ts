// What "class c wins" means for the model's head, shared by every scan. A single-label head
// (logits, softmax, one sigmoid read as two classes) predicts its argmax, and a trigger for c
// minimises the margin max_{j≠c} z_j − z_c. A multi-label head switches each label on
// independently (z_c > 0), so a trigger for c minimises −z_c and "already c" means label c is on.
import * as tf from '@tensorflow/tfjs';

export type Decision = 'single-label' | 'multi-label';

/** Margins per row for the class each row targets (negative = the class wins). */
export function targetMargins(logits: tf.Tensor2D, targets: number[], decision: Decision): tf.Tensor1D {
  const K = logits.shape[1];
  const target = tf.oneHot(tf.tensor1d(targets, 'int32'), K);
  const zc = tf.sum(tf.mul(logits, target), -1);
  if (decision === 'multi-label') return tf.neg(zc) as tf.Tensor1D;
  const others = tf.max(tf.sub(logits, tf.mul(target, 1e9)), -1);
  return tf.sub(others, zc) as tf.Tensor1D;
}

/** Targets laid out class-major: `classes[j]` repeated `batch` times. */
export const classMajor = (classes: readonly number[], batch: number): number[] => classes.flatMap((c) => new Array<number>(batch).fill(c));

/** Whether each row's class wins: argmax for single-label heads, z_c > 0 for multi-label ones. */
export function wins(logits: tf.Tensor2D, targets: number[], decision: Decision): boolean[] {
  if (decision === 'multi-label') {
    const z = logits.arraySync();
    return targets.map((c, i) => z[i][c] > 0);
  }
  const pred = tf.tidy(() => tf.argMax(logits, -1).dataSync());
  return targets.map((c, i) => pred[i] === c);
}

/** Per image, the classes it already counts as: one (argmax) or every label that is on. */
export function presentClasses(logits: tf.Tensor2D, decision: Decision): number[][] {
  if (decision === 'single-label')
    return Array.from(
      tf.tidy(() => tf.argMax(logits, -1).dataSync()),
      (c) => [c],
    );
  return logits.arraySync().map((row) => row.flatMap((z, c) => (z > 0 ? [c] : [])));
}
