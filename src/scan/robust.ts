// Robust statistics shared by the scans.

export function median(values: readonly number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/**
 * MAD anomaly scores (v − median) / (1.4826 · MAD), as in Neural Cleanse. The MAD is floored so
 * that a handful of identical values cannot turn a tiny difference into a huge score.
 */
export function madScores(values: readonly number[], floor = 1e-3): number[] {
  const m = median(values);
  const mad = 1.4826 * median(values.map((v) => Math.abs(v - m)));
  const scale = Math.max(mad, floor);
  return values.map((v) => (v - m) / scale);
}
