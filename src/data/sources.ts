// Resolves a data spec to images. Probe data (unlabelled) for scans; labelled data for cleaning
// and accuracy checks. Specs: `synthetic`, `mnist[:train|heldout|test|all]`, a folder of images,
// an ImageFolder (`<dir>/<class>/*.png`), an `x.npy` (+ `y.npy`) pair, or a single .npy file.
// (`deep-inversion` probes are made from the model by the gate, src/data/deep-inversion.ts.)
import { existsSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { InputError } from '../errors.js';
import { fitImageSet, listImageFiles, readImages } from './images.js';
import { mnistSplit, type MnistSplit } from './mnist.js';
import { readNpy, type NpyArray } from './npy.js';
import { syntheticImages } from './synthetic.js';
import { sliceImages, type ImageSet, type LabelledImageSet } from './types.js';

export interface DataOptions {
  /** Model input [height, width, channels]; data is fitted to it. */
  shape: [number, number, number];
  /** At most this many images are used (the first ones, in the source's stable order). */
  maxImages: number;
  seed: number;
}

function npyImages(arr: NpyArray, file: string): Omit<ImageSet, 'source'> {
  const [count, height, width, channels = 1] = arr.shape;
  if (arr.shape.length !== 3 && arr.shape.length !== 4) {
    throw new InputError(file, `has shape (${arr.shape.join(', ')}); images must be (N, H, W) or (N, H, W, C)`);
  }
  if (channels !== 1 && channels !== 3) throw new InputError(file, `has ${channels} channels; images need 1 or 3 (NHWC layout)`);
  const x = new Float32Array(arr.data.length);
  if (arr.dtype === 'uint8') for (let i = 0; i < x.length; i++) x[i] = arr.data[i] / 255;
  else {
    for (let i = 0; i < x.length; i++) {
      const v = arr.data[i];
      if (!(v >= 0 && v <= 1)) throw new InputError(file, `holds the value ${v} at element ${i}; store pixels as uint8 or floats in [0, 1]`);
      x[i] = v;
    }
  }
  return { x, count, height, width, channels };
}

function npyLabels(arr: NpyArray, file: string, count: number): Int32Array {
  if (arr.shape.length !== 1 || arr.shape[0] !== count)
    throw new InputError(file, `has shape (${arr.shape.join(', ')}); labels must be (${count},) to match the images`);
  const labels = Int32Array.from(arr.data as ArrayLike<number>);
  if (labels.some((l) => l < 0)) throw new InputError(file, 'holds negative labels; labels are class indices');
  return labels;
}

function take<T extends ImageSet>(set: T, max: number): T {
  return set.count > max ? sliceImages(set, 0, max) : set;
}

function parseMnistSpec(spec: string): MnistSplit | undefined {
  const m = /^mnist(?::(train|heldout|test|all))?$/.exec(spec);
  return m ? ((m[1] as MnistSplit | undefined) ?? 'test') : undefined;
}

/** The data spec that asks the gate to synthesise probes from the model (src/data/deep-inversion.ts). */
export const DEEP_INVERSION_SPEC = 'deep-inversion';

/** Unlabelled probe images for scans. */
export function loadProbeImages(spec: string | undefined, opts: DataOptions): ImageSet {
  const s = (spec ?? '').trim();
  if (s === '' || s === 'synthetic') return syntheticImages(opts.maxImages, opts.shape, opts.seed);
  if (s === DEEP_INVERSION_SPEC) throw new InputError(s, "(probes synthesised from the model) is for the scan's data only; give images here");
  const split = parseMnistSpec(s);
  if (split) return fitImageSet(take(mnistSplit(split), opts.maxImages), opts.shape);
  if (!existsSync(s)) throw new InputError(s, 'data path does not exist');
  if (statSync(s).isFile()) {
    if (path.extname(s).toLowerCase() !== '.npy') throw new InputError(s, 'data file must be a .npy array (or give a folder of images)');
    return fitImageSet(take({ ...npyImages(readNpy(s), s), source: s }, opts.maxImages), opts.shape);
  }
  // Probes are unlabelled: a folder's x.npy is enough (labels beside it are not needed here).
  const xFile = path.join(s, 'x.npy');
  if (existsSync(xFile)) return fitImageSet(take({ ...npyImages(readNpy(xFile), xFile), source: s }, opts.maxImages), opts.shape);
  const files = listImageFiles(s);
  const nested = files.length ? [] : classFolders(s).flatMap(([, dir]) => listImageFiles(dir));
  const all = files.length ? files : nested;
  if (!all.length) throw new InputError(s, 'holds no PNG/JPEG images, no class sub-folders of images, and no x.npy');
  return readImages(all.slice(0, opts.maxImages), opts.shape, s);
}

/** `<dir>/<class index>/` sub-folders, sorted by index. */
function classFolders(dir: string): Array<[number, string]> {
  return readdirSync(dir)
    .filter((name) => /^\d+$/.test(name) && statSync(path.join(dir, name)).isDirectory())
    .map((name) => [Number(name), path.join(dir, name)] as [number, string])
    .sort((a, b) => a[0] - b[0]);
}

/** Labelled images for cleaning and accuracy: ImageFolder layout, x.npy + y.npy, or mnist. */
export function loadLabelledImages(spec: string, opts: DataOptions): LabelledImageSet {
  const split = parseMnistSpec(spec);
  if (split) return fitImageSet(take(mnistSplit(split), opts.maxImages), opts.shape);
  if (!existsSync(spec)) throw new InputError(spec, 'labelled data path does not exist');
  const xFile = statSync(spec).isFile() ? spec : path.join(spec, 'x.npy');
  if (existsSync(xFile)) {
    const yFile = path.join(path.dirname(xFile), 'y.npy');
    if (!existsSync(yFile)) throw new InputError(xFile, 'has no y.npy beside it; labelled data needs x.npy + y.npy');
    const images = npyImages(readNpy(xFile), xFile);
    const labels = npyLabels(readNpy(yFile), yFile, images.count);
    return fitImageSet(take({ ...images, labels, source: spec }, opts.maxImages), opts.shape);
  }
  const classes = classFolders(spec);
  if (!classes.length) throw new InputError(spec, 'is not labelled data: expected <dir>/<class index>/*.png sub-folders or x.npy + y.npy');
  // Balanced take: round-robin over classes so a cap keeps every class represented.
  const perClass = classes.map(([label, dir]) => listImageFiles(dir).map((f) => [label, f] as const));
  const picked: Array<readonly [number, string]> = [];
  for (let i = 0; picked.length < opts.maxImages && perClass.some((l) => i < l.length); i++) {
    for (const list of perClass) if (i < list.length && picked.length < opts.maxImages) picked.push(list[i]);
  }
  const images = readImages(
    picked.map(([, f]) => f),
    opts.shape,
    spec,
  );
  return { ...images, labels: Int32Array.from(picked.map(([l]) => l)) };
}
