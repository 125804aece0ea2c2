// The eval's cleaning data for a zoo model, as scripts/eval-clean.ts builds it, for the cleaning
// experiments: the domain's first 256 held-out images as probes, then a labelled set of 5 % of the
// training size from the held-out images after them; measured on the domain's test split.
import { readFileSync } from 'node:fs';
import { joinLabelled } from '../../src/clean/pipeline.js';
import { perClassSubset, predict } from '../../src/clean/training.js';
import { sliceImages, type LabelledImageSet } from '../../src/data/types.js';
import type { ModelUnderTest } from '../../src/model/adapter.js';
import type { Head } from '../../src/zoo/architectures.js';
import type { AttackSpec } from '../../src/zoo/attacks.js';
import { domain, type Domain, type DomainName } from '../../src/zoo/domains.js';

export interface EvalCleaningSet {
  card: { domain: DomainName; head: Head; outputs: number; attack?: AttackSpec };
  domain: Domain;
  test: LabelledImageSet;
  labelled: LabelledImageSet;
  perClass: number;
  /** The labelled images (the first `share` of each class's) and the probes labelled by `model`. */
  cleaningSet(model: ModelUnderTest, share?: number): LabelledImageSet;
}

export function evalCleaningSet(name: string): EvalCleaningSet {
  const card = JSON.parse(readFileSync(`zoo/${name}/zoo-card.json`, 'utf8')) as EvalCleaningSet['card'];
  const d = domain(card.domain);
  const held = d.split('heldout');
  const perClass = Math.max(10, Math.floor((0.05 * d.split('train').count) / d.outputs));
  const labelled = perClassSubset(sliceImages(held, 256, held.count), perClass);
  const probes = sliceImages(held, 0, 256);
  return {
    card,
    domain: d,
    test: d.split('test'),
    labelled,
    perClass,
    cleaningSet: (model, share = 1) => joinLabelled(perClassSubset(labelled, Math.floor(perClass * share)), { ...probes, labels: predict(model, probes) }),
  };
}
