// A dual encoder's non-image parts (text encoder, meta-net) as one small interface, whether they
// come as tfjs layers models or ONNX graphs: a differentiable function of one float tensor, its
// trainable weights, and a writer in its own format.
import * as tf from '@tensorflow/tfjs';
import path from 'node:path';
import { InputError } from '../../errors.js';
import { writeOnnxWithWeights } from '../onnx/adapter.js';
import { OnnxOpError } from '../onnx/ops.js';
import { OnnxProgram, type ProgramOptions } from '../onnx/program.js';
import type { OnnxModel } from '../onnx/proto.js';
import { ONNX_FILE } from '../read.js';
import { directoryWriter } from '../save.js';

export interface Tower {
  /** Input and output shapes, batch axis first (null: unknown). */
  readonly inputShape: Array<number | null>;
  readonly outputShape: Array<number | null>;
  apply(x: tf.Tensor, training: boolean): tf.Tensor;
  variables(): tf.Variable[];
  /** Writes the tower into `dir`; returns the file it wrote, relative to `dir`. */
  save(dir: string, overwrite: boolean): Promise<string>;
  dispose(): void;
}

export function layersTower(model: tf.LayersModel, file: string): Tower {
  if (model.inputs.length !== 1 || model.outputs.length !== 1)
    throw new InputError(file, `has ${model.inputs.length} inputs and ${model.outputs.length} outputs; a text encoder or meta-net has one of each`);
  return {
    inputShape: model.inputs[0].shape,
    outputShape: model.outputs[0].shape,
    apply: (x, training) => model.apply(x, { training }) as tf.Tensor,
    variables: () => model.trainableWeights.map((w) => w.read() as tf.Variable),
    save: async (dir, overwrite) => {
      await model.save(directoryWriter(dir, { overwrite }));
      return 'model.json';
    },
    dispose: () => model.dispose(),
  };
}

export function onnxTower(onnx: OnnxModel, file: string, opts: ProgramOptions): Tower {
  const program = new OnnxProgram(onnx, file, opts);
  const { inputs, outputs } = program;
  if (inputs.length !== 1 || outputs.length !== 1) {
    program.dispose();
    throw new InputError(file, `ONNX graph has ${inputs.length} inputs and ${outputs.length} outputs; a text encoder or meta-net has one of each`);
  }
  return {
    inputShape: inputs[0].shape,
    outputShape: outputs[0].shape,
    apply: (x) => {
      try {
        return program.run({ [inputs[0].name]: x }, [outputs[0].name])[0];
      } catch (err) {
        if (err instanceof OnnxOpError) throw new InputError(file, `could not run: ${err.message}`);
        throw err;
      }
    },
    variables: () => [...program.weights.values()],
    save: async (dir, overwrite) => {
      writeOnnxWithWeights(path.join(dir, ONNX_FILE), program, opts, overwrite);
      return ONNX_FILE;
    },
    dispose: () => program.dispose(),
  };
}
