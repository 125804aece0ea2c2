// The network structure the report names and the verdict cautions on, read from each format's
// graph, against networks whose structure is known by construction: the zoo's architectures
// (src/zoo/architectures.ts), the PyTorch exports (a BasicBlock ResNet, a ViT's residual stream,
// a plain CNN: scripts/fixtures; a graph model of depthwise blocks with shortcuts), and nsfwjs' published MobileNetV2 and InceptionV3 (in
// test/model/nsfwjs.test.ts, which loads them).
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { selectBackend } from '../../src/engine/backend.js';
import { MemoryLogger } from '../../src/logger.js';
import { LayersModelAdapter } from '../../src/model/adapter.js';
import { DEFAULT_GATE_JSON } from '../../src/model/gate-json.js';
import { loadModel } from '../../src/model/load.js';
import { buildClassifier } from '../../src/zoo/architectures.js';

const plain = { residual: false, depthwise: false };

describe('network structure', () => {
  beforeAll(async () => {
    await selectBackend({ choice: 'cpu', logger: new MemoryLogger() });
  });

  it.each([
    ['cnn', plain],
    ['bn-cnn', plain],
    ['mlp', plain],
    ['resnet', { residual: true, depthwise: false }],
    ['dwsep', { residual: false, depthwise: true }],
    ['invres', { residual: true, depthwise: true }],
  ] as const)('tfjs layers: the zoo %s', (arch, expected) => {
    const model = new LayersModelAdapter(buildClassifier(arch, 1), DEFAULT_GATE_JSON, arch);
    expect(model.structure).toEqual(expected);
    model.dispose();
  });

  it.each([
    ['cnn-mnist', plain],
    ['resnet-mnist', { residual: true, depthwise: false }],
    ['vit-mnist', { residual: true, depthwise: false }],
  ] as const)('ONNX: the PyTorch export %s', async (name, expected) => {
    const { model } = await loadModel(path.resolve('test/fixtures/onnx', name));
    expect(model.structure).toEqual(expected);
    model.dispose();
  });

  it('tfjs graph: the 64-px fixture, built of depthwise blocks with shortcut adds (scripts/fixtures/make-graph-fixtures.ts)', async () => {
    const { model } = await loadModel(path.resolve('test/fixtures/graph/cnn64-clean'));
    expect(model.format).toBe('graph-model');
    expect(model.structure).toEqual({ residual: true, depthwise: true });
    model.dispose();
  });
});
