// Writes rendered images into a directory this tool owns: a new one, or one it made before
// (marked by .backdoor-gate). Never writes into a directory the user owns.
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { InputError } from '../errors.js';
import type { RenderedImage } from './images.js';

const MARKER = '.backdoor-gate';

export function writeArtifacts(dir: string, images: RenderedImage[]): { dir: string; files: string[] } {
  const target = path.resolve(dir);
  if (existsSync(target) && readdirSync(target).length && !existsSync(path.join(target, MARKER))) {
    throw new InputError(dir, 'exists and was not made by backdoor-gate; refusing to write images into it (choose another artifacts directory)');
  }
  mkdirSync(target, { recursive: true });
  writeFileSync(path.join(target, MARKER), 'images written by backdoor-gate; safe to delete\n');
  for (const image of images) writeFileSync(path.join(target, image.name), image.png);
  return { dir: target, files: images.map((i) => i.name) };
}
