// One interface for every model downstream code scans or cleans. Inputs are pixel-space NHWC
// in [0, 1]; the adapter maps them to the model's range (gate.json) inside the graph, so input
// gradients, triggers and Hessians all live in pixel space whatever the model expects.
import * as tf from '@tensorflow/tfjs';
import { InputError } from '../errors.js';
import type { GateJson, InputSpec } from './gate-json.js';
import type { Decision } from '../scan/objective.js';
import { graphStructure, layersStructure, type NetworkStructure } from './structure.js';
import type { ModelFormat } from './manifest.js';
import type { ClassPromptKind } from './dual/manifest.js';
import { directoryWriter } from './save.js';
import { patchConvolutions, type WeightUse } from './constant-weights.js';

/**
 * How the network ends: raw `logits`, a `softmax`, one `sigmoid` unit (binary; read as the two
 * logits [0, z]), several sigmoids that are independent `multi-label` decisions, or several
 * sigmoids of a single-label `one-vs-rest` classifier (gate.json `head`).
 */
export type ModelHead = 'logits' | 'softmax' | 'sigmoid' | 'multi-label' | 'one-vs-rest';

/** The head a final activation and unit count make, with gate.json's word for several sigmoids. */
export function headOf(activation: 'softmax' | 'sigmoid' | 'none', units: number, gate: GateJson): ModelHead {
  if (units === 1) return 'sigmoid'; // one unit: a sigmoid, or the raw logit a sigmoid loss was trained on
  if (activation === 'sigmoid') return gate.head === 'one-vs-rest' ? 'one-vs-rest' : 'multi-label';
  return activation === 'softmax' ? 'softmax' : 'logits';
}

export const decisionOf = (head: ModelHead): Decision => (head === 'multi-label' ? 'multi-label' : 'single-label');

/** Raw pre-activation outputs → the class logits scans use ([0, z] for one sigmoid unit). */
export function headLogits(raw: tf.Tensor2D, head: ModelHead): tf.Tensor2D {
  return head === 'sigmoid' ? tf.concat([tf.zerosLike(raw), raw], 1) : raw;
}

/** Classes the scans see: two for a single sigmoid unit, else one per output. */
export function classCount(units: number, file: string): number {
  if (units < 1) throw new InputError(file, 'model output has no units; a classifier needs at least one');
  return units === 1 ? 2 : units;
}

export interface ModelUnderTest {
  readonly format: ModelFormat;
  /** [height, width, channels] of one input image. */
  readonly inputShape: [number, number, number];
  readonly numClasses: number;
  /** The network's last op is a softmax; `logits` returns what goes into it. */
  readonly endsInSoftmax: boolean;
  /** How the network ends; `logits` returns what goes into the final softmax or sigmoid. */
  readonly head: ModelHead;
  /** What "class c wins" means for the scans (derived from the head). */
  readonly decision: Decision;
  readonly inputSpec: InputSpec;
  readonly classNames?: string[];
  /** Skip connections and depthwise convolutions, read from the graph (for a dual encoder: its image tower's). */
  readonly structure: NetworkStructure;
  /** A CLIP-style dual encoder's kind of class prompts (absent for a classifier). */
  readonly classPrompts?: ClassPromptKind;
  /** Pixel-space [0,1] NHWC → [N, numClasses] logits; differentiable w.r.t. `x`. */
  logits(x: tf.Tensor4D, options?: { training?: boolean }): tf.Tensor2D;
  /** Variables a cleaner may update (empty for graph models, whose weights are constants). */
  trainableVariables(): tf.Variable[];
  /**
   * One differentiable pass giving the logits and, for each channels-last batch-norm layer, its
   * input beside the running statistics it was trained to: what DeepInversion matches synthetic
   * images to. Absent where the format keeps no such statistics apart (graph models fold them
   * into convolutions); `batchNorm` is empty for a model without batch norm.
   */
  batchNormForward?(x: tf.Tensor4D): { logits: tf.Tensor2D; batchNorm: BatchNormInput[] };
  /**
   * The same model for passes that differentiate with respect to the input only (scans, probe
   * synthesis): the same outputs and input gradients, without computing weight gradients the
   * format would otherwise compute (they come out missing: never train through it). Absent where
   * no weight gradient is ever computed needlessly.
   */
  withConstantWeights?(): ModelUnderTest;
  /**
   * The tfjs layers model behind the classifier, for cleaners that read and edit hidden layers
   * (pruning, PAR); absent for graph and ONNX models and dual encoders.
   */
  readonly editableLayers?: EditableLayers;
  readonly canSave: boolean;
  save(dir: string, options?: { overwrite?: boolean }): Promise<void>;
  dispose(): void;
}

