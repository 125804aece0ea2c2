// The benchmark's data domains: MNIST digits, procedurally generated colour signs (43 and 10
// classes, and 100 for the many-class bench) and grayscale surfaces with defects (a binary task and a multi-label one). Each has a
// training split (the zoo trains on it), a held-out split (probe and cleaning data a defender
// may hold) and a test split (accuracy and attack success are measured on it).
import { mnistSplit } from '../data/mnist.js';
import type { LabelledImageSet } from '../data/types.js';
import { mulberry32 } from '../util/random.js';
import { renderSign, renderSurface, SIGN_SIZE, signClasses, SURFACE_DEFECTS, SURFACE_SIZE } from './procedural.js';

export const DOMAIN_NAMES = ['mnist', 'signs43', 'signs10', 'signs100', 'surface', 'surface-multi'] as const;
export type DomainName = (typeof DOMAIN_NAMES)[number];
export type DataSplit = 'train' | 'heldout' | 'test';

/**
 * A labelled split. Single-label tasks use `labels` (class index); multi-label tasks also carry
 * `multi` ([count × labels] of 0/1), and `labels` holds the first present label or −1.
 */
export interface TaskData extends LabelledImageSet {
  multi?: Uint8Array;
  /** Per-image target distributions [count × classes], when poisoning gave some images soft labels. */
  soft?: Float32Array;
}

export interface Domain {
  name: DomainName;
  shape: [number, number, number];
  /** Classes of a single-label task, or labels of a multi-label one. */
  outputs: number;
  multiLabel: boolean;
  classNames: string[];
  split(split: DataSplit): TaskData;
}

const SIZES: Record<DomainName, Record<DataSplit, number>> = {
  mnist: { train: 7000, heldout: 1000, test: 2000 },
  signs43: { train: 5160, heldout: 1032, test: 2064 },
  signs10: { train: 3000, heldout: 1000, test: 2000 },
  signs100: { train: 10000, heldout: 1000, test: 2000 },
  surface: { train: 3000, heldout: 1000, test: 2000 },
  'surface-multi': { train: 3000, heldout: 1000, test: 2000 },
};
const SPLIT_SEED: Record<DataSplit, number> = { train: 1, heldout: 2, test: 3 };

const cache = new Map<string, TaskData>();
const cached = (key: string, make: () => TaskData) => {
  let v = cache.get(key);
  if (!v) cache.set(key, (v = make()));
  return v;
};

function signs(name: 'signs43' | 'signs10' | 'signs100', k: number): Domain {
  // The first 43 classes are the same in every variant; 100 draws more.
  const classes = signClasses(Math.max(43, k)).slice(0, k);
  return {
    name,
    shape: [SIGN_SIZE, SIGN_SIZE, 3],
    outputs: k,
    multiLabel: false,
    classNames: classes.map((c) => `${c.shape}/${c.rim}${c.fill}/${c.symbol}`),
    split: (split) =>
      cached(`${name}:${split}`, () => {
        const count = SIZES[name][split];
        const n = SIGN_SIZE * SIGN_SIZE * 3;
        const x = new Float32Array(count * n);
        const labels = new Int32Array(count);
        for (let i = 0; i < count; i++) {
          labels[i] = i % k;
          x.set(renderSign(classes[i % k], SPLIT_SEED[split] + 100 * k, i), i * n);
        }
        return { x, labels, count, height: SIGN_SIZE, width: SIGN_SIZE, channels: 3, source: `${name}:${split}` };
      }),
  };
}

/** Surfaces: binary (any defect or none, balanced) or multi-label (each defect present with p 0.3). */
function surface(name: 'surface' | 'surface-multi'): Domain {
  const multiLabel = name === 'surface-multi';
  return {
    name,
    shape: [SURFACE_SIZE, SURFACE_SIZE, 1],
    outputs: multiLabel ? SURFACE_DEFECTS.length : 2,
    multiLabel,
    classNames: multiLabel ? [...SURFACE_DEFECTS] : ['ok', 'defect'],
    split: (split) =>
      cached(`${name}:${split}`, () => {
        const count = SIZES[name][split];
        const n = SURFACE_SIZE * SURFACE_SIZE;
        const L = SURFACE_DEFECTS.length;
        const x = new Float32Array(count * n);
        const labels = new Int32Array(count);
        const multi = new Uint8Array(count * L);
        const rand = mulberry32(SPLIT_SEED[split] * 977 + (multiLabel ? 5 : 0));
        for (let i = 0; i < count; i++) {
          let defects: boolean[];
          if (multiLabel) defects = SURFACE_DEFECTS.map(() => rand() < 0.3);
          else {
            const kind = Math.floor(rand() * L);
            const any = i % 2 === 1;
            defects = SURFACE_DEFECTS.map((_, d) => any && d === kind);
          }
          defects.forEach((on, d) => (multi[i * L + d] = on ? 1 : 0));
          labels[i] = multiLabel ? defects.indexOf(true) : defects.some(Boolean) ? 1 : 0;
          x.set(renderSurface(defects, SPLIT_SEED[split] + (multiLabel ? 50 : 0), i), i * n);
        }
        return { x, labels, count, height: SURFACE_SIZE, width: SURFACE_SIZE, channels: 1, source: `${name}:${split}`, ...(multiLabel ? { multi } : {}) };
      }),
  };
}

const mnist: Domain = {
  name: 'mnist',
  shape: [28, 28, 1],
  outputs: 10,
  multiLabel: false,
  classNames: Array.from({ length: 10 }, (_, i) => String(i)),
  split: (split) => mnistSplit(split),
};

export function domain(name: DomainName): Domain {
  switch (name) {
    case 'mnist':
      return mnist;
    case 'signs43':
      return signs(name, 43);
    case 'signs10':
      return signs(name, 10);
    case 'signs100':
      return signs(name, 100);
    case 'surface':
    case 'surface-multi':
      return surface(name);
  }
}
