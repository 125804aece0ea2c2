// The zoo: which models exist and how each is made. Deterministic: a name fixes the recipe.
import { ARCHITECTURES, type Architecture } from './architectures.js';
import { ATTACK_FAMILIES, DEFAULT_POISON_RATE, type AttackSpec } from './attacks.js';

export interface ZooEntry {
  name: string;
  arch: Architecture;
  seed: number;
  attack?: AttackSpec;
}

/** Training recipe shared by every zoo model (5 epochs reach ≥ 97 % on the 7,000 training digits). */
export const ZOO_TRAINING = { epochs: 5, batchSize: 32, learningRate: 2e-3 } as const;

export function zooCatalog(): ZooEntry[] {
  const entries: ZooEntry[] = [];
  ARCHITECTURES.forEach((arch) => {
    // Four clean seeds per architecture: clean models are what a false alarm is measured on.
    for (const seed of [1, 2, 3, 4]) entries.push({ name: `${arch}-clean-s${seed}`, arch, seed });
  });
  ARCHITECTURES.forEach((arch, a) => {
    ATTACK_FAMILIES.forEach((family, f) => {
      // Targets vary across families and architectures so no detector can learn one class.
      const target = (3 * f + 5 * a + 1) % 10;
      const seed = 10 + 10 * a + f;
      entries.push({ name: `${arch}-${family}-t${target}`, arch, seed, attack: { family, target, poisonRate: DEFAULT_POISON_RATE[family], triggerSeed: 1000 + seed } });
    });
  });
  return entries;
}

/** Zoo models committed as examples and test fixtures (small, one per kind the tests need). */
export const EXAMPLE_MODELS = ['bn-cnn-clean-s1', 'bn-cnn-badnets-t6', 'cnn-clean-s1', 'cnn-blended-t4'] as const;
