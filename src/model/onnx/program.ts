// An ONNX graph as a differentiable tfjs function: float initialisers become tf.Variables (the
// weights a cleaner trains), the nodes run in topological order through ops.ts. Everything the
// gate cannot run is refused here, in one error that lists every unsupported op by name.
import * as tf from '@tensorflow/tfjs';
import { InputError } from '../../errors.js';
import { Attributes, CHANNELS_LAST_OPS, OnnxOpError, runOp, SUPPORTED_ONNX_OPS, type ChannelsLastOp, type Value } from './ops.js';
import { ONNX_DTYPE, type OnnxModel, type OnnxNode, type OnnxTensor, type OnnxValueInfo } from './proto.js';
import { dtypeName, heldDtype, tensorData } from './tensor.js';

/** The default-domain opsets whose semantics ops.ts implements. */
export const ONNX_OPSETS = { min: 13, max: 21 } as const;
const DEFAULT_DOMAINS = new Set(['', 'ai.onnx']);

export interface ProgramOptions {
  maxElements: number;
  external?: (t: OnnxTensor) => Uint8Array;
}

export interface GraphValue {
  name: string;
  /** Dims as declared; null where symbolic (a batch axis). */
  shape: Array<number | null>;
  elemType: number;
}

function valueOf(v: OnnxValueInfo, file: string): GraphValue {
  const tt = v.type?.tensorType;
  if (!tt) throw new InputError(file, `graph value '${v.name}' is not a tensor (sequence, map and optional values are not supported)`);
  const dims = tt.shape?.dim ?? [];
  return { name: v.name, elemType: tt.elemType ?? 0, shape: dims.map((d) => (d.dimValue && d.dimValue > 0 ? d.dimValue : null)) };
}

/** Kahn's order of `nodes` (ONNX requires a sorted graph; exporters sometimes do not quite). */
function topological(nodes: OnnxNode[], known: Set<string>, file: string): OnnxNode[] {
  const producer = new Map<string, number>();
  nodes.forEach((n, i) => (n.output ?? []).forEach((o) => o && producer.set(o, i)));
  const order: OnnxNode[] = [];
  const state = new Uint8Array(nodes.length); // 0 new, 1 visiting, 2 done
  const visit = (start: number) => {
    const stack: Array<[number, number]> = [[start, 0]];
    while (stack.length) {
      const top = stack[stack.length - 1];
      const [i, k] = top;
      const inputs = nodes[i].input ?? [];
      if (k === 0) {
        if (state[i] === 2) {
          stack.pop();
          continue;
        }
        state[i] = 1;
      }
      if (k < inputs.length) {
        top[1]++;
        const name = inputs[k];
        if (!name || known.has(name)) continue;
        const p = producer.get(name);
        if (p === undefined)
          throw new InputError(file, `node '${nodes[i].name || nodes[i].opType}' reads '${name}', which no node, input or initialiser provides`);
        if (state[p] === 1) throw new InputError(file, `the graph has a cycle through '${name}'`);
        if (state[p] === 0) stack.push([p, 0]);
        continue;
      }
      state[i] = 2;
      order.push(nodes[i]);
      stack.pop();
    }
  };
  for (let i = 0; i < nodes.length; i++) if (!state[i]) visit(i);
  return order;
}

/** A value as the program holds it: in ONNX's layout, or a 4-D NCHW value held channels-last (NHWC). */
interface Held {
  value: Value;
  channelsLast: boolean;
  /** The NCHW form of a channels-last value, once an op has asked for it. */
  nchw?: Value;
}

/** Whether `op` runs channels-last on these inputs (see CHANNELS_LAST_OPS). */
function runsChannelsLast(op: ChannelsLastOp, held: Array<Held | undefined>): boolean {
  const acts = op.activations.map((k) => held[k]).filter((h): h is Held => h !== undefined);
  if (!acts.length) return false;
  if (op.native) return acts[0].value.rank === 4;
  const first = acts.find((h) => h.channelsLast);
  if (!first) return false;
  return acts.every((h) => (h.channelsLast ? tf.util.arraysEqual(h.value.shape, first.value.shape) : h.value.size === 1 && h.value.rank <= 4));
}

export class OnnxProgram {
  readonly opset: number;
  readonly inputs: GraphValue[];
  readonly outputs: GraphValue[];
  /** Float initialisers as trainable variables, by initialiser name. */
  readonly weights = new Map<string, tf.Variable>();
  private readonly constants = new Map<string, tf.Tensor>();
  private readonly nodes: OnnxNode[];
  private readonly attrs: Attributes[];
  /** name → the node that produces it. */
  readonly producers = new Map<string, OnnxNode>();

