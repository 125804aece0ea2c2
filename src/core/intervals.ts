// Confidence intervals for proportions measured on few images: the evaluation's rates and the
// accuracy a cleaning cost on the held-out images.

/** Wilson score interval of k successes in n (z = 1.96: two-sided 95 %; 1.645: one-sided 95 %). */
export function wilson(k: number, n: number, z = 1.96): [number, number] {
  if (n === 0) return [0, 1];
  const p = k / n;
  const d = 1 + (z * z) / n;
  const c = p + (z * z) / (2 * n);
  const h = z * Math.sqrt((p * (1 - p)) / n + (z * z) / (4 * n * n));
  return [Math.max(0, (c - h) / d), Math.min(1, (c + h) / d)];
}

/** The same images judged twice: right both times, right then wrong, wrong then right, wrong both times. */
export interface PairedCounts {
  bothRight: number;
  rightThenWrong: number;
  wrongThenRight: number;
  bothWrong: number;
}

/**
 * Interval for the accuracy lost between two paired measurements (before minus after), by
 * Newcombe's method 10 for paired proportions (Statistics in Medicine 17:2635–50, 1998): Wilson
 * intervals of the two accuracies, combined with their correlation φ. A plain Wilson interval of
 * the difference would ignore that most images are answered alike both times.
 */
export function pairedDifferenceInterval(t: PairedCounts, z = 1.96): [number, number] {
  const { bothRight: a, rightThenWrong: b, wrongThenRight: c, bothWrong: d } = t;
  const n = a + b + c + d;
  if (n === 0) return [-1, 1];
  const [p1, p2] = [(a + b) / n, (a + c) / n];
  const [l1, u1] = wilson(a + b, n, z);
  const [l2, u2] = wilson(a + c, n, z);
  const margins = (a + b) * (c + d) * (a + c) * (b + d);
  const phi = margins === 0 ? 0 : (a * d - b * c) / Math.sqrt(margins);
  const diff = p1 - p2;
  const below = Math.sqrt(Math.max(0, (p1 - l1) ** 2 - 2 * phi * (p1 - l1) * (u2 - p2) + (u2 - p2) ** 2));
  const above = Math.sqrt(Math.max(0, (u1 - p1) ** 2 - 2 * phi * (u1 - p1) * (p2 - l2) + (p2 - l2) ** 2));
  return [Math.max(-1, diff - below), Math.min(1, diff + above)];
}

/** The paired table of two right/wrong vectors over the same images. */
export function pairedCounts(before: readonly boolean[], after: readonly boolean[]): PairedCounts {
  const t = { bothRight: 0, rightThenWrong: 0, wrongThenRight: 0, bothWrong: 0 };
  before.forEach((r, i) => {
    if (r && after[i]) t.bothRight++;
    else if (r) t.rightThenWrong++;
    else if (after[i]) t.wrongThenRight++;
    else t.bothWrong++;
  });
  return t;
}
