// What `npm run eval:clean` cleans with and measures by, shared with the cleaning experiments
// (scripts/experiments/): the defender's labelled clean set is 5 % of the model's training size
// (at least MIN_IMAGES_PER_CLASS per class), drawn from the held-out images after the eval's 256
// probes; accuracy and the true trigger's ASR are measured on the domain's test split.
import { readFileSync } from 'node:fs';
import type * as tf from '@tensorflow/tfjs';
import { joinLabelled, MIN_IMAGES_PER_CLASS } from '../src/clean/pipeline.js';
import { perClassSubset, predict } from '../src/clean/training.js';
import { sliceImages, type LabelledImageSet } from '../src/data/types.js';
import type { ModelUnderTest } from '../src/model/adapter.js';
import type { Head } from '../src/zoo/architectures.js';
import type { AttackSpec } from '../src/zoo/attacks.js';
import { domain, type Domain, type DomainName, type TaskData } from '../src/zoo/domains.js';
import { accuracy, attackSuccessRate, predictClasses } from '../src/zoo/train.js';

/** Probes the eval scans with: the first 256 held-out images. The labelled set starts after them. */
export const EVAL_PROBES = 256;
export const LABELLED_SHARE = 0.05;
/** The benchmark's re-tune after cleaning: does the backdoor come back? */
export const RETUNE = { epochs: 1, batchSize: 32, learningRate: 0.002, seed: 0 };

/** The labelled clean set for a domain. */
export function evalLabelledSet(d: Domain): { set: LabelledImageSet; perClass: number; percentOfTraining: number } {
  const trainSize = d.split('train').count;
  const perClass = Math.max(MIN_IMAGES_PER_CLASS, Math.floor((LABELLED_SHARE * trainSize) / d.outputs));
  const held = d.split('heldout');
  const set = perClassSubset(sliceImages(held, EVAL_PROBES, held.count), perClass);
  if (set.count < perClass * d.outputs) throw new Error(`${d.name}: the held-out pool has fewer than ${perClass} images of some class`);
  return { set, perClass, percentOfTraining: (100 * set.count) / trainSize };
}

/** Accuracy on the test split, and the true trigger's ASR there (null for a clean model). */
export function testAccuracyAndAsr(
  model: tf.LayersModel,
  test: TaskData,
  card: { outputs: number; attack?: AttackSpec | null },
): { accuracy: number; asr: number | null } {
  return {
    accuracy: accuracy(predictClasses(model, test.x, test.count, test.height, test.width, test.channels), test.labels),
    asr: card.attack ? attackSuccessRate(model, test, card.attack, card.outputs) : null,
  };
}

export interface EvalCleaningSet {
  card: { domain: DomainName; head: Head; outputs: number; attack?: AttackSpec | null };
  test: TaskData;
  labelled: LabelledImageSet;
  /** The labelled images (the first `share` of each class's) and the probes labelled by `model`. */
  cleaningSet(model: ModelUnderTest, share?: number): LabelledImageSet;
}

/** A zoo model's card, test split, labelled set and cleaning set, for the cleaning experiments. */
export function evalCleaningSet(name: string): EvalCleaningSet {
  const card = JSON.parse(readFileSync(`zoo/${name}/zoo-card.json`, 'utf8')) as EvalCleaningSet['card'];
  const d = domain(card.domain);
  const { set: labelled, perClass } = evalLabelledSet(d);
  const probes = sliceImages(d.split('heldout'), 0, EVAL_PROBES);
  return {
    card,
    test: d.split('test'),
    labelled,
    cleaningSet: (model, share = 1) => joinLabelled(perClassSubset(labelled, Math.floor(perClass * share)), { ...probes, labels: predict(model, probes) }),
  };
}
