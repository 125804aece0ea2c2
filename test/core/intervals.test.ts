// The accuracy-cost interval checked against known truth: paired right/wrong outcomes drawn from
// fixed probabilities, whose true accuracy drop is P(right then wrong) − P(wrong then right).
import { describe, expect, it } from 'vitest';
import { pairedCounts, pairedDifferenceInterval, wilson } from '../../src/core/intervals.js';
import { mulberry32 } from '../../src/util/random.js';

/** Draws n paired outcomes with probabilities [both right, right then wrong, wrong then right, both wrong]. */
function draw(n: number, p: [number, number, number, number], rand: () => number) {
  const before: boolean[] = [];
  const after: boolean[] = [];
  for (let i = 0; i < n; i++) {
    const u = rand();
    const cell = u < p[0] ? 0 : u < p[0] + p[1] ? 1 : u < p[0] + p[1] + p[2] ? 2 : 3;
    before.push(cell < 2);
    after.push(cell === 0 || cell === 2);
  }
  return pairedCounts(before, after);
}

describe('the paired interval of an accuracy drop (Newcombe, method 10)', () => {
  it.each([
    ['a small real drop', [0.9, 0.03, 0.01, 0.06]],
    ['no drop, few changes', [0.85, 0.01, 0.01, 0.13]],
    ['many changes both ways', [0.6, 0.1, 0.05, 0.25]],
    ['a large drop', [0.7, 0.2, 0.0, 0.1]],
  ] as Array<[string, [number, number, number, number]]>)('covers the true drop at least about 95 %% of the time on 120 images: %s', (_, p) => {
    const rand = mulberry32(7);
    const truth = p[1] - p[2];
    const draws = 4000;
    let covered = 0;
    let width = 0;
    for (let k = 0; k < draws; k++) {
      const [lo, hi] = pairedDifferenceInterval(draw(120, p, rand));
      if (lo <= truth && truth <= hi) covered++;
      width += hi - lo;
    }
    console.log(`p = ${p.join(', ')}: coverage ${((100 * covered) / draws).toFixed(1)} %, mean width ${((100 * width) / draws).toFixed(1)} points`);
    // Method 10 is conservative where changes are rare; it must not cover less than nominal.
    expect(covered / draws).toBeGreaterThan(0.93);
  });

  it('is narrower than treating the two accuracies as independent, when most images are answered alike', () => {
    const t = { bothRight: 100, rightThenWrong: 3, wrongThenRight: 1, bothWrong: 16 };
    const [lo, hi] = pairedDifferenceInterval(t);
    // Independent samples: the two Wilson intervals combined without the correlation (Newcombe's method for unpaired data).
    const [l1, u1] = wilson(103, 120);
    const [l2, u2] = wilson(101, 120);
    const d = 2 / 120;
    const unpaired = [d - Math.hypot(103 / 120 - l1, u2 - 101 / 120), d + Math.hypot(u1 - 103 / 120, 101 / 120 - l2)];
    expect(lo).toBeLessThan(d);
    expect(hi).toBeGreaterThan(d);
    expect(hi - lo).toBeLessThan((unpaired[1] - unpaired[0]) / 2);
  });

  it('counts the table from the two right/wrong vectors', () => {
    expect(pairedCounts([true, true, false, false, true], [true, false, true, false, true])).toEqual({
      bothRight: 2,
      rightThenWrong: 1,
      wrongThenRight: 1,
      bothWrong: 1,
    });
  });
});
