// What "class c wins" means for the model's head, shared by every scan. A single-label head
// (logits, softmax, one sigmoid read as two classes) predicts its argmax, and a trigger for c
// minimises the margin max_{j≠c} z_j − z_c. A multi-label head switches each label on
// independently (z_c > 0), so a trigger for c minimises −z_c and "already c" means label c is on.
import * as tf from '@tensorflow/tfjs';
import { readAndDispose } from '../engine/read.js';

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

/** 1 where the row's class wins (argmax for single-label heads, z_c > 0 for multi-label ones), else 0. */
export function winMask(logits: tf.Tensor2D, targets: number[], decision: Decision): tf.Tensor1D {
  return tf.tidy(() => {
    const target = tf.tensor1d(targets, 'int32');
    if (decision === 'multi-label') return tf.cast(tf.greater(tf.sum(tf.mul(logits, tf.oneHot(target, logits.shape[1])), -1), 0), 'float32');
    return tf.cast(tf.equal(tf.argMax(logits, -1), target), 'float32');
  }) as tf.Tensor1D;
}

/** Per image, the classes it already counts as: one (argmax) or every label that is on. */
export async function presentClasses(logits: tf.Tensor2D, decision: Decision): Promise<number[][]> {
  const K = logits.shape[1];
  if (decision === 'single-label') return Array.from(await readAndDispose(tf.argMax(logits, -1)), (c) => [c]);
  const z = await logits.data();
  return Array.from({ length: logits.shape[0] }, (_, i) => [...Array(K).keys()].filter((c) => z[i * K + c] > 0));
}
