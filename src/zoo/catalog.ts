// The zoo: which models exist and how each is made. Deterministic: a name fixes the recipe.
// It is the development benchmark: three data domains (MNIST digits, colour signs with 43 and
// 10 classes, grayscale surfaces with binary and multi-label heads), five architectures, thirteen
// attack families, split into a tuning set (what thresholds and calibration are fitted on) and
// a test set (other seeds, plus architectures and attack families tuning never sees).
import { ARCHITECTURES, DEFAULT_HEAD, type Architecture, type Head } from './architectures.js';
import { DEFAULT_POISON_RATE, TEST_ONLY_FAMILIES, TUNING_FAMILIES, type AttackFamily, type AttackSpec } from './attacks.js';
import { domain, type DomainName } from './domains.js';

export type BenchmarkSplit = 'tuning' | 'test';

export interface ZooEntry {
  name: string;
  domain: DomainName;
  arch: Architecture;
  head: Head;
  seed: number;
  split: BenchmarkSplit;
  attack?: AttackSpec;
}

/** Architectures the tuning split uses; the others appear only in the test split. */
export const TUNING_ARCHITECTURES: readonly Architecture[] = ['cnn', 'bn-cnn', 'mlp'];
export const TEST_ONLY_ARCHITECTURES: readonly Architecture[] = ARCHITECTURES.filter((a) => !TUNING_ARCHITECTURES.includes(a));

/** Training recipe shared by every MNIST zoo model (5 epochs reach ≥ 97 % on the 7,000 training digits). */
export const ZOO_TRAINING = { epochs: 5, batchSize: 32, learningRate: 2e-3 } as const;
/**
 * Epochs per domain for the benchmark's models (the original 18 MNIST models keep ZOO_TRAINING's
 * 5): fewer, so the benchmark trains in about an hour and a half on 2 cores.
 */
export const DOMAIN_EPOCHS: Record<DomainName, number> = { mnist: 3, signs43: 3, signs10: 3, surface: 4, 'surface-multi': 4 };

/** Epochs for one zoo model. */
export const epochsFor = (e: Pick<ZooEntry, 'name' | 'domain'>) => (ORIGINAL_NAMES.has(e.name) ? ZOO_TRAINING.epochs : DOMAIN_EPOCHS[e.domain]);

interface Variant {
  domain: DomainName;
  /** Name prefix ('' keeps the original MNIST zoo's names). */
  prefix: string;
  heads: (arch: Architecture, i: number) => Head;
  archs: readonly Architecture[];
  /** Clean models: [arch, seed, split]. */
  clean: Array<[Architecture, number, BenchmarkSplit]>;
  families: readonly AttackFamily[];
  /** Tuning families get a tuning-split model here. */
  tuningCopies: boolean;
  /** Tuning families also get a test-split model (other arch, seed and target). */
  testCopies: boolean;
}

const binaryHead = (_: Architecture, i: number): Head => (i % 3 === 2 ? 'softmax' : 'sigmoid');
const cleanSet = (archs: readonly Architecture[], seeds: number[], tuningSeeds: number[]): Variant['clean'] =>
  archs.flatMap((arch) => seeds.map((seed): [Architecture, number, BenchmarkSplit] => [arch, seed, TUNING_ARCHITECTURES.includes(arch) && tuningSeeds.includes(seed) ? 'tuning' : 'test']));

const ALL_TO_ONE_ONLY: readonly AttackFamily[] = ['all-to-all', 'source-specific', 'soft-label'];

