// Loads a model spec (directory, model.json path or http(s) URL) into a ModelUnderTest.
import * as tf from '@tensorflow/tfjs';
import { InputError } from '../errors.js';
import { GraphModelAdapter, LayersModelAdapter, type ModelUnderTest } from './adapter.js';
import { DEFAULT_GATE_JSON, readGateJson, type GateJson } from './gate-json.js';
import { DEFAULT_LIMITS, type ResourceLimits } from './limits.js';
import { readModel, type ModelArtifactsRead } from './read.js';

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
  const handler: tf.io.IOHandler = { load: async () => source.artifacts };
  let model: ModelUnderTest;
  if (source.format === 'layers-model') {
    let layers: tf.LayersModel;
    try {
      layers = await tf.loadLayersModel(handler);
    } catch (err) {
      throw new InputError(source.modelJson, `tfjs could not build the layers model: ${firstLine(err)}`);
    }
    model = new LayersModelAdapter(layers, gate.spec, source.modelJson);
  } else {
    let graph: tf.GraphModel;
    try {
      graph = await tf.loadGraphModel(handler);
    } catch (err) {
      throw new InputError(source.modelJson, `tfjs could not build the graph model: ${firstLine(err)}`);
    }
    model = new GraphModelAdapter(graph, source.artifacts.modelTopology as object, gate.spec, source.modelJson);
  }
  return { model, source, gate };
}
