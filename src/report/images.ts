// Pure renderers: the scans' tensors as PNG images a reviewer can look at. Nothing here writes
// files; the entry points do (into a directory they own).
import { PNG } from 'pngjs';
import { encodePng } from '../data/images.js';
import type { DenseEvidence, MaskEvidence } from '../core/verdict.js';
import type { HessianResult } from '../scan/hessian.js';
import type { InversionResult } from '../scan/inversion.js';
import type { MaskInversionResult } from '../scan/mask-inversion.js';
import { renderOverview } from './overview.js';

export interface RenderedImage {
  name: string;
  png: Buffer;
}

/** The largest side images are scaled up to, so 28-px digits are visible (nearest neighbour). */
const TARGET_SIDE = 112;

function upscale(x: Float32Array, h: number, w: number, c: number): { x: Float32Array; h: number; w: number } {
  const f = Math.max(1, Math.floor(TARGET_SIDE / Math.max(h, w)));
  if (f === 1) return { x, h, w };
  const out = new Float32Array(h * f * w * f * c);
  for (let i = 0; i < h * f; i++)
    for (let j = 0; j < w * f; j++) for (let k = 0; k < c; k++) out[(i * w * f + j) * c + k] = x[(Math.floor(i / f) * w + Math.floor(j / f)) * c + k];
  return { x: out, h: h * f, w: w * f };
}

/** The H×W×C image a `png()` of it was rendered from, to 8 bits (nearest-neighbour upscaling undone). */
function unpng(buffer: Buffer, h: number, w: number, c: number): Float32Array {
  const img = PNG.sync.read(buffer);
  const f = img.width / w;
  if (!Number.isInteger(f) || img.height !== h * f) throw new Error(`a ${img.width}×${img.height} image is not a ${w}×${h} one scaled up`);
  const x = new Float32Array(h * w * c);
  for (let i = 0; i < h; i++)
    for (let j = 0; j < w; j++) for (let k = 0; k < c; k++) x[(i * w + j) * c + k] = img.data[(i * f * img.width + j * f) * 4 + k] / 255;
  return x;
}

function png(x: Float32Array, h: number, w: number, c: number): Buffer {
  const big = upscale(x, h, w, c);
  return encodePng(big.x, big.h, big.w, c);
}

export function renderScanImages(
  shape: [number, number, number],
  scans: { dense?: InversionResult; mask?: MaskInversionResult; hessian?: HessianResult },
  example?: Float32Array,
): RenderedImage[] {
  const [H, W, C] = shape;
  const n = H * W * C;
  const images: RenderedImage[] = [];
  if (scans.dense) {
    const { triggers, options } = scans.dense;
    // Classes a many-class schedule only screened get no image: their triggers had a small budget.
    scans.dense.perClass.forEach(({ class: c, screened }) => {
      if (screened) return;
      const delta = triggers.subarray(c * n, (c + 1) * n);
      // Grey is zero; white/black are +ε/−ε.
      images.push({
        name: `trigger-class-${c}.png`,
        png: png(
          delta.map((d) => 0.5 + d / (2 * options.epsilon)),
          H,
          W,
          C,
        ),
      });
      if (example)
        images.push({
          name: `triggered-example-class-${c}.png`,
          png: png(
            example.map((v, i) => Math.min(1, Math.max(0, v + delta[i]))),
            H,
            W,
            C,
          ),
        });
    });
  }
  if (scans.mask) {
    const { masks, patterns } = scans.mask;
    scans.mask.perClass.forEach(({ class: c, screened }) => {
      if (screened) return;
      const m = masks.subarray(c * H * W, (c + 1) * H * W);
      const p = patterns.subarray(c * n, (c + 1) * n);
      images.push({ name: `mask-class-${c}.png`, png: png(m, H, W, 1) });
      images.push({
        name: `masked-pattern-class-${c}.png`,
        png: png(
          p.map((v, i) => v * m[Math.floor(i / C)]),
          H,
          W,
          C,
        ),
      });
    });
  }
  if (scans.hessian) {
    const v = scans.hessian.topEigenvector;
    const energy = new Float32Array(H * W);
    for (let i = 0; i < H * W; i++) for (let k = 0; k < C; k++) energy[i] += v[i * C + k] ** 2;
    const max = energy.reduce((m, e) => Math.max(m, e), 0) || 1; // no spread: large images overflow the stack
    images.push({
      name: 'hessian-top-eigenvector.png',
      png: png(
        energy.map((e) => Math.sqrt(e / max)),
        H,
        W,
        1,
      ),
    });
  }
  return images;
}

/** The one-picture overview (overview.png): every class's trigger and mask, the suspect framed. */
export function renderOverviewImage(
  shape: [number, number, number],
  scans: { dense?: InversionResult; mask?: MaskInversionResult },
  suspected: number | null,
): RenderedImage | undefined {
  const [H, W, C] = shape;
  const n = H * W * C;
  const { dense, mask } = scans;
  const K = dense?.perClass.length ?? mask?.perClass.length ?? 0;
  if (!K) return undefined;
  // A many-class schedule's screened classes are left out (their triggers had a small budget).
  const ranInFull = (c: number) => [dense?.perClass[c], mask?.perClass[c]].some((p) => p && !p.screened);
  const classes = Array.from({ length: K }, (_, c) => ({
    class: c,
    ...(dense ? { trigger: dense.triggers.subarray(c * n, (c + 1) * n), asr: dense.perClass[c].asr } : {}),
    ...(mask ? { mask: mask.masks.subarray(c * H * W, (c + 1) * H * W), maskL1: mask.perClass[c].maskL1 } : {}),
  })).filter((c) => ranInFull(c.class));
  return { name: 'overview.png', png: renderOverview(shape, classes, { epsilon: dense?.options.epsilon, suspected }) };
}

/**
 * The overview of a merged scan, which has the shards' per-class images but no trigger tensors:
 * each class's trigger and mask read back from its PNGs (8-bit, as a reviewer sees them anyway).
 */
export function renderOverviewFromImages(
  shape: [number, number, number],
  scans: { dense?: DenseEvidence; mask?: MaskEvidence },
  images: readonly RenderedImage[],
  suspected: number | null,
): RenderedImage | undefined {
  const [H, W, C] = shape;
  const { dense, mask } = scans;
  const byName = new Map(images.map((i) => [i.name, i.png]));
  const classes = new Set([...(dense?.perClass ?? []), ...(mask?.perClass ?? [])].filter((p) => !p.screened).map((p) => p.class));
  if (!classes.size) return undefined;
  const eps = dense?.options.epsilon ?? 1;
  const rows = [...classes]
    .sort((a, b) => a - b)
    .map((c) => {
      const trigger = byName.get(`trigger-class-${c}.png`);
      const m = byName.get(`mask-class-${c}.png`);
      return {
        class: c,
        ...(dense && trigger ? { trigger: unpng(trigger, H, W, C).map((v) => (v - 0.5) * 2 * eps), asr: dense.perClass.find((p) => p.class === c)?.asr } : {}),
        ...(mask && m ? { mask: unpng(m, H, W, 1), maskL1: mask.perClass.find((p) => p.class === c)?.maskL1 } : {}),
      };
    });
  return { name: 'overview.png', png: renderOverview(shape, rows, { epsilon: dense?.options.epsilon, suspected }) };
}