const VARIANTS: Variant[] = [
  {
    domain: 'mnist',
    prefix: '',
    heads: (arch) => DEFAULT_HEAD[arch],
    archs: ARCHITECTURES,
    clean: [...cleanSet(['cnn', 'bn-cnn'], [1, 2, 3, 4], [1, 2]), ...cleanSet(['mlp'], [1, 2, 3, 4], [1, 2]), ...cleanSet(['resnet', 'dwsep'], [1, 2, 3, 4], [])],
    families: [...TUNING_FAMILIES, ...TEST_ONLY_FAMILIES],
    tuningCopies: true,
    testCopies: true,
  },
  {
    domain: 'signs43',
    prefix: 'signs43-',
    heads: (arch) => DEFAULT_HEAD[arch],
    archs: ['cnn', 'bn-cnn', 'resnet', 'dwsep'],
    clean: [...cleanSet(['cnn', 'bn-cnn'], [1, 2, 3], [1, 2]), ...cleanSet(['resnet', 'dwsep'], [1, 2], [])],
    families: [...TUNING_FAMILIES, ...TEST_ONLY_FAMILIES].filter((f) => f !== 'badnets-low'),
    // 43-class scans cost four times a 10-class one: tuning families are tested on signs10 instead.
    tuningCopies: true,
    testCopies: false,
  },
  {
    domain: 'signs10',
    prefix: 'signs10-',
    heads: (arch) => DEFAULT_HEAD[arch],
    archs: ['cnn', 'bn-cnn', 'resnet', 'dwsep'],
    clean: [...cleanSet(['cnn', 'bn-cnn'], [1, 2, 3], [1]), ...cleanSet(['resnet', 'dwsep'], [1, 2], [])],
    families: [...TUNING_FAMILIES, ...TEST_ONLY_FAMILIES].filter((f) => f !== 'badnets-low'),
    tuningCopies: false,
    testCopies: true,
  },
  {
    domain: 'surface',
    prefix: 'surface-',
    heads: binaryHead,
    // No MLP: on textured surfaces it stays at chance, and nobody ships that.
    archs: ['cnn', 'bn-cnn', 'resnet', 'dwsep'],
    clean: [...cleanSet(['cnn', 'bn-cnn'], [1, 2, 3, 4], [1, 2]), ...cleanSet(['resnet', 'dwsep'], [1, 2], [])],
    families: [...TUNING_FAMILIES, ...TEST_ONLY_FAMILIES].filter((f) => f !== 'badnets-low' && f !== 'source-specific'),
    tuningCopies: true,
    testCopies: true,
  },
  {
    domain: 'surface-multi',
    prefix: 'surface-multi-',
    heads: () => 'multi-label',
    archs: ['cnn', 'bn-cnn', 'resnet', 'dwsep'],
    clean: [...cleanSet(['cnn', 'bn-cnn'], [1, 2], [1]), ...cleanSet(['resnet', 'dwsep'], [1, 2], [])],
    families: [...TUNING_FAMILIES, ...TEST_ONLY_FAMILIES].filter((f) => f !== 'badnets-low' && !ALL_TO_ONE_ONLY.includes(f)),
    tuningCopies: false,
    testCopies: true,
  },
];

/** The original MNIST zoo (18 models; names, seeds and targets unchanged). */
const ORIGINAL_FAMILIES: readonly AttackFamily[] = ['badnets', 'blended', 'sig', 'wanet', 'badnets-low'];

/** The original zoo's 18 names: 4 clean seeds and 5 attacks on each of cnn and bn-cnn. */
const ORIGINAL_NAMES = new Set([
  ...(['cnn', 'bn-cnn'] as const).flatMap((a) => [1, 2, 3, 4].map((s) => `${a}-clean-s${s}`)),
  ...(['cnn', 'bn-cnn'] as const).flatMap((a, ai) => ['badnets', 'blended', 'sig', 'wanet', 'badnets-low'].map((f, fi) => `${a}-${f}-t${(3 * fi + 5 * ai + 1) % 10}`)),
]);

