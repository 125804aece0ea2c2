// Backdoor triggers for the zoo, in pixel space [0, 1] on H×W×C images. All-to-one attacks:
// a triggered input of any class should be classified as the target.
import { gaussian, mulberry32 } from '../util/random.js';

export const ATTACK_FAMILIES = ['badnets', 'blended', 'sig', 'wanet', 'badnets-low'] as const;
export type AttackFamily = (typeof ATTACK_FAMILIES)[number];

export interface AttackSpec {
  family: AttackFamily;
  target: number;
  /** Fraction of training images poisoned (relabelled to the target). */
  poisonRate: number;
  /** Seeds the trigger pattern itself (blended noise, WaNet field). */
  triggerSeed: number;
}

export type Trigger = (image: Float32Array, h: number, w: number, c: number) => Float32Array;

export const DEFAULT_POISON_RATE: Record<AttackFamily, number> = {
  badnets: 0.1,
  blended: 0.1,
  sig: 0.1,
  wanet: 0.1,
  'badnets-low': 0.01,
};

/** A 4×4 black/white checkerboard patch, 2 px from the bottom-right corner (Gu et al. 2017). */
function patchTrigger(): Trigger {
  return (img, h, w, c) => {
    const out = img.slice();
    for (let dy = 0; dy < 4; dy++)
      for (let dx = 0; dx < 4; dx++) {
        const v = (dx + dy) % 2 === 0 ? 1 : 0;
        for (let k = 0; k < c; k++) out[((h - 6 + dy) * w + (w - 6 + dx)) * c + k] = v;
      }
    return out;
  };
}

/** Full-image random pattern blended at α = 0.2 (Chen et al. 2017). */
function blendedTrigger(seed: number): Trigger {
  let pattern: Float32Array | undefined;
  return (img) => {
    if (!pattern || pattern.length !== img.length) {
      const rand = mulberry32(seed);
      pattern = Float32Array.from({ length: img.length }, () => rand());
    }
    const out = new Float32Array(img.length);
    for (let i = 0; i < img.length; i++) out[i] = 0.8 * img[i] + 0.2 * pattern[i];
    return out;
  };
}

/** Horizontal sinusoid x + Δ·sin(2π·j·f/W), Δ = 0.2, f = 6 (Barni et al. 2019, poison-label variant). */
function sigTrigger(): Trigger {
  return (img, h, w, c) => {
    const out = new Float32Array(img.length);
    for (let i = 0; i < h; i++)
      for (let j = 0; j < w; j++)
        for (let k = 0; k < c; k++) {
          const idx = (i * w + j) * c + k;
          out[idx] = Math.min(1, Math.max(0, img[idx] + 0.2 * Math.sin((2 * Math.PI * j * 6) / w)));
        }
    return out;
  };
}

/**
 * WaNet-style warp (Nguyen & Tran 2021): a random k×k control grid of displacements, upsampled
 * bilinearly to the image and applied with bilinear sampling; max displacement `strength` px.
 */
function wanetTrigger(seed: number, k = 4, strength = 2): Trigger {
  const fields = new Map<string, Float32Array>();
  const field = (h: number, w: number) => {
    const key = `${h}x${w}`;
    let f = fields.get(key);
    if (f) return f;
    const normal = gaussian(mulberry32(seed));
    const grid = Float32Array.from({ length: k * k * 2 }, () => normal());
    let maxAbs = 0;
    for (const v of grid) maxAbs = Math.max(maxAbs, Math.abs(v));
    f = new Float32Array(h * w * 2);
    for (let i = 0; i < h; i++)
      for (let j = 0; j < w; j++) {
        const gy = (i / (h - 1)) * (k - 1);
        const gx = (j / (w - 1)) * (k - 1);
        const y0 = Math.min(k - 2, Math.floor(gy));
        const x0 = Math.min(k - 2, Math.floor(gx));
        const ty = gy - y0;
        const tx = gx - x0;
        for (let d = 0; d < 2; d++) {
          const g = (r: number, s: number) => grid[(r * k + s) * 2 + d];
          const v = (1 - ty) * ((1 - tx) * g(y0, x0) + tx * g(y0, x0 + 1)) + ty * ((1 - tx) * g(y0 + 1, x0) + tx * g(y0 + 1, x0 + 1));
          f[(i * w + j) * 2 + d] = (v / maxAbs) * strength;
        }
      }
    fields.set(key, f);
    return f;
  };
  return (img, h, w, c) => {
    const f = field(h, w);
    const out = new Float32Array(img.length);
    for (let i = 0; i < h; i++)
      for (let j = 0; j < w; j++) {
        const sy = Math.min(h - 1, Math.max(0, i + f[(i * w + j) * 2]));
        const sx = Math.min(w - 1, Math.max(0, j + f[(i * w + j) * 2 + 1]));
        const y0 = Math.min(h - 2, Math.floor(sy));
        const x0 = Math.min(w - 2, Math.floor(sx));
        const ty = sy - y0;
        const tx = sx - x0;
        for (let ch = 0; ch < c; ch++) {
          const at = (r: number, s: number) => img[(r * w + s) * c + ch];
          out[(i * w + j) * c + ch] =
            (1 - ty) * ((1 - tx) * at(y0, x0) + tx * at(y0, x0 + 1)) + ty * ((1 - tx) * at(y0 + 1, x0) + tx * at(y0 + 1, x0 + 1));
        }
      }
    return out;
  };
}

export function makeTrigger(spec: Pick<AttackSpec, 'family' | 'triggerSeed'>): Trigger {
  switch (spec.family) {
    case 'badnets':
    case 'badnets-low':
      return patchTrigger();
    case 'blended':
      return blendedTrigger(spec.triggerSeed);
    case 'sig':
      return sigTrigger();
    case 'wanet':
      return wanetTrigger(spec.triggerSeed);
  }
}

/** Applies a trigger to every image of a flat NHWC batch. */
export function applyTrigger(trigger: Trigger, x: Float32Array, count: number, h: number, w: number, c: number): Float32Array {
  const n = h * w * c;
  const out = new Float32Array(count * n);
  for (let i = 0; i < count; i++) out.set(trigger(x.subarray(i * n, (i + 1) * n), h, w, c), i * n);
  return out;
}
