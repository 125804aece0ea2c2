// Reads from tensors asynchronously. Every backend can; tfjs' webgpu backend cannot read
// synchronously in Node (its readSync draws through OffscreenCanvas), so the scans never do.
import * as tf from '@tensorflow/tfjs';

/**
 * The tensor's values, after which it is disposed (also when reading fails). The cpu and wasm
 * backends answer `data()` at once, as a microtask, so a scan's chain of reads would hold the event
 * loop for its whole length (tens of seconds: no progress lines, timers or IPC meanwhile); each read
 * also waits for the next turn of the loop.
 */
export async function readAndDispose(t: tf.Tensor): Promise<Float32Array | Int32Array | Uint8Array> {
  try {
    const values = (await t.data()) as Float32Array | Int32Array | Uint8Array;
    await tf.nextFrame();
    return values;
  } finally {
    t.dispose();
  }
}

/** A scalar's value; the tensor is disposed. */
export async function readScalar(t: tf.Tensor): Promise<number> {
  return (await readAndDispose(t))[0];
}