  constructor(
    readonly model: OnnxModel,
    readonly file: string,
    private readonly opts: ProgramOptions,
  ) {
    const graph = model.graph!;
    if (model.functions?.length)
      throw new InputError(
        file,
        `defines ${model.functions.length} model-local function(s); the gate runs standard ONNX operators only (export without custom functions)`,
      );
    if (model.trainingInfo?.length) throw new InputError(file, 'carries ONNX training information, which the gate does not support');
    if (graph.sparseInitializer?.length) throw new InputError(file, 'has sparse initialisers, which the gate does not support');
    const imports = model.opsetImport ?? [];
    const main = imports.find((o) => DEFAULT_DOMAINS.has(o.domain ?? ''));
    this.opset = main?.version ?? 0;
    if (!main) throw new InputError(file, 'imports no default-domain (ai.onnx) opset');
    if (this.opset < ONNX_OPSETS.min || this.opset > ONNX_OPSETS.max) {
      throw new InputError(
        file,
        `uses opset ${this.opset}; the gate runs opsets ${ONNX_OPSETS.min}–${ONNX_OPSETS.max} (re-export with torch.onnx.export(..., opset_version=17))`,
      );
    }
    const nodes = graph.node ?? [];
    const unsupported = new Map<string, number>();
    for (const n of nodes) {
      const domain = n.domain ?? '';
      const name = DEFAULT_DOMAINS.has(domain) ? n.opType : `${domain}.${n.opType}`;
      if (!DEFAULT_DOMAINS.has(domain) || !SUPPORTED_ONNX_OPS.includes(n.opType)) unsupported.set(name, (unsupported.get(name) ?? 0) + 1);
    }
    if (unsupported.size) {
      const list = [...unsupported].sort(([a], [b]) => a.localeCompare(b)).map(([op, count]) => (count > 1 ? `${op} (×${count})` : op));
      throw new InputError(file, `uses ONNX ops the gate cannot run: ${list.join(', ')}. Supported: ${SUPPORTED_ONNX_OPS.join(', ')}`);
    }
    const known = new Set<string>();
    for (const t of graph.initializer ?? []) {
      const name = t.name ?? '';
      const data = tensorData(t, file, { maxElements: opts.maxElements, external: opts.external, finite: true });
      // float32 initialisers are the weights; doubles and halves stay constants (their dtype is kept on save).
      if (t.dataType === ONNX_DTYPE.FLOAT) this.weights.set(name, tf.variable(tf.tensor(data.values, data.shape, 'float32'), true));
      else this.constants.set(name, tf.tensor(data.values, data.shape, data.dtype));
      known.add(name);
    }
    this.inputs = (graph.input ?? []).filter((v) => !known.has(v.name)).map((v) => valueOf(v, file));
    this.outputs = (graph.output ?? []).map((v) => valueOf(v, file));
    for (const v of [...this.inputs, ...this.outputs]) {
      if (!heldDtype(v.elemType))
        throw new InputError(file, `graph ${this.inputs.includes(v) ? 'input' : 'output'} '${v.name}' has element type ${dtypeName(v.elemType)}`);
    }
    for (const v of this.inputs) known.add(v.name);
    this.nodes = topological(nodes, known, file);
    this.attrs = this.nodes.map((n) => new Attributes(n.attribute, this.where(n)));
    for (const n of this.nodes) for (const o of n.output ?? []) if (o) this.producers.set(o, n);
    for (const v of this.outputs)
      if (!known.has(v.name) && !this.producers.has(v.name)) throw new InputError(file, `graph output '${v.name}' is produced by no node`);
  }

  private where(n: OnnxNode): string {
    return `node '${n.name || (n.output ?? [])[0] || '?'}' (${n.opType})`;
  }

  /**
   * Runs the graph on `feeds` and returns the named values. Runs inside tf.tidy: intermediate
   * tensors are freed, the returned ones kept; differentiable w.r.t. the feeds and the weights.
   * Feeds named in `channelsLast` are NCHW images given as NHWC (what the scans hold), so a
   * convolution first in the graph needs no transpose.
   */
  run(feeds: Record<string, tf.Tensor>, wanted: string[], { channelsLast = [] }: { channelsLast?: readonly string[] } = {}): tf.Tensor[] {
    return tf.tidy(() => {
      const env = new Map<string, Held>([...this.weights, ...this.constants].map(([name, value]) => [name, { value, channelsLast: false }]));
      for (const [name, value] of Object.entries(feeds)) env.set(name, { value, channelsLast: channelsLast.includes(name) && value.rank === 4 });
      const missing = wanted.filter((w) => !env.has(w) && !this.producers.has(w));
      if (missing.length) throw new OnnxOpError(`no value named ${missing.join(', ')}`);
      // The NCHW form of a channels-last value, made once however many ops read it.
      const onnxLayout = (h: Held): Value => {
        if (!h.channelsLast) return h.value;
        h.nchw ??= tf.transpose(h.value, [0, 3, 1, 2]);
        return h.nchw;
      };
      for (let i = 0; i < this.nodes.length; i++) {
        if (wanted.every((w) => env.has(w))) break;
        const n = this.nodes[i];
        const ctx = { opset: this.opset, where: this.where(n), maxElements: this.opts.maxElements };
        const held = (n.input ?? []).map((name) => (name ? env.get(name) : undefined));
        const layout = CHANNELS_LAST_OPS[n.opType];
        const nhwc = layout !== undefined && runsChannelsLast(layout, held);
        const inputs = held.map((h, k) => {
          if (!h) return undefined;
          if (!nhwc || !layout.activations.includes(k) || (!h.channelsLast && h.value.size === 1)) return onnxLayout(h);
          return h.channelsLast ? h.value : tf.transpose(h.value, [0, 2, 3, 1]);
        });
        let outs: Value[];
        try {
          outs = nhwc ? layout.run(inputs, this.attrs[i], ctx) : runOp(n.opType, inputs, this.attrs[i], ctx, (n.output ?? []).length);
        } catch (err) {
          if (err instanceof OnnxOpError) throw err;
          throw new OnnxOpError(`${ctx.where}: ${(err as Error).message.split('\n')[0]}`);
        }
        (n.output ?? []).forEach((name, k) => name && outs[k] && env.set(name, { value: outs[k], channelsLast: nhwc }));
      }
      return wanted.map((w) => onnxLayout(env.get(w)!));
    });
  }

  dispose(): void {
    for (const t of [...this.weights.values(), ...this.constants.values()]) t.dispose();
  }
}