/** A classifier's hidden layers, as cleaners that prune or hold an embedding need them. */
export interface EditableLayers {
  readonly model: tf.LayersModel;
  /** Hidden outputs (symbolic tensors of `model`) for pixel-space x. */
  hidden(x: tf.Tensor4D, nodes: tf.SymbolicTensor[], options?: { training?: boolean }): tf.Tensor[];
}

export interface BatchNormInput {
  /** The layer's input, channels last. */
  input: tf.Tensor;
  runningMean: tf.Tensor1D;
  runningVariance: tf.Tensor1D;
}

/** Maps pixel space [0,1] to the model's input convention. */
export function toModelInput(x: tf.Tensor4D, spec: InputSpec): tf.Tensor4D {
  const [lo, hi] = spec.range;
  let v: tf.Tensor4D = lo === 0 && hi === 1 ? x : tf.add(tf.mul(x, hi - lo), lo);
  if (spec.mean) v = tf.sub(v, tf.tensor1d(spec.mean));
  if (spec.std) v = tf.div(v, tf.tensor1d(spec.std));
  return v;
}

/** Runs one blank image through the raw output to learn its unit count. */
export function probeUnitCount(raw: (x: tf.Tensor4D) => tf.Tensor2D, inputShape: [number, number, number], file: string): number {
  const probe = tf.tidy(() => raw(tf.zeros([1, ...inputShape]) as tf.Tensor4D));
  const units = probe.shape[1];
  probe.dispose();
  if (units < 1) throw new InputError(file, 'model output has no units; a classifier needs at least one');
  return units;
}

export function asClassVector(out: tf.Tensor, file: string): tf.Tensor2D {
  if (out.rank === 2) return out as tf.Tensor2D;
  const k = out.shape[out.rank - 1];
  if (out.shape.slice(1, -1).every((d) => d === 1)) return tf.reshape(out, [out.shape[0], k]);
  throw new InputError(file, `model output has shape [${out.shape.join(', ')}]; a classifier must output [batch, classes]`);
}

function imageInputShape(shape: (number | null)[], file: string): [number, number, number] {
  if (shape.length !== 4) {
    throw new InputError(
      file,
      `wrong input rank: the model takes [${shape.map((d) => d ?? 'batch').join(', ')}] (rank ${shape.length}); the gate scans image classifiers with NHWC input [batch, height, width, channels]`,
    );
  }
  const [, h, w, c] = shape;
  if (!h || !w || !c || h < 1 || w < 1 || c < 1) throw new InputError(file, `input shape [${shape.join(', ')}] must fix height, width and channels`);
  return [h, w, c];
}

/** `model`, or its view with weights held constant where the format has one. */
export const withConstantWeights = (model: ModelUnderTest): ModelUnderTest => model.withConstantWeights?.() ?? model;

/** A layer whose softmax activation we can switch off while computing logits. */
type ActivatedLayer = tf.layers.Layer & { activation?: unknown };
const LINEAR = (tf.layers.activation({ activation: 'linear' }) as unknown as { activation: unknown }).activation;

export class LayersModelAdapter implements ModelUnderTest, EditableLayers {
  readonly format = 'layers-model' as const;
  readonly structure: NetworkStructure;
  readonly inputShape: [number, number, number];
  readonly numClasses: number;
  readonly endsInSoftmax: boolean;
  readonly head: ModelHead;
  readonly decision: Decision;
  readonly canSave = true;
  private readonly logitsModel: tf.LayersModel;
  /** A final layer whose softmax or sigmoid is switched off while computing logits. */
  private readonly activatedLayer?: ActivatedLayer;
  /** How the synchronous call in progress uses the weights (set by a withConstantWeights() view). */
  private weightUse: WeightUse = 'trainable';
  /** Whether patchConvolutions found convolutions to change (else the view is the model). */
  private readonly holdsWeights: boolean;

