// One picture of a whole scan for the pull request: a cell per class with its reconstructed
// ℓ∞ trigger (grey = 0) and its mask, the figures under them (class, trigger ASR %, mask pixels),
// and a red frame round the class the verdict suspects. Pure: returns PNG bytes.
import { encodePng } from '../data/images.js';

/** 3×5 glyphs, rows top to bottom, 3 bits each (4 = left pixel). */
const GLYPHS: Record<string, number[]> = {
  '0': [7, 5, 5, 5, 7],
  '1': [2, 6, 2, 2, 7],
  '2': [7, 1, 7, 4, 7],
  '3': [7, 1, 7, 1, 7],
  '4': [5, 5, 7, 1, 1],
  '5': [7, 4, 7, 1, 7],
  '6': [7, 4, 7, 5, 7],
  '7': [7, 1, 1, 1, 1],
  '8': [7, 5, 7, 5, 7],
  '9': [7, 5, 7, 1, 7],
  '%': [5, 1, 2, 4, 5],
  '.': [0, 0, 0, 0, 2],
  '-': [0, 0, 7, 0, 0],
  ' ': [0, 0, 0, 0, 0],
  '#': [5, 7, 5, 7, 5],
  a: [0, 6, 3, 5, 7],
  m: [0, 0, 7, 7, 5],
  p: [0, 7, 5, 7, 4],
  x: [0, 5, 2, 2, 5],
};

export interface OverviewClass {
  class: number;
  /** ℓ∞ trigger, H×W×C in [−ε, ε] (absent when trigger inversion did not run). */
  trigger?: Float32Array;
  asr?: number;
  /** Mask, H×W in [0, 1] (absent when mask inversion did not run). */
  mask?: Float32Array;
  maskL1?: number;
}

interface Canvas {
  w: number;
  h: number;
  px: Float32Array;
}

const SCALE = 2;
const LINE = 6 * SCALE;

function put(c: Canvas, x: number, y: number, rgb: readonly number[]): void {
  if (x < 0 || y < 0 || x >= c.w || y >= c.h) return;
  c.px.set(rgb, (y * c.w + x) * 3);
}

function text(c: Canvas, x: number, y: number, s: string, rgb: readonly number[] = [0.1, 0.1, 0.1]): void {
  [...s].forEach((ch, k) => {
    const g = GLYPHS[ch] ?? GLYPHS['#'];
    g.forEach((row, r) => {
      for (let b = 0; b < 3; b++)
        if (row & (4 >> b)) for (let dy = 0; dy < SCALE; dy++) for (let dx = 0; dx < SCALE; dx++) put(c, x + (k * 4 + b) * SCALE + dx, y + r * SCALE + dy, rgb);
    });
  });
}

/** Blits an H×W×C image (values in [0,1]) scaled by `f`. */
function blit(c: Canvas, x0: number, y0: number, img: Float32Array, h: number, w: number, ch: number, f: number): void {
  for (let i = 0; i < h * f; i++)
    for (let j = 0; j < w * f; j++) {
      const p = (Math.floor(i / f) * w + Math.floor(j / f)) * ch;
      const v = ch === 3 ? [img[p], img[p + 1], img[p + 2]] : [img[p], img[p], img[p]];
      put(
        c,
        x0 + j,
        y0 + i,
        v.map((u) => Math.min(1, Math.max(0, u))),
      );
    }
}

function frame(c: Canvas, x0: number, y0: number, w: number, h: number, rgb: readonly number[], t = 2): void {
  for (let i = -t; i < h + t; i++) for (let j = -t; j < w + t; j++) if (i < 0 || j < 0 || i >= h || j >= w) put(c, x0 + j, y0 + i, rgb);
}

export function renderOverview(shape: [number, number, number], classes: OverviewClass[], options: { epsilon?: number; suspected: number | null }): Buffer {
  const [H, W, C] = shape;
  const f = Math.max(1, Math.min(4, Math.floor(56 / Math.max(H, W))));
  const tile = { w: W * f, h: H * f };
  const rows = Number(classes.some((k) => k.trigger)) + Number(classes.some((k) => k.mask));
  const cell = { w: Math.max(tile.w, 8 * 4 * SCALE) + 12, h: LINE + rows * (tile.h + 4) + 2 * LINE + 10 };
  const perRow = Math.min(classes.length, 11);
  const canvas: Canvas = { w: perRow * cell.w + 8, h: Math.ceil(classes.length / perRow) * cell.h + 8, px: new Float32Array(0) };
  canvas.px = new Float32Array(canvas.w * canvas.h * 3).fill(1);
  const eps = options.epsilon ?? 1;
  classes.forEach((k, idx) => {
    const x = 4 + (idx % perRow) * cell.w + 6;
    let y = 4 + Math.floor(idx / perRow) * cell.h + 4;
    const top = y;
    text(canvas, x, y, `${k.class}`);
    y += LINE + 2;
    if (k.trigger) {
      blit(
        canvas,
        x,
        y,
        k.trigger.map((d) => 0.5 + d / (2 * eps)),
        H,
        W,
        C,
        f,
      );
      y += tile.h + 4;
    }
    if (k.mask) {
      blit(canvas, x, y, k.mask, H, W, 1, f);
      y += tile.h + 4;
    }
    if (k.asr !== undefined) text(canvas, x, y, `a${Math.round(100 * k.asr)}%`);
    if (k.maskL1 !== undefined) text(canvas, x, y + LINE, `m${k.maskL1 < 10 ? k.maskL1.toFixed(1) : Math.round(k.maskL1)}px`);
    if (k.class === options.suspected) frame(canvas, x - 3, top - 2, Math.max(tile.w, 8 * 4 * SCALE) + 4, cell.h - 8, [0.85, 0.1, 0.1]);
  });
  return encodePng(canvas.px, canvas.h, canvas.w, 3);
}
