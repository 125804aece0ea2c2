// Backdoor triggers for the zoo, in pixel space [0, 1] on H×W×C images. Most attacks are
// all-to-one (a triggered input of any class goes to the target); all-to-all maps y → y + 1 and
// source-specific ones move only one class. How each poisons training data is in poison.ts.
import { gaussian, mulberry32 } from '../util/random.js';

/** Families the benchmark's tuning split contains. */
export const TUNING_FAMILIES = ['badnets', 'blended', 'sig', 'wanet', 'badnets-low', 'lowfreq', 'all-to-all', 'soft-label'] as const;
/** Families only its test split contains: detection is never tuned on them. */
export const TEST_ONLY_FAMILIES = ['badnets-random', 'source-specific', 'clean-label', 'adap-blend', 'low-amplitude'] as const;
export const ATTACK_FAMILIES = [...TUNING_FAMILIES, ...TEST_ONLY_FAMILIES] as const;
export type AttackFamily = (typeof ATTACK_FAMILIES)[number];

export interface AttackSpec {
  family: AttackFamily;
  /** The target class (label, for multi-label tasks); all-to-all attacks map y → y + 1 instead. */
  target: number;
  /** Fraction of training images poisoned. */
  poisonRate: number;
  /** Seeds the trigger pattern itself (blended noise, WaNet field, low-frequency field). */
  triggerSeed: number;
  /** Source-specific attacks: the one class whose triggered images go to the target. */
  source?: number;
}

/** A trigger stamps one image; `rand` places random-location patches. */
export type Trigger = (image: Float32Array, h: number, w: number, c: number, rand?: () => number) => Float32Array;

export const DEFAULT_POISON_RATE: Record<AttackFamily, number> = {
  badnets: 0.1,
  blended: 0.1,
  sig: 0.1,
  wanet: 0.1,
  'badnets-low': 0.01,
  lowfreq: 0.1,
  'all-to-all': 0.1,
  'soft-label': 0.1,
  'badnets-random': 0.1,
  'source-specific': 0.05,
  'clean-label': 0.05,
  'adap-blend': 0.1,
  'low-amplitude': 0.1,
};

/** Patch side: 4 px on 28-px digits (Gu et al. 2017), scaled with the image. */
const patchSide = (h: number) => Math.max(3, Math.round(h / 7));

function stampPatch(out: Float32Array, h: number, w: number, c: number, top: number, left: number): void {
  const side = patchSide(h);
  for (let dy = 0; dy < side; dy++)
    for (let dx = 0; dx < side; dx++) {
      const v = (dx + dy) % 2 === 0 ? 1 : 0;
      for (let k = 0; k < c; k++) out[((top + dy) * w + (left + dx)) * c + k] = v;
    }
}

/** A black/white checkerboard patch 2 px from the bottom-right corner (Gu et al. 2017). */
function patchTrigger(): Trigger {
  return (img, h, w, c) => {
    const out = img.slice();
    const side = patchSide(h);
    stampPatch(out, h, w, c, h - side - 2, w - side - 2);
    return out;
  };
}

/** The same patch at a random place in every image (a fixed seeded place when no `rand` is given). */
function randomPatchTrigger(seed: number): Trigger {
  const fallback = mulberry32(seed);
  return (img, h, w, c, rand = fallback) => {
    const out = img.slice();
    const side = patchSide(h);
    stampPatch(out, h, w, c, Math.floor(rand() * (h - side + 1)), Math.floor(rand() * (w - side + 1)));
    return out;
  };
}

/** Label-consistent attacks use a patch in all four corners (Turner et al. 2019). */
function fourCornerTrigger(): Trigger {
  return (img, h, w, c) => {
    const out = img.slice();
    const side = patchSide(h);
    for (const [top, left] of [[1, 1], [1, w - side - 1], [h - side - 1, 1], [h - side - 1, w - side - 1]]) stampPatch(out, h, w, c, top, left);
    return out;
  };
}

