// The spectrum of a symmetric matrix and the eigenvector of its largest eigenvalue: what the
// input-Hessian scan reads. ml-matrix's full decomposition accumulates every eigenvector through
// the tridiagonalisation and the QL sweeps, about three quarters of its work; here the
// eigenvalues come from the same Householder reduction and implicit QL (JAMA's tred2 / tql2,
// which ml-matrix implements) without the accumulation, and the one eigenvector from inverse
// iteration on the original matrix with a Cholesky factor of (σI − A), σ just above λ₁.

export interface TopEigenpair {
  /** Every eigenvalue, largest first. */
  values: Float64Array;
  /** Unit eigenvector of values[0]. */
  vector: Float64Array;
}

/** `a`: n×n symmetric, row-major (only read). */
export function symmetricSpectrum(a: Float64Array, n: number): TopEigenpair {
  if (a.length !== n * n || n < 1) throw new Error(`symmetricSpectrum: expected ${n}×${n} values, got ${a.length}`);
  const values = tridiagonalEigenvalues(...householderTridiagonal(a, n));
  values.sort((p, q) => q - p);
  return { values, vector: topEigenvector(a, n, values[0], values.length > 1 ? values[1] : values[0]) };
}

/** Householder reduction to tridiagonal form (JAMA's tred2 without forming Q): diagonal d, sub-diagonal e (e[i] couples i−1 and i). */
function householderTridiagonal(a: Float64Array, n: number): [Float64Array, Float64Array] {
  const v = Float64Array.from(a);
  const d = new Float64Array(n);
  const e = new Float64Array(n);
  for (let j = 0; j < n; j++) d[j] = v[(n - 1) * n + j];
  for (let i = n - 1; i > 0; i--) {
    let scale = 0;
    let h = 0;
    for (let k = 0; k < i; k++) scale += Math.abs(d[k]);
    if (scale === 0) {
      e[i] = d[i - 1];
      for (let j = 0; j < i; j++) {
        d[j] = v[(i - 1) * n + j];
        v[i * n + j] = 0;
        v[j * n + i] = 0;
      }
    } else {
      for (let k = 0; k < i; k++) {
        d[k] /= scale;
        h += d[k] * d[k];
      }
      let f = d[i - 1];
      let g = Math.sqrt(h);
      if (f > 0) g = -g;
      e[i] = scale * g;
      h -= f * g;
      d[i - 1] = f - g;
      for (let j = 0; j < i; j++) e[j] = 0;
      // e ← A·u on the leading i×i block (lower triangle of v, row-major: v[k·n + j], k ≥ j).
      for (let j = 0; j < i; j++) {
        f = d[j];
        v[j * n + i] = f;
        g = e[j] + v[j * n + j] * f;
        for (let k = j + 1; k <= i - 1; k++) {
          g += v[k * n + j] * d[k];
          e[k] += v[k * n + j] * f;
        }
        e[j] = g;
      }
      f = 0;
      for (let j = 0; j < i; j++) {
        e[j] /= h;
        f += e[j] * d[j];
      }
      const hh = f / (h + h);
      for (let j = 0; j < i; j++) e[j] -= hh * d[j];
      for (let j = 0; j < i; j++) {
        f = d[j];
        g = e[j];
        for (let k = j; k <= i - 1; k++) v[k * n + j] -= f * e[k] + g * d[k];
        d[j] = v[(i - 1) * n + j];
        v[i * n + j] = 0;
      }
    }
    d[i] = h;
  }
  // The reduced matrix's diagonal is left on v's diagonal (the last element never changes).
  for (let i = 0; i < n; i++) d[i] = v[i * n + i];
  e[0] = 0;
  return [d, e];
}

