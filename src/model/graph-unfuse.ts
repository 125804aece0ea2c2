// Splits a graph model's fused convolutions and matmuls back into the base op, BiasAdd and the
// activation before tfjs builds the model. tfjs differentiates a fused op through one closure that
// always computes the filter and bias gradients too, although the gate only ever asks for
// gradients with respect to the input (a graph model's weights are constants). Split ops are
// differentiated input by input, so those gradients are never computed.

export interface GraphNode {
  name: string;
  op: string;
  input?: string[];
  attr?: Record<string, { s?: string; f?: number; list?: { s?: string[] } } & Record<string, unknown>>;
  device?: string;
}

const BASE_OP: Readonly<Record<string, string>> = {
  _FusedConv2D: 'Conv2D',
  _FusedMatMul: 'MatMul',
  FusedDepthwiseConv2dNative: 'DepthwiseConv2dNative',
};
/** Fused activations that are one unary TensorFlow op of the same name. */
const UNARY = new Set(['Relu', 'Relu6', 'Elu', 'Selu', 'Sigmoid', 'Tanh', 'LeakyRelu']);
/** Attributes only the fused form has. */
const FUSED_ONLY = new Set(['fused_ops', 'num_args', 'epsilon', 'leakyrelu_alpha']);

const decode = (s: string) => Buffer.from(s, 'base64').toString('utf8');

/**
 * The node list with every fused op of the form base + BiasAdd (+ one unary activation) split in
 * three; the last node of each split keeps the fused node's name, so consumers are unchanged.
 * Fusions of other kinds (batch norm, PReLU) are kept as they are.
 */
export function unfuseGraphNodes(nodes: readonly GraphNode[]): GraphNode[] {
  const out: GraphNode[] = [];
  for (const node of nodes) {
    const base = BASE_OP[node.op];
    const fused = (node.attr?.fused_ops?.list?.s ?? []).map(decode);
    const inputs = node.input ?? [];
    const data = inputs.filter((i) => !i.startsWith('^'));
    const control = inputs.filter((i) => i.startsWith('^'));
    const splittable = base && fused[0] === 'BiasAdd' && fused.length <= 2 && (fused.length === 1 || UNARY.has(fused[1])) && data.length === 3;
    if (!splittable) {
      out.push(node);
      continue;
    }
    const attr = Object.fromEntries(Object.entries(node.attr ?? {}).filter(([k]) => !FUSED_ONLY.has(k)));
    const T = node.attr?.T ?? { type: 'DT_FLOAT' };
    const activation = fused[1];
    const biasName = activation ? `${node.name}/unfused_bias` : node.name;
    out.push({ ...node, name: `${node.name}/unfused`, op: base, input: [data[0], data[1], ...control], attr });
    out.push({
      name: biasName,
      op: 'BiasAdd',
      input: [`${node.name}/unfused`, data[2]],
      attr: { T, data_format: { s: Buffer.from('NHWC').toString('base64') } },
    });
    if (activation) {
      const alpha = node.attr?.leakyrelu_alpha;
      out.push({ name: node.name, op: activation, input: [biasName], attr: { T, ...(activation === 'LeakyRelu' && alpha ? { alpha } : {}) } });
    }
  }
  return out;
}
