// Triggers recovered by the scans, as differentiable stamps a cleaner can put on clean images:
// the additive ℓ∞ trigger of trigger inversion, and the mask + pattern of mask inversion.
import * as tf from '@tensorflow/tfjs';
import type { InversionResult } from '../scan/inversion.js';
import type { MaskInversionResult } from '../scan/mask-inversion.js';

export interface RecoveredTrigger {
  target: number;
  source: 'trigger-inversion' | 'mask-inversion' | 'warp-inversion';
  /** x (NHWC, [0,1]) with the trigger stamped on, clipped to [0,1]. */
  stamp(x: tf.Tensor4D): tf.Tensor4D;
  /** Mask inversion's mask [H, W], for cleaners that unlearn the whole region. */
  mask?: Float32Array;
}

/**
 * The region a recovered mask covers (pixels with m > 0.2, grown by one pixel), filled with a
 * fresh random black/white pattern at every call. A recovered mask usually catches only part
 * of a patch trigger (a few of its white cells): unlearning the exact recovered pattern leaves
 * the real patch working, unlearning "anything in this region" does not.
 */
export function regionTrigger(base: RecoveredTrigger, shape: [number, number, number], seed: number): RecoveredTrigger | null {
  const [H, W] = shape;
  const m = base.mask;
  if (!m) return null;
  const region = new Float32Array(H * W);
  for (let i = 0; i < H; i++)
    for (let j = 0; j < W; j++)
      for (let di = -1; di <= 1 && !region[i * W + j]; di++)
        for (let dj = -1; dj <= 1; dj++) {
          const a = i + di;
          const b = j + dj;
          if (a >= 0 && b >= 0 && a < H && b < W && m[a * W + b] > 0.2) region[i * W + j] = 1;
        }
  let calls = 0;
  return {
    target: base.target,
    source: base.source,
    stamp: (x) => {
      const r = tf.tensor4d(region, [1, H, W, 1]);
      const fill = tf.cast(tf.greater(tf.randomUniform(x.shape, 0, 1, 'float32', seed + calls++), 0.5), 'float32');
      return tf.add(tf.mul(tf.sub(1, r), x), tf.mul(r, fill)) as tf.Tensor4D;
    },
  };
}

/** The suspected target's triggers from whichever scans found one. */
export function recoveredTriggers(shape: [number, number, number], scans: { dense?: InversionResult; mask?: MaskInversionResult }): RecoveredTrigger[] {
  const [H, W, C] = shape;
  const n = H * W * C;
  const out: RecoveredTrigger[] = [];
  const { dense, mask } = scans;
  if (dense?.suspectedTarget != null) {
    const t = dense.suspectedTarget;
    const delta = dense.triggers.slice(t * n, (t + 1) * n);
    out.push({ target: t, source: 'trigger-inversion', stamp: (x) => tf.clipByValue(tf.add(x, tf.tensor4d(delta, [1, H, W, C])), 0, 1) as tf.Tensor4D });
  }
  if (mask?.suspectedTarget != null) {
    const t = mask.suspectedTarget;
    const m = mask.masks.slice(t * H * W, (t + 1) * H * W);
    const p = mask.patterns.slice(t * n, (t + 1) * n);
    out.push({
      target: t,
      source: 'mask-inversion',
      mask: m,
      stamp: (x) => {
        const mt = tf.tensor4d(m, [1, H, W, 1]);
        return tf.add(tf.mul(tf.sub(1, mt), x), tf.mul(mt, tf.tensor4d(p, [1, H, W, C]))) as tf.Tensor4D;
      },
    });
  }
  return out;
}
