// Child-process check for big models: a long synchronous gradient would block the test
// runner's worker (and its RPC), so the test spawns this and reads one JSON line.
//   node --import tsx test/helpers/input-gradient-check.ts <backend> <model dir>
import * as tf from '@tensorflow/tfjs';
import { selectBackend, type BackendChoice } from '../../src/engine/backend.js';
import { MemoryLogger } from '../../src/logger.js';
import { LayersModelAdapter, toModelInput } from '../../src/model/adapter.js';
import { loadModel } from '../../src/model/load.js';

const [backend, dir] = process.argv.slice(2);
await selectBackend({ choice: backend as BackendChoice, logger: new MemoryLogger() });
const { model, source } = await loadModel(dir);
const [h, w, c] = model.inputShape;
const x = tf.randomUniform([1, h, w, c], 0, 1, 'float32', 5) as tf.Tensor4D;
const probs = Array.from(tf.softmax(model.logits(x)).dataSync());
// The reference: the untouched network's own output (its softmax included), run by tfjs directly;
// for a graph model, as the converter wrote it (the adapter splits its fused ops).
const untouched =
  model instanceof LayersModelAdapter
    ? model.model
    : source.format === 'graph-model'
      ? await tf.loadGraphModel({ load: async () => source.artifacts })
      : undefined;
const raw = untouched?.predict(toModelInput(x, model.inputSpec)) as tf.Tensor | undefined;
const reference = raw ? Array.from(raw.dataSync()) : [];
const t0 = performance.now();
const grad = tf.grad((input: tf.Tensor) => tf.max(model.logits(input as tf.Tensor4D), -1).sum())(x);
const gradientSeconds = (performance.now() - t0) / 1000;
console.log(
  JSON.stringify({
    backend: tf.getBackend(),
    format: source.format,
    inputShape: model.inputShape,
    numClasses: model.numClasses,
    endsInSoftmax: model.endsInSoftmax,
    structure: model.structure,
    maxProbabilityDiff: Math.max(...probs.map((p, i) => Math.abs(p - reference[i]))),
    referenceLength: reference.length,
    gradientShape: grad.shape,
    gradientNorm: tf.norm(grad).dataSync()[0],
    gradientSeconds,
  }),
);
