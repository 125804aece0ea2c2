// Loads a model spec (directory, model.json or .onnx path, dual-encoder directory, or http(s) URL)
// into a ModelUnderTest.
import * as tf from '@tensorflow/tfjs';
import { InputError } from '../errors.js';
import { unfuseGraphNodes, type GraphNode } from './graph-unfuse.js';
import { GraphModelAdapter, LayersModelAdapter, type ModelUnderTest } from './adapter.js';
import { DEFAULT_GATE_JSON, readGateJson, type GateJson } from './gate-json.js';
import { DEFAULT_LIMITS, type ResourceLimits } from './limits.js';
import { readModel, type ModelArtifactsRead } from './source.js';
import { OnnxModelAdapter } from './onnx/adapter.js';
import { DualEncoderModel } from './dual/adapter.js';
import { DEFAULT_DUAL_INPUT } from './dual/manifest.js';
import { layersTower, onnxTower, type Tower } from './dual/tower.js';

export interface LoadedModel {
  model: ModelUnderTest;
  source: ModelArtifactsRead;
  gate: { spec: GateJson; found: boolean; file?: string };
}

/** tfjs errors are multi-line and name internals; keep the first line. */
const firstLine = (err: unknown) => (err instanceof Error ? err.message : String(err)).split('\n')[0];

async function layersModel(source: ModelArtifactsRead & { artifacts: tf.io.ModelArtifacts }): Promise<tf.LayersModel> {
  try {
    return await tf.loadLayersModel({ load: async () => source.artifacts });
  } catch (err) {
    throw new InputError(source.modelFile, `tfjs could not build the layers model: ${firstLine(err)}`);
  }
}

/** Builds what `source` holds; `gate` says how its images are read. */
async function buildModel(source: ModelArtifactsRead, gate: GateJson, limits: ResourceLimits): Promise<ModelUnderTest> {
  switch (source.format) {
    case 'onnx':
      return new OnnxModelAdapter(source.onnx, gate, source.modelFile, { maxElements: limits.maxTensorElements, external: source.external });
    case 'layers-model':
      return new LayersModelAdapter(await layersModel(source), gate, source.modelFile);
    case 'graph-model': {
      const topology = source.artifacts.modelTopology as { node?: GraphNode[] };
      const unfused = { ...topology, node: unfuseGraphNodes(topology.node ?? []) };
      let graph: tf.GraphModel;
      try {
        graph = await tf.loadGraphModel({ load: async () => ({ ...source.artifacts, modelTopology: unfused }) });
      } catch (err) {
        throw new InputError(source.modelFile, `tfjs could not build the graph model: ${firstLine(err)}`);
      }
      return new GraphModelAdapter(graph, unfused, gate, source.modelFile);
    }
    case 'dual-encoder': {
      const d = source.dual;
      if (d.image.format !== 'onnx' && d.manifest.input?.layout === 'NCHW')
        throw new InputError(source.modelFile, 'input.layout NCHW applies to ONNX image encoders; tfjs models take NHWC images');
      // Parts built so far are freed if a later one (or the checks across them) fails.
      const built: Array<{ dispose(): void }> = [];
      const keep = <T extends { dispose(): void } | undefined>(part: T): T => (part && built.push(part), part);
      try {
        const image = keep(await buildModel(d.image, { input: d.manifest.input ?? DEFAULT_DUAL_INPUT }, limits));
        const tower = async (read?: ModelArtifactsRead): Promise<Tower | undefined> => {
          if (read?.format === 'layers-model') return keep(layersTower(await layersModel(read), read.modelFile));
          if (read?.format === 'onnx') return keep(onnxTower(read.onnx, read.modelFile, { maxElements: limits.maxTensorElements, external: read.external }));
          return undefined;
        };
        const text = await tower(d.text);
        const metaNet = await tower(d.metaNet);
        return new DualEncoderModel({
          manifest: d.manifest,
          file: source.modelFile,
          image,
          text,
          metaNet,
          tokenEmbedding: d.tokenEmbedding,
          context: d.context,
          classEmbeddings: d.classEmbeddings,
        });
      } catch (err) {
        built.forEach((m) => m.dispose());
        throw err;
      }
    }
  }
}

export async function loadModel(spec: string, limits: ResourceLimits = DEFAULT_LIMITS): Promise<LoadedModel> {
  const source = await readModel(spec, limits);
  if (source.format === 'dual-encoder') {
    // The manifest carries the input convention and class names; gate.json is not read.
    const gateSpec: GateJson = { input: source.dual.manifest.input ?? DEFAULT_DUAL_INPUT, classes: source.dual.manifest.classes };
    return { model: await buildModel(source, gateSpec, limits), source, gate: { spec: gateSpec, found: false } };
  }
  const gate = source.directory ? readGateJson(source.directory) : { spec: DEFAULT_GATE_JSON, found: false };
  if (source.format !== 'onnx' && gate.spec.input.layout === 'NCHW') {
    throw new InputError(gate.found && 'file' in gate ? gate.file : source.modelFile, 'input.layout NCHW applies to ONNX models; tfjs models take NHWC images');
  }
  return { model: await buildModel(source, gate.spec, limits), source, gate };
}
