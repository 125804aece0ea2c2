// What a network is built from, as far as it bears on the decision rule: clean residual and
// depthwise-separable networks reach larger statistics than plain ones (natural universal triggers),
// so thresholds fitted on plain networks flagged most of them (docs/detection.md), and the rule has
// thresholds per kind of network. Read from the model's graph.

export interface NetworkStructure {
  /** Skip connections: an addition of two computed tensors (ResNet, MobileNetV2 blocks). */
  residual: boolean;
  /** Depthwise (or other grouped) convolutions (MobileNet, Xception, depthwise-separable blocks). */
  depthwise: boolean;
}

export const PLAIN: NetworkStructure = Object.freeze({ residual: false, depthwise: false });

const FEATURES: ReadonlyArray<[keyof NetworkStructure, string]> = [
  ['residual', 'skip connections (residual blocks)'],
  ['depthwise', 'depthwise convolutions'],
];

/** The kinds of network the decision rule keeps thresholds for: each structural feature is one. */
export type NetworkKind = keyof NetworkStructure;

/** The kinds a network is of (empty: a plain network; both: an inverted-residual one, for instance). */
export function networkKinds(model: NetworkStructure): NetworkKind[] {
  return FEATURES.filter(([key]) => model[key]).map(([key]) => key);
}

/** A kind of network's feature, in words. */
export const kindInWords = (kind: NetworkKind): string => FEATURES.find(([key]) => key === kind)![1];

/** The structural features a model has, in words (empty: none). */
export function featuresOf(model: NetworkStructure): string[] {
  return networkKinds(model).map(kindInWords);
}

/** The structural features a model has that `fitted` lacks, in words (empty: none). */
export function unfittedFeatures(model: NetworkStructure, fitted: NetworkStructure): string[] {
  return networkKinds(model)
    .filter((kind) => !fitted[kind])
    .map(kindInWords);
}

/** A tfjs layers model: `Add` merge layers, depthwise and separable convolutions. */
export function layersStructure(layers: ReadonlyArray<{ getClassName(): string }>): NetworkStructure {
  const kinds = new Set(layers.map((l) => l.getClassName()));
  return { residual: kinds.has('Add'), depthwise: kinds.has('DepthwiseConv2D') || kinds.has('SeparableConv2D') };
}

const GRAPH_ADDS = new Set(['Add', 'AddV2', 'AddN']);
const GRAPH_DEPTHWISE = new Set(['DepthwiseConv2dNative', 'FusedDepthwiseConv2dNative']);

/** A tfjs graph model's nodes: an addition with two computed inputs (not constants, as a bias is). */
export function graphStructure(nodes: ReadonlyArray<{ name: string; op: string; input?: string[] }>): NetworkStructure {
  const byName = new Map(nodes.map((n) => [n.name, n]));
  const computed = (input: string) => {
    let node = byName.get(input.replace(/^\^/, '').replace(/:\d+$/, ''));
    while (node?.op === 'Identity' && node.input?.length) node = byName.get(node.input[0].replace(/^\^/, '').replace(/:\d+$/, ''));
    return node !== undefined && node.op !== 'Const';
  };
  return {
    residual: nodes.some((n) => GRAPH_ADDS.has(n.op) && (n.input ?? []).filter((i) => !i.startsWith('^') && computed(i)).length >= 2),
    depthwise: nodes.some((n) => GRAPH_DEPTHWISE.has(n.op)),
  };
}

/** An ONNX graph: `Add`/`Sum` of two tensors that nodes compute (initializers and Constants are not), grouped `Conv`s. */
export function onnxStructure(
  nodes: ReadonlyArray<{ opType: string; input?: string[]; attribute?: ReadonlyArray<{ name: string; i?: number }> }>,
  producers: ReadonlyMap<string, { opType: string; input?: string[] }>,
  graphInputs: ReadonlySet<string>,
): NetworkStructure {
  const computed = (name: string) => {
    let node = producers.get(name);
    while (node?.opType === 'Identity' && node.input?.[0]) node = producers.get(node.input[0]);
    return graphInputs.has(name) || (node !== undefined && node.opType !== 'Constant');
  };
  return {
    residual: nodes.some((n) => (n.opType === 'Add' || n.opType === 'Sum') && (n.input ?? []).filter((i) => i && computed(i)).length >= 2),
    depthwise: nodes.some((n) => n.opType === 'Conv' && Number(n.attribute?.find((a) => a.name === 'group')?.i ?? 1) > 1),
  };
}
