// Procedurally generated image domains for the benchmark, so detection is not tuned to MNIST's
// statistics: colour traffic-sign-like glyphs on textured, unevenly lit, noisy backgrounds, and
// grayscale textured surfaces with defects (binary and multi-label tasks). Every image is a pure
// function of (seed, index), so splits are disjoint by index and regenerate identically.
import { gaussian, mulberry32 } from '../util/random.js';

export const SIGN_SIZE = 32;
export const SURFACE_SIZE = 40;

const SHAPES = ['circle', 'triangle', 'inverted-triangle', 'diamond', 'octagon', 'square'] as const;
const RIMS = [
  [0.85, 0.1, 0.1],
  [0.1, 0.25, 0.8],
  [0.08, 0.08, 0.08],
] as const;
const FILLS = [
  [0.95, 0.95, 0.95],
  [0.95, 0.8, 0.1],
  [0.15, 0.35, 0.85],
] as const;
const SYMBOLS = ['none', 'h-bar', 'v-bar', 'cross', 'arrow-left', 'arrow-right', 'dot', 'ring', 'x'] as const;

export interface SignClass {
  shape: (typeof SHAPES)[number];
  rim: number;
  fill: number;
  symbol: (typeof SYMBOLS)[number];
}

/**
 * The sign classes: `count` distinct (shape, rim, fill, symbol) combinations in a fixed order
 * that cycles shapes and symbols first, so the 10-class variant is as varied as the 43-class one.
 */
export function signClasses(count: number): SignClass[] {
  const out: SignClass[] = [];
  const seen = new Set<string>();
  const rand = mulberry32(4343);
  for (let i = 0; out.length < count && i < 10_000; i++) {
    const c: SignClass = { shape: SHAPES[i % SHAPES.length], symbol: SYMBOLS[Math.floor(rand() * SYMBOLS.length)], rim: Math.floor(rand() * RIMS.length), fill: Math.floor(rand() * FILLS.length) };
    if (c.rim === 2 && c.fill === 2) continue; // black on blue is unreadable
    const key = `${c.shape}/${c.rim}/${c.fill}/${c.symbol}`;
    if (!seen.has(key)) {
      seen.add(key);
      out.push(c);
    }
  }
  return out;
}

/** Signed distance (px, negative inside) to a regular polygon or circle of radius r at the origin. */
function shapeDistance(shape: SignClass['shape'], x: number, y: number, r: number): number {
  if (shape === 'circle') return Math.hypot(x, y) - r;
  const [sides, phase] =
    shape === 'triangle' ? [3, -Math.PI / 2] : shape === 'inverted-triangle' ? [3, Math.PI / 2] : shape === 'diamond' ? [4, 0] : shape === 'square' ? [4, Math.PI / 4] : [8, Math.PI / 8];
  const apothem = r * Math.cos(Math.PI / sides);
  let d = -Infinity;
  for (let k = 0; k < sides; k++) {
    const a = phase + ((k + 0.5) * 2 * Math.PI) / sides;
    d = Math.max(d, x * Math.cos(a) + y * Math.sin(a) - apothem);
  }
  return d;
}

/** Signed distance to a glyph drawn inside the sign (unit: px, r = the sign's radius). */
function symbolDistance(symbol: SignClass['symbol'], x: number, y: number, r: number): number {
  const box = (cx: number, cy: number, hw: number, hh: number) => Math.max(Math.abs(x - cx) - hw, Math.abs(y - cy) - hh);
  const w = r * 0.14;
  switch (symbol) {
    case 'none':
      return Infinity;
    case 'h-bar':
      return box(0, 0, r * 0.45, w);
    case 'v-bar':
      return box(0, 0, w, r * 0.45);
    case 'cross':
      return Math.min(box(0, 0, r * 0.42, w), box(0, 0, w, r * 0.42));
    case 'dot':
      return Math.hypot(x, y) - r * 0.22;
    case 'ring':
      return Math.abs(Math.hypot(x, y) - r * 0.3) - w * 0.8;
    case 'x': {
      const d1 = Math.abs(x - y) / Math.SQRT2 - w;
      const d2 = Math.abs(x + y) / Math.SQRT2 - w;
      return Math.max(Math.min(d1, d2), Math.max(Math.abs(x), Math.abs(y)) - r * 0.35);
    }
    case 'arrow-left':
    case 'arrow-right': {
      const s = symbol === 'arrow-left' ? -1 : 1;
      const shaft = box(-s * r * 0.1, 0, r * 0.3, w);
      const hx = s * x - r * 0.1;
      const head = Math.max(Math.abs(y) - (r * 0.4 - hx * 1.1), hx - r * 0.45, -hx);
      return Math.min(shaft, head);
    }
  }
}

const coverage = (d: number) => Math.min(1, Math.max(0, 0.5 - d));

/** Smooth random field: a few low-frequency sinusoids (texture, lighting, stains). */
function smoothField(rand: () => number, size: number, waves: number, maxCycles: number): Float32Array {
  const f = new Float32Array(size * size);
  for (let k = 0; k < waves; k++) {
    const angle = rand() * 2 * Math.PI;
    const freq = (0.5 + rand() * maxCycles) / size;
    const phase = rand() * 2 * Math.PI;
    const amp = 0.5 + rand();
    for (let i = 0; i < size; i++) for (let j = 0; j < size; j++) f[i * size + j] += amp * Math.sin(2 * Math.PI * freq * (j * Math.cos(angle) + i * Math.sin(angle)) + phase);
  }
  let max = 1e-6;
  for (const v of f) max = Math.max(max, Math.abs(v));
  return f.map((v) => v / max);
}