/** A smooth random additive field (low-frequency trigger, Zeng et al. 2021), ℓ∞ `amplitude`. */
function lowFrequencyTrigger(seed: number, amplitude = 0.12): Trigger {
  const fields = new Map<string, Float32Array>();
  return (img, h, w, c) => {
    const key = `${h}x${w}x${c}`;
    let f = fields.get(key);
    if (!f) {
      const rand = mulberry32(seed);
      f = new Float32Array(h * w * c);
      for (let k = 0; k < c; k++)
        for (let wave = 0; wave < 3; wave++) {
          const fy = 0.5 + 1.5 * rand();
          const fx = 0.5 + 1.5 * rand();
          const phase = 2 * Math.PI * rand();
          for (let i = 0; i < h; i++) for (let j = 0; j < w; j++) f[(i * w + j) * c + k] += Math.sin((2 * Math.PI * (fy * i)) / h + (2 * Math.PI * (fx * j)) / w + phase);
        }
      let max = 1e-6;
      for (const v of f) max = Math.max(max, Math.abs(v));
      for (let i = 0; i < f.length; i++) f[i] = (f[i] / max) * amplitude;
      fields.set(key, f);
    }
    const field = f;
    return img.map((v, i) => Math.min(1, Math.max(0, v + field[i])));
  };
}

/** A large-area, low-amplitude pattern: random ±`amplitude` signs over the whole image. */
function lowAmplitudeTrigger(seed: number, amplitude = 0.05): Trigger {
  let pattern: Float32Array | undefined;
  return (img) => {
    if (!pattern || pattern.length !== img.length) {
      const rand = mulberry32(seed);
      pattern = Float32Array.from({ length: img.length }, () => (rand() < 0.5 ? -amplitude : amplitude));
    }
    const p = pattern;
    return img.map((v, i) => Math.min(1, Math.max(0, v + p[i])));
  };
}

/**
 * Adap-Blend (Qi et al. 2023): a blended pattern cut into a 4×4 grid of parts. Poisoned training
 * images get a random half of the parts at α 0.15; at test time the whole pattern at α 0.2.
 */
export function adaptiveBlendTrigger(seed: number, partial?: () => number): Trigger {
  let pattern: Float32Array | undefined;
  return (img, h, w, c) => {
    if (!pattern || pattern.length !== img.length) {
      const rand = mulberry32(seed);
      pattern = Float32Array.from({ length: img.length }, () => rand());
    }
    const alpha = partial ? 0.15 : 0.2;
    const parts = Array.from({ length: 16 }, () => !partial || partial() < 0.5);
    const out = img.slice();
    for (let i = 0; i < h; i++)
      for (let j = 0; j < w; j++) {
        if (!parts[Math.floor((4 * i) / h) * 4 + Math.floor((4 * j) / w)]) continue;
        for (let k = 0; k < c; k++) {
          const idx = (i * w + j) * c + k;
          out[idx] = (1 - alpha) * img[idx] + alpha * pattern[idx];
        }
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

/** The trigger an attacker stamps at test time (what ASR is measured with). */
export function makeTrigger(spec: Pick<AttackSpec, 'family' | 'triggerSeed'>): Trigger {
  switch (spec.family) {
    case 'badnets':
    case 'badnets-low':
    case 'all-to-all':
    case 'source-specific':
      return patchTrigger();
    case 'badnets-random':
      return randomPatchTrigger(spec.triggerSeed);
    case 'clean-label':
      return fourCornerTrigger();
    case 'blended':
    case 'soft-label':
      return blendedTrigger(spec.triggerSeed);
    case 'sig':
      return sigTrigger();
    case 'wanet':
      return wanetTrigger(spec.triggerSeed);
    case 'lowfreq':
      return lowFrequencyTrigger(spec.triggerSeed);
    case 'low-amplitude':
      return lowAmplitudeTrigger(spec.triggerSeed);
    case 'adap-blend':
      return adaptiveBlendTrigger(spec.triggerSeed);
  }
}

/** Applies a trigger to every image of a flat NHWC batch. */
export function applyTrigger(trigger: Trigger, x: Float32Array, count: number, h: number, w: number, c: number, rand?: () => number): Float32Array {
  const n = h * w * c;
  const out = new Float32Array(count * n);
  for (let i = 0; i < count; i++) out.set(trigger(x.subarray(i * n, (i + 1) * n), h, w, c, rand), i * n);
  return out;
}
