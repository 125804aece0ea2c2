// Images travel through the gate as NHWC float32 in pixel space [0, 1]; the model adapter maps
// them to the model's own input range (gate.json) inside the differentiable graph.

export interface ImageSet {
  /** NHWC, values in [0, 1]. */
  x: Float32Array;
  count: number;
  height: number;
  width: number;
  channels: number;
  /** Where the images came from, for reports (e.g. "mnist:test", "synthetic:ood seed=1"). */
  source: string;
}

export interface LabelledImageSet extends ImageSet {
  labels: Int32Array;
}

export const imageSize = (s: Pick<ImageSet, 'height' | 'width' | 'channels'>) => s.height * s.width * s.channels;

/** A copy of the images at `indices` (and their labels, for a labelled set), in that order. */
export function pickImages<T extends ImageSet>(set: T, indices: readonly number[]): T {
  const n = imageSize(set);
  const x = new Float32Array(indices.length * n);
  indices.forEach((i, k) => x.set(set.x.subarray(i * n, (i + 1) * n), k * n));
  const out = { ...set, x, count: indices.length };
  if ('labels' in set) (out as unknown as LabelledImageSet).labels = Int32Array.from(indices, (i) => (set as unknown as LabelledImageSet).labels[i]);
  return out;
}

/** A copy of the labelled images whose label is not `target`: the ones a trigger can flip. */
export function withoutClass(set: LabelledImageSet, target: number): LabelledImageSet {
  return pickImages(
    set,
    [...Array(set.count).keys()].filter((i) => set.labels[i] !== target),
  );
}

/** The images of `a` then those of `b` (same image shape), as one unlabelled set. */
export function concatImages(a: ImageSet, b: ImageSet, source = `${a.source} + ${b.source}`): ImageSet {
  const x = new Float32Array(a.x.length + b.x.length);
  x.set(a.x);
  x.set(b.x, a.x.length);
  return { x, count: a.count + b.count, height: a.height, width: a.width, channels: a.channels, source };
}

/** A view of images [start, end) of a set (copies nothing). */
export function sliceImages<T extends ImageSet>(set: T, start: number, end: number): T {
  const n = imageSize(set);
  const out = { ...set, x: set.x.subarray(start * n, end * n), count: end - start };
  if ('labels' in set) (out as unknown as LabelledImageSet).labels = (set as unknown as LabelledImageSet).labels.subarray(start, end);
  return out;
}