/** One 32×32×3 sign image of class `cls` (pure in seed and index). */
export function renderSign(cls: SignClass, seed: number, index: number): Float32Array {
  const S = SIGN_SIZE;
  const rand = mulberry32(seed * 1_000_003 + index * 7919 + 11);
  const normal = gaussian(rand);
  const img = new Float32Array(S * S * 3);
  // Background: a random muted colour, a texture and a lighting gradient.
  const base = [0.2 + 0.6 * rand(), 0.2 + 0.6 * rand(), 0.2 + 0.6 * rand()];
  const texture = smoothField(rand, S, 3, 6);
  const texAmp = 0.05 + 0.15 * rand();
  const light = smoothField(rand, S, 1, 1);
  const brightness = 0.55 + 0.6 * rand();
  const lightAmp = 0.1 + 0.25 * rand();
  const noise = 0.01 + 0.06 * rand();
  // The sign: position, size and rotation jitter.
  const cx = S / 2 + (rand() - 0.5) * 6;
  const cy = S / 2 + (rand() - 0.5) * 6;
  const r = 9 + rand() * 4.5;
  const rot = (rand() - 0.5) * 0.35;
  const rim = RIMS[cls.rim];
  const fill = FILLS[cls.fill];
  const ink = cls.fill === 2 ? [0.95, 0.95, 0.95] : [0.05, 0.05, 0.05];
  const fade = 0.75 + 0.25 * rand();
  for (let i = 0; i < S; i++)
    for (let j = 0; j < S; j++) {
      const dx = j + 0.5 - cx;
      const dy = i + 0.5 - cy;
      const x = dx * Math.cos(rot) + dy * Math.sin(rot);
      const y = -dx * Math.sin(rot) + dy * Math.cos(rot);
      const outer = coverage(shapeDistance(cls.shape, x, y, r));
      const inner = coverage(shapeDistance(cls.shape, x, y, r * 0.74));
      const glyph = coverage(symbolDistance(cls.symbol, x, y, r * 0.74));
      const p = i * S + j;
      const shade = brightness * (1 + lightAmp * light[p]);
      for (let c = 0; c < 3; c++) {
        const bg = base[c] + texAmp * texture[p];
        const signColour = fade * ((1 - inner) * rim[c] + inner * ((1 - glyph) * fill[c] + glyph * ink[c]));
        const v = shade * ((1 - outer) * bg + outer * signColour) + noise * normal();
        img[p * 3 + c] = Math.min(1, Math.max(0, v));
      }
    }
  return img;
}

export const SURFACE_DEFECTS = ['scratch', 'spot', 'stain'] as const;

/**
 * One 40×40 grayscale surface (machined/woven texture, uneven light, sensor noise) with the given
 * defects drawn on it: a thin scratch, a small dark spot, a large faint stain.
 */
export function renderSurface(defects: readonly boolean[], seed: number, index: number): Float32Array {
  const S = SURFACE_SIZE;
  const rand = mulberry32(seed * 1_000_033 + index * 104_729 + 5);
  const normal = gaussian(rand);
  const img = new Float32Array(S * S);
  const texture = smoothField(rand, S, 4, 10);
  const grain = smoothField(rand, S, 2, 18);
  const light = smoothField(rand, S, 1, 1);
  const mean = 0.3 + 0.4 * rand();
  const contrast = 0.03 + 0.07 * rand();
  const noise = 0.01 + 0.03 * rand();
  for (let p = 0; p < S * S; p++) img[p] = mean * (1 + 0.15 * light[p]) + contrast * (texture[p] + 0.5 * grain[p]) + noise * normal();
  if (defects[0]) {
    // Scratch: a thin bright or dark line segment.
    const len = 10 + rand() * 18;
    const a = rand() * Math.PI;
    const x0 = 8 + rand() * (S - 16);
    const y0 = 8 + rand() * (S - 16);
    const sign = rand() < 0.5 ? 1 : -1;
    const depth = 0.25 + 0.2 * rand();
    for (let i = 0; i < S; i++)
      for (let j = 0; j < S; j++) {
        const along = (j - x0) * Math.cos(a) + (i - y0) * Math.sin(a);
        const across = -(j - x0) * Math.sin(a) + (i - y0) * Math.cos(a);
        if (Math.abs(along) <= len / 2) img[i * S + j] += sign * depth * coverage(Math.abs(across) - 0.9);
      }
  }
  if (defects[1]) {
    // Spot: a small dark pit.
    const x0 = 5 + rand() * (S - 10);
    const y0 = 5 + rand() * (S - 10);
    const rad = 2 + rand() * 2;
    const depth = 0.3 + 0.2 * rand();
    for (let i = 0; i < S; i++) for (let j = 0; j < S; j++) img[i * S + j] -= depth * coverage(Math.hypot(j - x0, i - y0) - rad);
  }
  if (defects[2]) {
    // Stain: a large faint smooth blob.
    const x0 = 8 + rand() * (S - 16);
    const y0 = 8 + rand() * (S - 16);
    const rad = 5 + rand() * 4;
    const amp = (rand() < 0.5 ? 1 : -1) * (0.2 + 0.1 * rand());
    for (let i = 0; i < S; i++)
      for (let j = 0; j < S; j++) {
        const d2 = ((j - x0) ** 2 + (i - y0) ** 2) / (rad * rad);
        img[i * S + j] += amp * Math.exp(-d2);
      }
  }
  return img.map((v) => Math.min(1, Math.max(0, v)));
}