  constructor(
    readonly model: tf.LayersModel,
    private readonly gate: GateJson,
    private readonly file: string,
  ) {
    if (model.inputs.length !== 1 || model.outputs.length !== 1) {
      throw new InputError(file, `model has ${model.inputs.length} inputs and ${model.outputs.length} outputs; a classifier has one of each`);
    }
    this.inputShape = imageInputShape(model.inputs[0].shape, file);
    this.structure = layersStructure(model.layers);
    const last = model.layers[model.layers.length - 1] as ActivatedLayer;
    const config = last.getConfig() as { activation?: string };
    const className = last.getClassName();
    const activation = (a?: string) => (a === 'softmax' || a === 'sigmoid' ? a : 'none');
    let final: 'softmax' | 'sigmoid' | 'none';
    if (className === 'Softmax' || (className === 'Activation' && activation(config.activation) !== 'none')) {
      // A separate softmax or sigmoid layer: the logits are its input.
      this.logitsModel = tf.model({ inputs: model.inputs, outputs: last.input as tf.SymbolicTensor });
      final = className === 'Softmax' ? 'softmax' : activation(config.activation);
    } else {
      this.logitsModel = model;
      final = activation(config.activation);
      if (final !== 'none') this.activatedLayer = last;
    }
    this.endsInSoftmax = final === 'softmax';
    const outShape = this.logitsModel.outputs[0].shape;
    const units = outShape[outShape.length - 1] ?? 0;
    this.numClasses = classCount(units, file);
    this.head = headOf(final, units, gate);
    this.decision = decisionOf(this.head);
    this.holdsWeights = patchConvolutions(model, () => this.weightUse) > 0;
  }

  withConstantWeights(): ModelUnderTest {
    if (!this.holdsWeights) return this;
    // A view: everything else is the adapter's own (its prototype). The batch norms' statistics
    // read their inputs, which folding skips.
    return Object.assign(Object.create(this) as LayersModelAdapter, {
      logits: (x: tf.Tensor4D, options?: { training?: boolean }) => this.using('constant-folded', () => this.logits(x, options)),
      batchNormForward: (x: tf.Tensor4D) => this.using('constant', () => this.batchNormForward(x)),
      withConstantWeights: () => this.withConstantWeights(),
    });
  }

  /** Runs the synchronous `pass` with the weights used as `use` says. */
  private using<T>(use: WeightUse, pass: () => T): T {
    const outer = this.weightUse;
    this.weightUse = use;
    try {
      return pass();
    } finally {
      this.weightUse = outer;
    }
  }

  get inputSpec(): InputSpec {
    return this.gate.input;
  }
  get classNames(): string[] | undefined {
    return this.gate.classes;
  }

  logits(x: tf.Tensor4D, { training = false } = {}): tf.Tensor2D {
    const input = toModelInput(x, this.gate.input);
    const layer = this.activatedLayer;
    const saved = layer?.activation;
    // Switch the final activation off for this synchronous call only; the model itself is unchanged.
    if (layer) layer.activation = LINEAR;
    // Batch norms fold into their convolutions unless a withConstantWeights() view chose a use.
    const use = this.weightUse === 'trainable' ? 'trainable-folded' : this.weightUse;
    try {
      return this.using(use, () => headLogits(asClassVector(this.logitsModel.apply(input, { training }) as tf.Tensor, this.file), this.head));
    } finally {
      if (layer) layer.activation = saved;
    }
  }

  trainableVariables(): tf.Variable[] {
    return this.model.trainableWeights.map((w) => w.read() as tf.Variable);
  }

  /** Hidden outputs (symbolic tensors of this model) for pixel-space x: what cleaners look inside with. */
  hidden(x: tf.Tensor4D, nodes: tf.SymbolicTensor[], { training = false } = {}): tf.Tensor[] {
    const key = nodes.map((n) => n.name).join('|');
    let sub = this.hiddenModels.get(key);
    if (!sub) this.hiddenModels.set(key, (sub = tf.model({ inputs: this.model.inputs, outputs: nodes })));
    const out = sub.apply(toModelInput(x, this.gate.input), { training });
    return Array.isArray(out) ? (out as tf.Tensor[]) : [out as tf.Tensor];
  }

  private readonly hiddenModels = new Map<string, tf.LayersModel>();

  get editableLayers(): EditableLayers {
    return this;
  }

