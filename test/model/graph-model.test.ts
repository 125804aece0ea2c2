// The graph-model fixture writer (scripts/fixtures/graph-model.ts) against its source: a layers
// model with every layer kind it writes, run by tfjs-layers, is the reference for what the gate
// reads back through the graph executor: the same probabilities and the same input gradients.
// The gate splits fused ops on load (src/model/graph-unfuse.ts); tfjs' own fused kernels on the
// untouched graph are the reference for every activation the converter fuses.
import * as tf from '@tensorflow/tfjs';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { unfuseGraphNodes, type GraphNode } from '../../src/model/graph-unfuse.js';
import { loadModel } from '../../src/model/load.js';
import { toGraphModel, writeGraphModel } from '../../scripts/fixtures/graph-model.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'graph-model-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function residualModel(): tf.LayersModel {
  let seed = 1;
  const init = () => tf.initializers.heNormal({ seed: seed++ });
  const input = tf.input({ shape: [16, 16, 1] });
  const stem = tf.layers
    .conv2d({ filters: 4, kernelSize: 3, padding: 'same', activation: 'relu', kernelInitializer: init() })
    .apply(input) as tf.SymbolicTensor;
  const shortcut = tf.layers.conv2d({ filters: 8, kernelSize: 1, strides: 2, padding: 'same', kernelInitializer: init() }).apply(stem) as tf.SymbolicTensor;
  const depthwise = tf.layers
    .depthwiseConv2d({ kernelSize: 3, padding: 'same', useBias: false, depthwiseInitializer: init() })
    .apply(stem) as tf.SymbolicTensor;
  const pointwise = tf.layers.conv2d({ filters: 8, kernelSize: 1, activation: 'relu', kernelInitializer: init() }).apply(depthwise) as tf.SymbolicTensor;
  const pooled = tf.layers.maxPooling2d({ poolSize: 3, strides: 2, padding: 'same' }).apply(pointwise) as tf.SymbolicTensor;
  const sum = tf.layers.add().apply([pooled, shortcut]) as tf.SymbolicTensor;
  const gap = tf.layers.globalAveragePooling2d({}).apply(sum) as tf.SymbolicTensor;
  const dense = tf.layers.dense({ units: 5, activation: 'relu', kernelInitializer: init() }).apply(gap) as tf.SymbolicTensor;
  const out = tf.layers.dense({ units: 3, activation: 'softmax', kernelInitializer: init() }).apply(dense) as tf.SymbolicTensor;
  return tf.model({ inputs: input, outputs: out });
}

function sequentialModel(): tf.LayersModel {
  const model = tf.sequential();
  model.add(
    tf.layers.conv2d({
      inputShape: [12, 12, 3],
      filters: 6,
      kernelSize: 3,
      strides: 2,
      activation: 'relu',
      kernelInitializer: tf.initializers.heNormal({ seed: 7 }),
    }),
  );
  model.add(tf.layers.maxPooling2d({ poolSize: 2 }));
  model.add(tf.layers.flatten());
  model.add(tf.layers.dense({ units: 4, kernelInitializer: tf.initializers.heNormal({ seed: 8 }) }));
  return model;
}