export function zooCatalog(): ZooEntry[] {
  const entries: ZooEntry[] = [];
  VARIANTS.forEach((v, vi) => {
    const d = domain(v.domain);
    const K = d.outputs;
    v.clean.forEach(([arch, seed, split], i) => entries.push({ name: `${v.prefix}${arch}-clean-s${seed}`, domain: v.domain, arch, head: v.heads(arch, i), seed, split }));
    v.families.forEach((family, f) => {
      const tuning = (TUNING_FAMILIES as readonly string[]).includes(family);
      const copies: Array<{ split: BenchmarkSplit; arch: Architecture; seed: number; target: number }> = [];
      if (v.domain === 'mnist' && ORIGINAL_FAMILIES.includes(family)) {
        // The original zoo: both tuning architectures, targets varied across families.
        const fo = ORIGINAL_FAMILIES.indexOf(family);
        (['cnn', 'bn-cnn'] as const).forEach((arch, a) => copies.push({ split: 'tuning', arch, seed: 10 + 10 * a + fo, target: (3 * fo + 5 * a + 1) % 10 }));
      } else if (tuning) {
        const tuningArchs = v.archs.filter((a) => TUNING_ARCHITECTURES.includes(a));
        if (v.tuningCopies) copies.push({ split: 'tuning', arch: tuningArchs[f % tuningArchs.length], seed: 100 + 10 * vi + f, target: (7 * f + 3 * vi + 2) % K });
      }
      // Test-split models: every family, rotating through all architectures, other seeds and targets.
      if (!tuning || v.testCopies) {
        copies.push({ split: 'test', arch: v.archs[(f + vi + 1) % v.archs.length], seed: 500 + 10 * vi + f, target: (5 * f + vi + 4) % K });
      }
      if (v.domain === 'mnist' && tuning && ORIGINAL_FAMILIES.includes(family)) {
        copies.push({ split: 'test', arch: TEST_ONLY_ARCHITECTURES[f % TEST_ONLY_ARCHITECTURES.length], seed: 700 + f, target: (5 * f + 7) % K });
      }
      for (const c of copies) {
        const attack: AttackSpec = { family, target: c.target, poisonRate: DEFAULT_POISON_RATE[family], triggerSeed: 1000 + c.seed };
        if (family === 'source-specific') attack.source = (c.target + 3) % K;
        const original = v.domain === 'mnist' && ORIGINAL_FAMILIES.includes(family) && c.split === 'tuning';
        const name = original ? `${c.arch}-${family}-t${c.target}` : `${v.prefix}${c.arch}-${family}-t${c.target}-s${c.seed}`;
        entries.push({ name, domain: v.domain, arch: c.arch, head: v.heads(c.arch, c.seed), seed: c.seed, split: c.split, attack });
      }
    });
  });
  return entries;
}

/** Zoo models committed as examples and test fixtures (small, one per kind the tests need). */
export const EXAMPLE_MODELS = ['bn-cnn-clean-s1', 'bn-cnn-badnets-t6', 'cnn-clean-s1', 'cnn-blended-t4'] as const;

/**
 * The order to train and scan the benchmark in, so that a partial run is still balanced: the
 * tuning split first, then the test split round-robin over domains, each domain alternating
 * clean and backdoored models (the costly 43-class models last within each round).
 */
export function benchmarkOrder<T extends Pick<ZooEntry, 'name' | 'domain' | 'split'> & { arch: string; attack?: unknown }>(entries: T[]): T[] {
  const ordered = (['tuning', 'test'] as const).flatMap((split) =>
    roundRobin(
      DOMAIN_ROUND.map((d) => {
        const mine = entries.filter((e) => e.split === split && e.domain === d);
        // Clean models round-robin over architectures, so unseen ones come early too.
        const clean = roundRobin([...groupBy(mine.filter((e) => !e.attack), (e) => e.arch).values()]);
        return roundRobin([clean, mine.filter((e) => e.attack)]);
      }),
    ),
  );
  const rank = new Map(ordered.map((e, i) => [e.name, i]));
  return [...entries].sort((a, b) => (rank.get(a.name) ?? Infinity) - (rank.get(b.name) ?? Infinity));
}

/** The first of each list, then the second of each, and so on. */
function roundRobin<T>(lists: T[][]): T[] {
  const out: T[] = [];
  for (let i = 0; lists.some((l) => l.length > i); i++) for (const l of lists) if (i < l.length) out.push(l[i]);
  return out;
}

function groupBy<T>(xs: T[], key: (x: T) => string): Map<string, T[]> {
  const groups = new Map<string, T[]>();
  for (const x of xs) groups.set(key(x), [...(groups.get(key(x)) ?? []), x]);
  return groups;
}

const DOMAIN_ROUND: DomainName[] = ['mnist', 'signs10', 'surface', 'surface-multi', 'signs43'];
