// An ONNX classifier behind ModelUnderTest. The gate's pixel-space NHWC input is normalised per
// gate.json and handed to the graph as what it is (NCHW graphs, PyTorch's, take it as a
// channels-last image) inside the differentiable function, so scans, triggers and Hessians work
// on ONNX models unchanged.
import * as tf from '@tensorflow/tfjs';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { InputError } from '../../errors.js';
import { asClassVector, classCount, decisionOf, headLogits, headOf, probeUnitCount, toModelInput, type ModelHead, type ModelUnderTest } from '../adapter.js';
import type { Decision } from '../../scan/objective.js';
import type { GateJson, InputSpec } from '../gate-json.js';
import { OnnxOpError } from './ops.js';
import { OnnxProgram, type ProgramOptions } from './program.js';
import { ONNX_FILE } from '../read.js';
import { encodeOnnx, ONNX_DTYPE, type OnnxModel, type OnnxTensor } from './proto.js';
import { onnxStructure, type NetworkStructure } from '../structure.js';

export type ImageLayout = 'NCHW' | 'NHWC';

/** NCHW unless the shape or gate.json says NHWC: channels (1 or 3) sit where they must. */
export function inferLayout(shape: Array<number | null>, declared: ImageLayout | undefined): ImageLayout {
  if (declared) return declared;
  const isChannels = (d: number | null) => d === 1 || d === 3;
  return isChannels(shape[3]) && !isChannels(shape[1]) ? 'NHWC' : 'NCHW';
}

export class OnnxModelAdapter implements ModelUnderTest {
  readonly format = 'onnx' as const;
  readonly structure: NetworkStructure;
  readonly inputShape: [number, number, number];
  readonly numClasses: number;
  readonly endsInSoftmax: boolean;
  readonly head: ModelHead;
  readonly decision: Decision;
  readonly canSave = true;
  readonly layout: ImageLayout;
  private readonly program: OnnxProgram;
  private readonly inputName: string;
  private readonly logitsName: string;

  constructor(
    readonly onnx: OnnxModel,
    private readonly gate: GateJson,
    private readonly file: string,
    private readonly opts: ProgramOptions,
  ) {
    this.program = new OnnxProgram(onnx, file, opts);
    const { inputs, outputs } = this.program;
    this.structure = onnxStructure(onnx.graph?.node ?? [], this.program.producers, new Set(inputs.map((v) => v.name)));
    if (inputs.length !== 1 || outputs.length !== 1) {
      throw new InputError(file, `ONNX graph has ${inputs.length} inputs and ${outputs.length} outputs; a classifier has one of each`);
    }
    const input = inputs[0];
    this.inputName = input.name;
    if (input.shape.length !== 4) {
      throw new InputError(
        file,
        `wrong input rank: input '${input.name}' is [${input.shape.map((d) => d ?? '?').join(', ')}] (rank ${input.shape.length}); the gate scans image classifiers with [batch, channels, height, width] (or NHWC) input`,
      );
    }
    this.layout = inferLayout(input.shape, gate.input.layout);
    const [, a, b, c] = input.shape;
    const hwc = this.layout === 'NCHW' ? [b, c, a] : [a, b, c];
    if (hwc.some((d) => d === null))
      throw new InputError(
        file,
        `input '${input.name}' [${input.shape.map((d) => d ?? '?').join(', ')}] must fix height, width and channels (export with a fixed image size; only the batch axis may be dynamic)`,
      );
    this.inputShape = hwc as [number, number, number];
    // Logits: the input of a final Softmax or Sigmoid (through Identity nodes), else the output itself.
    let node = this.program.producers.get(outputs[0].name);
    while (node?.opType === 'Identity' && node.input?.[0]) node = this.program.producers.get(node.input[0]);
    const final = node?.input?.[0] && node.opType === 'Softmax' ? 'softmax' : node?.input?.[0] && node.opType === 'Sigmoid' ? 'sigmoid' : 'none';
    this.endsInSoftmax = final === 'softmax';
    this.logitsName = final !== 'none' ? node!.input![0] : outputs[0].name;
    try {
      const units = probeUnitCount((x) => this.raw(x), this.inputShape, file);
      this.numClasses = classCount(units, file);
      this.head = headOf(final, units, gate);
      this.decision = decisionOf(this.head);
    } catch (err) {
      this.program.dispose();
      throw err;
    }
  }

  get inputSpec(): InputSpec {
    return this.gate.input;
  }
  get classNames(): string[] | undefined {
    return this.gate.classes;
  }

  logits(x: tf.Tensor4D): tf.Tensor2D {
    return tf.tidy(() => headLogits(this.raw(x), this.head));
  }

  private raw(x: tf.Tensor4D): tf.Tensor2D {
    return tf.tidy(() => {
      const v = toModelInput(x, this.gate.input);
      let out: tf.Tensor;
      try {
        // An NCHW graph takes our NHWC images as they are: its first convolution wants them so.
        const channelsLast = this.layout === 'NCHW' ? [this.inputName] : [];
        [out] = this.program.run({ [this.inputName]: v }, [this.logitsName], { channelsLast });
      } catch (err) {
        if (err instanceof OnnxOpError) throw new InputError(this.file, `could not run: ${err.message}`);
        throw err;
      }
      return asClassVector(out.dtype === 'float32' ? out : tf.cast(out, 'float32'), this.file);
    });
  }

  /** Every float initialiser: ONNX has no notion of frozen weights (BN statistics included). */
  trainableVariables(): tf.Variable[] {
    return [...this.program.weights.values()];
  }

  /** Writes `dir/model.onnx`: the same graph with the current weights inlined. */
  async save(dir: string, { overwrite = false } = {}): Promise<void> {
    writeOnnxWithWeights(path.join(dir, ONNX_FILE), this.program, this.opts, overwrite);
  }

  dispose(): void {
    this.program.dispose();
  }
}

/** Writes `program`'s graph to `file` with its current weights (never over an existing file unless told). */
export function writeOnnxWithWeights(file: string, program: OnnxProgram, opts: ProgramOptions, overwrite: boolean): void {
  if (existsSync(file) && !overwrite) throw new InputError(file, 'already exists; refusing to overwrite it (choose another output directory)');
  const graph = program.model.graph!;
  const initializer = (graph.initializer ?? []).map((t): OnnxTensor => {
    const w = program.weights.get(t.name ?? '');
    if (w) {
      const values = w.dataSync() as Float32Array;
      return {
        name: t.name,
        dims: w.shape,
        dataType: ONNX_DTYPE.FLOAT,
        rawData: new Uint8Array(values.buffer.slice(values.byteOffset, values.byteOffset + values.byteLength)),
      };
    }
    // Constants keep their bytes; external data is inlined so the written model stands alone.
    if (t.dataLocation === 1 && opts.external) return { ...t, dataLocation: 0, externalData: [], rawData: opts.external(t) };
    return t;
  });
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, encodeOnnx({ ...program.model, graph: { ...graph, initializer } }));
}