describe('graph-model fixture writer', () => {
  it.each([
    ['functional: depthwise, residual add, same-padded pool, global average pool, softmax', residualModel, 3],
    ['sequential: strided valid conv, flatten, linear logits', sequentialModel, 4],
  ] as const)('%s', async (_, make, classes) => {
    const source = make();
    const out = path.join(dir, String(classes));
    writeGraphModel(source, out);
    const { model } = await loadModel(out);
    expect(model.format).toBe('graph-model');
    expect(model.numClasses).toBe(classes);
    // The functional model has a residual add and a depthwise convolution; the sequential one neither.
    expect(model.structure).toEqual({ residual: classes === 3, depthwise: classes === 3 });
    const shape = source.inputs[0].shape.slice(1) as number[];
    const x = tf.randomUniform([6, shape[0], shape[1], shape[2]], 0, 1, 'float32', 3) as tf.Tensor4D;
    const reference = source.predict(x) as tf.Tensor2D;
    const read = model.logits(x);
    // Probabilities for the softmax model, logits for the linear one: both fix the class scores.
    const [want, got] = classes === 3 ? [reference, tf.softmax(read)] : [reference, read];
    expect(tf.max(tf.abs(tf.sub(want, got))).dataSync()[0]).toBeLessThan(1e-4);
    // Input gradients of one class's score (log-probability, or the logit of the linear model)
    // through tfjs-layers and through the graph executor.
    const score = (f: (t: tf.Tensor4D) => tf.Tensor2D) => (t: tf.Tensor) => tf.sum(tf.slice(f(t as tf.Tensor4D), [0, 1], [-1, 1]));
    const [fromLayers, fromGraph] =
      classes === 3
        ? [(t: tf.Tensor4D) => tf.log(source.predict(t) as tf.Tensor2D), (t: tf.Tensor4D) => tf.logSoftmax(model.logits(t))]
        : [(t: tf.Tensor4D) => source.predict(t) as tf.Tensor2D, (t: tf.Tensor4D) => model.logits(t)];
    const gLayers = tf.grad(score(fromLayers))(x);
    const gGraph = tf.grad(score(fromGraph))(x);
    const scale = tf.max(tf.abs(gLayers)).dataSync()[0];
    expect(scale).toBeGreaterThan(0);
    expect(tf.max(tf.abs(tf.sub(gLayers, gGraph))).dataSync()[0] / scale).toBeLessThan(1e-3);
    model.dispose();
  });
});

describe('fused graph ops split on load', () => {
  it('compute what tfjs computes on the fused graph, for each fused activation, and keep other fusions', async () => {
    const { modelJson, weights } = toGraphModel(residualModel());
    const json = modelJson as { modelTopology: { node: Array<{ op: string; attr: Record<string, unknown> }> } };
    const b64 = (s: string) => Buffer.from(s).toString('base64');
    const activations = ['Relu6', 'Elu', 'LeakyRelu', 'Sigmoid', 'Relu'];
    const fusedNodes = json.modelTopology.node.filter((n) => n.op.startsWith('_Fused'));
    fusedNodes.forEach((n, i) => {
      const act = activations[i % activations.length];
      n.attr.fused_ops = { list: { s: [b64('BiasAdd'), b64(act)] } };
      if (act === 'LeakyRelu') n.attr.leakyrelu_alpha = { f: 0.3 };
    });
    const out = path.join(dir, 'activations');
    mkdirSync(out, { recursive: true });
    writeFileSync(path.join(out, 'model.json'), JSON.stringify(json));
    writeFileSync(path.join(out, 'group1-shard1of1.bin'), weights);
    const { model, source } = await loadModel(out);
    const reference = await tf.loadGraphModel({ load: async () => (source as { artifacts: tf.io.ModelArtifacts }).artifacts });
    const x = tf.randomUniform([4, 16, 16, 1], 0, 1, 'float32', 9) as tf.Tensor4D;
    const want = reference.predict(x) as tf.Tensor2D;
    expect(tf.max(tf.abs(tf.sub(want, tf.softmax(model.logits(x))))).dataSync()[0]).toBeLessThan(1e-4);
    // No fused op is left, and each fusion became base op → BiasAdd → activation.
    const split = unfuseGraphNodes(json.modelTopology.node as GraphNode[]);
    expect(split.filter((n) => n.op.startsWith('_Fused'))).toEqual([]);
    for (const act of activations)
      expect(split.filter((n) => n.op === act).length).toBe(fusedNodes.filter((_, i) => activations[i % activations.length] === act).length);
    // A fusion that is not bias + one unary activation (PReLU takes a second argument) is kept.
    const prelu = { name: 'p', op: '_FusedConv2D', input: ['x', 'w', 'b', 'alpha'], attr: { fused_ops: { list: { s: [b64('BiasAdd'), b64('Prelu')] } } } };
    expect(unfuseGraphNodes([prelu])).toEqual([prelu]);
    model.dispose();
  });
});
