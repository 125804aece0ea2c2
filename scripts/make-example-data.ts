// Writes the bundled example data (uint8, NHW digits + int32 labels), so the action and CLI can
// scan and clean the example models without the mnist package:
// - examples/data/mnist-probe: 256 held-out MNIST digits (no zoo model trained on them), probes;
// - examples/data/mnist-clean: 600 held-out digits, 60 per class, the labelled set cleaning needs.
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { perClassSubset } from '../src/clean/training.js';
import { mnistSplit } from '../src/data/mnist.js';
import { writeNpy } from '../src/data/npy.js';
import { sliceImages, type LabelledImageSet } from '../src/data/types.js';

const heldout = mnistSplit('heldout');
function write(name: string, set: LabelledImageSet): void {
  const dir = path.resolve('examples', 'data', name);
  mkdirSync(dir, { recursive: true });
  writeNpy(
    path.join(dir, 'x.npy'),
    Uint8Array.from(set.x, (v) => Math.round(v * 255)),
    [set.count, 28, 28],
  );
  writeNpy(path.join(dir, 'y.npy'), Int32Array.from(set.labels), [set.count]);
  console.log(`wrote ${set.count} digits to ${dir}`);
}
write('mnist-probe', sliceImages(heldout, 0, 256));
write('mnist-clean', perClassSubset(heldout, 60));
