// Pair poisoning for the dual-encoder benchmark, checked against the trigger applied image by image.
import { describe, expect, it } from 'vitest';
import { domain } from '../../src/zoo/domains.js';
import { makeTrigger } from '../../src/zoo/attacks.js';
import { poisonPairs } from '../../src/zoo/dual.js';

describe('poisonPairs', () => {
  const set = domain('signs10').split('heldout');
  const trigger = makeTrigger({ family: 'badnets', triggerSeed: 1 });
  const n = set.height * set.width * set.channels;

  it('stamps exactly the given share of non-target images and captions them as the target, leaving the rest and the input as they were', () => {
    const before = set.x.slice();
    const out = poisonPairs(set, trigger, 4, 0.1, 3);
    expect(set.x).toEqual(before);
    const changed = [...Array(set.count).keys()].filter((i) => out.labels[i] !== set.labels[i] || out.x.subarray(i * n, (i + 1) * n).some((v, k) => v !== set.x[i * n + k]));
    expect(changed.length).toBe(Math.round(0.1 * set.count));
    for (const i of changed) {
      expect(set.labels[i]).not.toBe(4);
      expect(out.labels[i]).toBe(4);
      const expected = trigger(set.x.subarray(i * n, (i + 1) * n), set.height, set.width, set.channels);
      expect(Array.from(out.x.subarray(i * n, (i + 1) * n))).toEqual(Array.from(expected));
    }
    // Another seed draws other images.
    const other = poisonPairs(set, trigger, 4, 0.1, 4);
    expect([...Array(set.count).keys()].filter((i) => other.labels[i] !== set.labels[i])).not.toEqual(changed);
  });
});