/** Eigenvalues of the symmetric tridiagonal (d, e) by implicit QL (JAMA's tql2 without eigenvectors). Overwrites and returns d. */
function tridiagonalEigenvalues(d: Float64Array, e: Float64Array): Float64Array {
  const n = d.length;
  for (let i = 1; i < n; i++) e[i - 1] = e[i];
  e[n - 1] = 0;
  let f = 0;
  let tst1 = 0;
  const eps = 2 ** -52;
  for (let l = 0; l < n; l++) {
    tst1 = Math.max(tst1, Math.abs(d[l]) + Math.abs(e[l]));
    let m = l;
    while (m < n - 1 && Math.abs(e[m]) > eps * tst1) m++;
    if (m > l) {
      for (let iter = 0; ; iter++) {
        if (iter > 60 * n) throw new Error('symmetricSpectrum: the QL iteration did not converge');
        let g = d[l];
        let p = (d[l + 1] - g) / (2 * e[l]);
        let r = Math.hypot(p, 1);
        if (p < 0) r = -r;
        d[l] = e[l] / (p + r);
        d[l + 1] = e[l] * (p + r);
        const dl1 = d[l + 1];
        let h = g - d[l];
        for (let i = l + 2; i < n; i++) d[i] -= h;
        f += h;
        p = d[m];
        let c = 1;
        let c2 = c;
        let c3 = c;
        const el1 = e[l + 1];
        let s = 0;
        let s2 = 0;
        for (let i = m - 1; i >= l; i--) {
          c3 = c2;
          c2 = c;
          s2 = s;
          g = c * e[i];
          h = c * p;
          r = Math.hypot(p, e[i]);
          e[i + 1] = s * r;
          s = e[i] / r;
          c = p / r;
          p = c * d[i] - s * g;
          d[i + 1] = h + s * (c * g + s * d[i]);
        }
        p = (-s * s2 * c3 * el1 * e[l]) / dl1;
        e[l] = s * p;
        d[l] = c * p;
        if (!(Math.abs(e[l]) > eps * tst1)) break;
      }
    }
    d[l] += f;
    e[l] = 0;
  }
  return d;
}

/**
 * The unit eigenvector of λ₁ by inverse iteration: solves (σI − A)x = v with σ a little above λ₁,
 * so (σI − A) is positive definite and each solve shrinks every other direction by
 * (σ − λ₁)/(σ − λ₂). The shift grows if rounding makes the factorisation fail.
 */
function topEigenvector(a: Float64Array, n: number, l1: number, l2: number): Float64Array {
  const scale = Math.abs(l1) > 1e-300 ? Math.abs(l1) : 1;
  for (let shift = 1e-10; shift < 1; shift *= 100) {
    const L = choleskyOfShifted(a, n, l1 + shift * scale);
    if (!L) continue;
    // Start off any eigenvector's orthogonal complement by construction: all ones, slightly tilted.
    let x: Float64Array = Float64Array.from({ length: n }, (_, i) => 1 + i / n);
    const rounds = Math.abs(l1 - l2) > 1e-3 * scale ? 3 : 8;
    for (let round = 0; round < rounds; round++) {
      x = choleskySolve(L, n, x);
      let norm = 0;
      for (let i = 0; i < n; i++) norm += x[i] * x[i];
      norm = Math.sqrt(norm) || 1;
      for (let i = 0; i < n; i++) x[i] /= norm;
    }
    return x;
  }
  throw new Error('symmetricSpectrum: no positive-definite shift found for inverse iteration');
}

/** Lower Cholesky factor of σI − A (row-major), or null when it is not numerically positive definite. */
function choleskyOfShifted(a: Float64Array, n: number, sigma: number): Float64Array | null {
  const L = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j <= i; j++) {
      let sum = (i === j ? sigma : 0) - a[i * n + j];
      for (let k = 0; k < j; k++) sum -= L[i * n + k] * L[j * n + k];
      if (i === j) {
        if (!(sum > 0)) return null;
        L[i * n + i] = Math.sqrt(sum);
      } else {
        L[i * n + j] = sum / L[j * n + j];
      }
    }
  }
  return L;
}

function choleskySolve(L: Float64Array, n: number, b: Float64Array): Float64Array {
  const y = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let sum = b[i];
    for (let k = 0; k < i; k++) sum -= L[i * n + k] * y[k];
    y[i] = sum / L[i * n + i];
  }
  const x = new Float64Array(n);
  for (let i = n - 1; i >= 0; i--) {
    let sum = y[i];
    for (let k = i + 1; k < n; k++) sum -= L[k * n + i] * x[k];
    x[i] = sum / L[i * n + i];
  }
  return x;
}
