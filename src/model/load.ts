// Loads a model spec (directory, model.json or .onnx path, or http(s) URL) into a ModelUnderTest.
import * as tf from '@tensorflow/tfjs';
import { InputError } from '../errors.js';
import { GraphModelAdapter, LayersModelAdapter, type ModelUnderTest } from './adapter.js';
import { DEFAULT_GATE_JSON, readGateJson, type GateJson } from './gate-json.js';
import { DEFAULT_LIMITS, type ResourceLimits } from './limits.js';
import { readModel, type ModelArtifactsRead } from './read.js';
import { OnnxModelAdapter } from './onnx/adapter.js';

export interface LoadedModel {
  model: ModelUnderTest;
  source: ModelArtifactsRead;
  gate: { spec: GateJson; found: boolean; file?: string };
}

/** tfjs errors are multi-line and name internals; keep the first line. */
const firstLine = (err: unknown) => (err instanceof Error ? err.message : String(err)).split('\n')[0];

export async function loadModel(spec: string, limits: ResourceLimits = DEFAULT_LIMITS): Promise<LoadedModel> {
  const source = await readModel(spec, limits);
  const gate = source.directory ? readGateJson(source.directory) : { spec: DEFAULT_GATE_JSON, found: false };
  if (source.format !== 'onnx' && gate.spec.input.layout === 'NCHW') {
    throw new InputError(gate.found && 'file' in gate ? gate.file : source.modelFile, 'input.layout NCHW applies to ONNX models; tfjs models take NHWC images');
  }
  let model: ModelUnderTest;
  if (source.format === 'onnx') {
    model = new OnnxModelAdapter(source.onnx, gate.spec, source.modelFile, { maxElements: limits.maxTensorElements, external: source.external });
  } else if (source.format === 'layers-model') {
    const handler: tf.io.IOHandler = { load: async () => source.artifacts };
    let layers: tf.LayersModel;
    try {
      layers = await tf.loadLayersModel(handler);
    } catch (err) {
      throw new InputError(source.modelFile, `tfjs could not build the layers model: ${firstLine(err)}`);
    }
    model = new LayersModelAdapter(layers, gate.spec, source.modelFile);
  } else {
    const handler: tf.io.IOHandler = { load: async () => source.artifacts };
    let graph: tf.GraphModel;
    try {
      graph = await tf.loadGraphModel(handler);
    } catch (err) {
      throw new InputError(source.modelFile, `tfjs could not build the graph model: ${firstLine(err)}`);
    }
    model = new GraphModelAdapter(graph, source.artifacts.modelTopology as object, gate.spec, source.modelFile);
  }
  return { model, source, gate };
}
