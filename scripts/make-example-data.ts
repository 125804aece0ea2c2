// Writes examples/data/mnist-probe/{x,y}.npy: 256 held-out MNIST digits (uint8, NHW) that no zoo
// model trained on, so the action can scan the example models without the mnist package.
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { mnistSplit } from '../src/data/mnist.js';
import { writeNpy } from '../src/data/npy.js';

const count = 256;
const heldout = mnistSplit('heldout');
const dir = path.resolve('examples', 'data', 'mnist-probe');
mkdirSync(dir, { recursive: true });
writeNpy(path.join(dir, 'x.npy'), Uint8Array.from(heldout.x.subarray(0, count * 784), (v) => Math.round(v * 255)), [count, 28, 28]);
writeNpy(path.join(dir, 'y.npy'), Int32Array.from(heldout.labels.subarray(0, count)), [count]);
console.log(`wrote ${count} digits to ${dir}`);
