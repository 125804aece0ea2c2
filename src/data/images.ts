// PNG and JPEG decoding into pixel-space float arrays, and fitting image sets to a model's
// input size and channel count.
import jpeg from 'jpeg-js';
import { PNG } from 'pngjs';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { InputError } from '../errors.js';
import type { ImageSet } from './types.js';

export const IMAGE_EXTENSIONS = new Set(['.png', '.jpg', '.jpeg']);
const MAX_PIXELS = 40_000_000;

export interface DecodedImage {
  width: number;
  height: number;
  /** RGBA, 8 bits per channel. */
  rgba: Uint8Array;
}

export function decodeImage(file: string): DecodedImage {
  const buf = readFileSync(file);
  const ext = path.extname(file).toLowerCase();
  try {
    if (ext === '.png') {
      const png = PNG.sync.read(buf);
      return { width: png.width, height: png.height, rgba: new Uint8Array(png.data) };
    }
    const img = jpeg.decode(buf, { useTArray: true, formatAsRGBA: true, maxResolutionInMP: MAX_PIXELS / 1e6, maxMemoryUsageInMB: 512 });
    return { width: img.width, height: img.height, rgba: img.data };
  } catch (err) {
    throw new InputError(file, `is not a valid ${ext === '.png' ? 'PNG' : 'JPEG'} image (${(err as Error).message.split('\n')[0]})`);
  }
}

/** Encodes an H×W×C pixel-space image (C = 1 or 3) as PNG. */
export function encodePng(x: Float32Array, height: number, width: number, channels: number): Buffer {
  const png = new PNG({ width, height });
  for (let i = 0; i < height * width; i++) {
    for (let k = 0; k < 3; k++) {
      const v = x[i * channels + (channels === 1 ? 0 : k)];
      png.data[i * 4 + k] = Math.round(Math.min(1, Math.max(0, v)) * 255);
    }
    png.data[i * 4 + 3] = 255;
  }
  return PNG.sync.write(png);
}

/** Image files directly in `dir`, sorted by name so every run sees the same order. */
export function listImageFiles(dir: string): string[] {
  return readdirSync(dir)
    .filter((f) => IMAGE_EXTENSIONS.has(path.extname(f).toLowerCase()))
    .sort()
    .map((f) => path.join(dir, f))
    .filter((f) => statSync(f).isFile());
}

/** Decodes `files` and fits them to [height, width, channels] (bilinear resize, channel mapping). */
export function readImages(files: string[], [height, width, channels]: [number, number, number], source: string): ImageSet {
  const x = new Float32Array(files.length * height * width * channels);
  files.forEach((file, i) => {
    const img = decodeImage(file);
    const rgb = new Float32Array(img.width * img.height * 3);
    for (let p = 0; p < img.width * img.height; p++) for (let k = 0; k < 3; k++) rgb[p * 3 + k] = img.rgba[p * 4 + k] / 255;
    const fitted = fitPixels(rgb, img.height, img.width, 3, height, width, channels);
    x.set(fitted, i * height * width * channels);
  });
  return { x, count: files.length, height, width, channels, source };
}

/**
 * Bilinear resize with aligned corners, as tfjs' resizeBilinear(alignCorners = true) computes it;
 * in plain JS so that fitting runs whatever the backend (webgpu cannot read a tensor back
 * synchronously in Node).
 */
function resizeBilinear(src: Float32Array, h: number, w: number, c: number, H: number, W: number): Float32Array {
  const out = new Float32Array(H * W * c);
  const ry = H > 1 ? (h - 1) / (H - 1) : h / H;
  const rx = W > 1 ? (w - 1) / (W - 1) : w / W;
  for (let y = 0; y < H; y++) {
    const fy = ry * y;
    const y0 = Math.max(0, Math.floor(fy));
    const y1 = Math.min(h - 1, Math.ceil(fy));
    const dy = fy - y0;
    for (let x = 0; x < W; x++) {
      const fx = rx * x;
      const x0 = Math.max(0, Math.floor(fx));
      const x1 = Math.min(w - 1, Math.ceil(fx));
      const dx = fx - x0;
      for (let k = 0; k < c; k++) {
        const tl = src[(y0 * w + x0) * c + k];
        const tr = src[(y0 * w + x1) * c + k];
        const bl = src[(y1 * w + x0) * c + k];
        const br = src[(y1 * w + x1) * c + k];
        const top = tl + (tr - tl) * dx;
        const bottom = bl + (br - bl) * dx;
        out[(y * W + x) * c + k] = top + (bottom - top) * dy;
      }
    }
  }
  return out;
}

/** Resizes one image and maps its channels (RGB→grey by luminance, grey→RGB by copying). */
export function fitPixels(src: Float32Array, h: number, w: number, c: number, H: number, W: number, C: number): Float32Array {
  if (c !== C && !(c === 3 && C === 1) && !(c === 1 && C === 3)) throw new Error(`cannot map ${c} channels to ${C}`);
  const sized = h !== H || w !== W ? resizeBilinear(src, h, w, c, H, W) : src;
  if (c === C) return Float32Array.from(sized);
  const out = new Float32Array(H * W * C);
  for (let p = 0; p < H * W; p++) {
    if (C === 1) out[p] = sized[p * 3] * 0.299 + sized[p * 3 + 1] * 0.587 + sized[p * 3 + 2] * 0.114;
    else out[p * 3] = out[p * 3 + 1] = out[p * 3 + 2] = sized[p];
  }
  return out;
}

/** Fits every image of a set to a model's input shape; returns the set itself when it already fits. */
export function fitImageSet<T extends ImageSet>(set: T, shape: [number, number, number]): T {
  const [H, W, C] = shape;
  if (set.height === H && set.width === W && set.channels === C) return set;
  const n = set.height * set.width * set.channels;
  const x = new Float32Array(set.count * H * W * C);
  for (let i = 0; i < set.count; i++) {
    x.set(fitPixels(set.x.subarray(i * n, (i + 1) * n), set.height, set.width, set.channels, H, W, C), i * H * W * C);
  }
  return { ...set, x, height: H, width: W, channels: C, source: `${set.source} (resized to ${H}×${W}×${C})` };
}
