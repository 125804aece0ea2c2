// Synthetic out-of-distribution probe images for when the user gives no data: uniform noise,
// smooth blobs, stripes and checkerboards, seeded. Trigger inversion needs inputs, not labels.
import { gaussian, mulberry32 } from '../util/random.js';
import type { ImageSet } from './types.js';

export const SYNTHETIC_KINDS = ['noise', 'blobs', 'stripes', 'checkerboard'] as const;

export function syntheticImages(count: number, [height, width, channels]: [number, number, number], seed: number): ImageSet {
  const rand = mulberry32(seed);
  const normal = gaussian(rand);
  const n = height * width * channels;
  const x = new Float32Array(count * n);
  for (let i = 0; i < count; i++) {
    const kind = SYNTHETIC_KINDS[i % SYNTHETIC_KINDS.length];
    const img = x.subarray(i * n, (i + 1) * n);
    const tint = Array.from({ length: channels }, () => 0.5 + 0.5 * rand());
    if (kind === 'noise') {
      for (let p = 0; p < n; p++) img[p] = rand();
    } else if (kind === 'blobs') {
      const blobs = Array.from({ length: 2 + Math.floor(rand() * 4) }, () => ({
        cy: rand() * height,
        cx: rand() * width,
        r: (0.08 + 0.25 * rand()) * Math.min(height, width),
        a: 0.3 + 0.7 * rand(),
      }));
      for (let yy = 0; yy < height; yy++)
        for (let xx = 0; xx < width; xx++) {
          let v = 0;
          for (const b of blobs) v += b.a * Math.exp(-((yy - b.cy) ** 2 + (xx - b.cx) ** 2) / (2 * b.r * b.r));
          for (let k = 0; k < channels; k++) img[(yy * width + xx) * channels + k] = Math.min(1, v * tint[k]);
        }
    } else if (kind === 'stripes') {
      const angle = rand() * Math.PI;
      const period = 3 + rand() * Math.max(4, width / 3);
      const phase = rand() * 2 * Math.PI;
      for (let yy = 0; yy < height; yy++)
        for (let xx = 0; xx < width; xx++) {
          const t = (xx * Math.cos(angle) + yy * Math.sin(angle)) / period;
          const v = 0.5 + 0.5 * Math.sin(2 * Math.PI * t + phase);
          for (let k = 0; k < channels; k++) img[(yy * width + xx) * channels + k] = v * tint[k];
        }
    } else {
      const cell = 2 + Math.floor(rand() * Math.max(2, Math.min(height, width) / 4));
      const oy = Math.floor(rand() * cell);
      const ox = Math.floor(rand() * cell);
      for (let yy = 0; yy < height; yy++)
        for (let xx = 0; xx < width; xx++) {
          const on = (Math.floor((yy + oy) / cell) + Math.floor((xx + ox) / cell)) % 2 === 0;
          for (let k = 0; k < channels; k++) img[(yy * width + xx) * channels + k] = on ? tint[k] : 0.05 * Math.abs(normal());
        }
    }
  }
  return { x, count, height, width, channels, source: `synthetic:ood seed=${seed} (${SYNTHETIC_KINDS.join(', ')})` };
}
