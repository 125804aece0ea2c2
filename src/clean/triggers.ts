// Triggers recovered by the scans, as differentiable stamps a cleaner can put on clean images:
// the additive ℓ∞ trigger of trigger inversion, and the mask + pattern of mask inversion.
import * as tf from '@tensorflow/tfjs';
import type { InversionResult } from '../scan/inversion.js';
import type { MaskInversionResult } from '../scan/mask-inversion.js';

export interface RecoveredTrigger {
  target: number;
  source: 'trigger-inversion' | 'mask-inversion';
  /** x (NHWC, [0,1]) with the trigger stamped on, clipped to [0,1]. */
  stamp(x: tf.Tensor4D): tf.Tensor4D;
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
      stamp: (x) => {
        const mt = tf.tensor4d(m, [1, H, W, 1]);
        return tf.add(tf.mul(tf.sub(1, mt), x), tf.mul(mt, tf.tensor4d(p, [1, H, W, C]))) as tf.Tensor4D;
      },
    });
  }
  return out;
}