  batchNormForward(x: tf.Tensor4D): { logits: tf.Tensor2D; batchNorm: BatchNormInput[] } {
    const layers = this.batchNormLayers;
    const layer = this.activatedLayer;
    const saved = layer?.activation;
    if (layer) layer.activation = LINEAR;
    try {
      const [logits, ...inputs] = this.hidden(x, [this.logitsModel.outputs[0], ...layers.map((l) => l.input as tf.SymbolicTensor)]);
      return {
        logits: headLogits(asClassVector(logits, this.file), this.head),
        batchNorm: layers.map((l, i) => {
          const weights = new Map(l.weights.map((w) => [w.originalName.split('/').pop(), w.read() as tf.Tensor1D]));
          return { input: inputs[i], runningMean: weights.get('moving_mean')!, runningVariance: weights.get('moving_variance')! };
        }),
      };
    } finally {
      if (layer) layer.activation = saved;
    }
  }

  /** Batch-norm layers that normalise the last (channels) axis, the only kind tfjs trains by default. */
  private get batchNormLayers(): tf.layers.Layer[] {
    return this.model.layers.filter((l) => {
      if (l.getClassName() !== 'BatchNormalization') return false;
      const axis = (l.getConfig() as { axis?: number | number[] }).axis;
      const last = (l.input as tf.SymbolicTensor).shape.length - 1;
      const axes = Array.isArray(axis) ? axis : [axis];
      return axes.length === 1 && (axes[0] === -1 || axes[0] === last);
    });
  }

  async save(dir: string, { overwrite = false } = {}): Promise<void> {
    await this.model.save(directoryWriter(dir, { overwrite }));
  }

  dispose(): void {
    this.model.dispose();
  }
}

export class GraphModelAdapter implements ModelUnderTest {
  readonly format = 'graph-model' as const;
  readonly structure: NetworkStructure;
  readonly inputShape: [number, number, number];
  readonly numClasses: number;
  readonly endsInSoftmax: boolean;
  readonly head: ModelHead;
  readonly decision: Decision;
  readonly canSave = false;
  private readonly inputName: string;
  private readonly logitsNode: string;

  constructor(
    readonly model: tf.GraphModel,
    topology: { node?: Array<{ name: string; op: string; input?: string[] }> },
    private readonly gate: GateJson,
    private readonly file: string,
  ) {
    if (model.inputs.length !== 1 || model.outputs.length !== 1) {
      throw new InputError(file, `graph model has ${model.inputs.length} inputs and ${model.outputs.length} outputs; a classifier has one of each`);
    }
    this.inputName = model.inputs[0].name;
    this.inputShape = imageInputShape(model.inputs[0].shape ?? [], file);
    const outputName = model.outputs[0].name.replace(/:\d+$/, '');
    const nodes = new Map((topology.node ?? []).map((n) => [n.name, n]));
    this.structure = graphStructure(topology.node ?? []);
    // Walk back through Identity nodes to the producer; if it is a Softmax or Sigmoid, read its input.
    let node = nodes.get(outputName);
    while (node && node.op === 'Identity' && node.input?.length) node = nodes.get(node.input[0].replace(/^\^/, '').replace(/:\d+$/, ''));
    const final = node?.op === 'Softmax' && node.input?.length ? 'softmax' : node?.op === 'Sigmoid' && node.input?.length ? 'sigmoid' : 'none';
    this.endsInSoftmax = final === 'softmax';
    this.logitsNode = final !== 'none' ? node!.input![0].replace(/:\d+$/, '') : model.outputs[0].name;
    const units = probeUnitCount((x) => this.raw(x), this.inputShape, file);
    this.numClasses = classCount(units, file);
    this.head = headOf(final, units, gate);
    this.decision = decisionOf(this.head);
  }

  get inputSpec(): InputSpec {
    return this.gate.input;
  }
  get classNames(): string[] | undefined {
    return this.gate.classes;
  }

  private raw(x: tf.Tensor4D): tf.Tensor2D {
    const out = this.model.execute({ [this.inputName]: toModelInput(x, this.gate.input) }, this.logitsNode) as tf.Tensor;
    return asClassVector(out, this.file);
  }

  logits(x: tf.Tensor4D): tf.Tensor2D {
    return headLogits(this.raw(x), this.head);
  }

  trainableVariables(): tf.Variable[] {
    return [];
  }

  async save(): Promise<void> {
    throw new InputError(this.file, 'graph models cannot be re-saved by tfjs; clean a layers model (or the ONNX source) instead');
  }

  dispose(): void {
    this.model.dispose();
  }
}
