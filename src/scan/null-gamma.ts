// MM-BD's null: the largest of K per-class statistics is an outlier when a gamma distribution
// fitted to the other K − 1 makes it unlikely that the largest of K draws reaches it:
// p = 1 − F(r_max)^K. The paper fits shape, location and scale (scipy); with nine null values
// the location is poorly determined, so ours is fixed at 0 (the statistics are maximum margins,
// ≥ 0 whenever a class can be made to win) and shape and scale are maximum-likelihood. The few
// special functions are written out here rather than taken from @stdlib (over 200 packages for
// one CDF in a tool whose users audit its supply chain); they are tested against scipy's values.

/** ln Γ(x), x > 0 (Lanczos, g = 7, n = 9: ~15 significant digits). */
export function lnGamma(x: number): number {
  const c = [
    0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059, 12.507343278686905, -0.13857109526572012,
    9.9843695780195716e-6, 1.5056327351493116e-7,
  ];
  if (x < 0.5) return Math.log(Math.PI / Math.abs(Math.sin(Math.PI * x))) - lnGamma(1 - x);
  const z = x - 1;
  let a = c[0];
  const t = z + 7.5;
  for (let i = 1; i < 9; i++) a += c[i] / (z + i);
  return 0.5 * Math.log(2 * Math.PI) + (z + 0.5) * Math.log(t) - t + Math.log(a);
}

/** ψ(x) and ψ'(x), x > 0: recurrence up to x ≥ 6, then the asymptotic series. */
function digammas(x: number): [number, number] {
  let psi = 0;
  let tri = 0;
  while (x < 6) {
    psi -= 1 / x;
    tri += 1 / (x * x);
    x += 1;
  }
  const f = 1 / (x * x);
  psi += Math.log(x) - 0.5 / x - f * (1 / 12 - f * (1 / 120 - f * (1 / 252 - f * (1 / 240 - f / 132))));
  tri += 1 / x + f / 2 + (f / x) * (1 / 6 - f * (1 / 30 - f * (1 / 42 - f / 30)));
  return [psi, tri];
}

/** The regularised lower incomplete gamma P(a, x): the CDF of Gamma(shape a, scale 1) at x. */
export const gammaP = (a: number, x: number): number => 1 - gammaQ(a, x);

/**
 * The regularised upper incomplete gamma Q(a, x) = 1 − P(a, x), computed directly in the tail
 * (continued fraction) so that tiny tail probabilities keep their precision.
 */
export function gammaQ(a: number, x: number): number {
  if (x <= 0) return 1;
  const lnPrefix = a * Math.log(x) - x - lnGamma(a);
  if (x < a + 1) {
    // Series: P = e^{−x} x^a Σ x^n / Γ(a + n + 1).
    let term = 1 / a;
    let sum = term;
    for (let n = 1; n < 1000 && Math.abs(term) > Math.abs(sum) * 1e-16; n++) {
      term *= x / (a + n);
      sum += term;
    }
    return Math.max(0, 1 - sum * Math.exp(lnPrefix));
  }
  // Continued fraction for Q = 1 − P (modified Lentz).
  const tiny = 1e-300;
  let b = x + 1 - a;
  let c = 1 / tiny;
  let d = 1 / b;
  let h = d;
  for (let i = 1; i < 1000; i++) {
    const an = -i * (i - a);
    b += 2;
    d = an * d + b;
    if (Math.abs(d) < tiny) d = tiny;
    c = b + an / c;
    if (Math.abs(c) < tiny) c = tiny;
    d = 1 / d;
    const delta = d * c;
    h *= delta;
    if (Math.abs(delta - 1) < 1e-16) break;
  }
  return Math.min(1, Math.exp(lnPrefix) * h);
}

/** Maximum-likelihood Gamma(shape, scale) with location 0 (Newton on ln k − ψ(k) = ln mean − mean ln). */
export function fitGamma(values: readonly number[]): { shape: number; scale: number } {
  const mean = values.reduce((a, v) => a + v, 0) / values.length;
  const s = Math.log(mean) - values.reduce((a, v) => a + Math.log(v), 0) / values.length;
  // Equal values: a point mass, as a very peaked gamma.
  if (!(s > 1e-12)) return { shape: 1e12, scale: mean / 1e12 };
  let k = (3 - s + Math.sqrt((s - 3) ** 2 + 24 * s)) / (12 * s);
  for (let i = 0; i < 50; i++) {
    const [psi, tri] = digammas(k);
    const step = (Math.log(k) - psi - s) / (1 / k - tri);
    k = Math.max(k - step, k / 10);
    if (Math.abs(step) < 1e-12 * k) break;
  }
  return { shape: k, scale: mean / k };
}

export interface GammaOutlier {
  /** Index of the largest value. */
  index: number;
  /** P(the largest of K draws from the null reaches it). */
  pValue: number;
  shape: number;
  scale: number;
}

/**
 * The largest value tested against a gamma fitted to the others (values ≤ 0 are floored to a tiny
 * share of the largest). `classes` is the K of 1 − F^K: how many values the largest was picked
 * from (more than `values` when a many-class schedule screened some out).
 */
export function gammaOutlier(values: readonly number[], classes = values.length): GammaOutlier {
  if (values.length < 3) throw new Error('a gamma null needs at least three values');
  const index = values.reduce((a, v, i) => (v > values[a] ? i : a), 0);
  const top = values[index];
  const floor = Math.max(Math.abs(top), 1e-6) * 1e-6;
  const others = values.filter((_, i) => i !== index).map((v) => Math.max(v, floor));
  const { shape, scale } = fitGamma(others);
  // 1 − (1 − Q)^K without cancellation, so a far outlier's p stays a number, not 0.
  const tail = gammaQ(shape, Math.max(top, floor) / scale);
  return { index, pValue: -Math.expm1(classes * Math.log1p(-tail)), shape, scale };
}
