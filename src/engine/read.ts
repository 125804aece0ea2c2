// Reads from tensors asynchronously. Every backend can; tfjs' webgpu backend cannot read
// synchronously in Node (its readSync draws through OffscreenCanvas), so the scans never do.
import type * as tf from '@tensorflow/tfjs';

/** The tensor's values, after which it is disposed (also when reading fails). */
export async function readAndDispose(t: tf.Tensor): Promise<Float32Array | Int32Array | Uint8Array> {
  try {
    return (await t.data()) as Float32Array | Int32Array | Uint8Array;
  } finally {
    t.dispose();
  }
}

/** A scalar's value; the tensor is disposed. */
export async function readScalar(t: tf.Tensor): Promise<number> {
  return (await readAndDispose(t))[0];
}
