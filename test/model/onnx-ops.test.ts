// Every ONNX op the import supports, in the forms PyTorch exports and the opset changes bring
// (13 → 21: axes as inputs, Split's num_outputs, Gelu, Pad's axes…), run by the gate and by
// onnxruntime-node on the same random inputs. Tolerance 1e-4 (relative above 1).
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { selectBackend, type BackendChoice } from '../../src/engine/backend.js';
import { MemoryLogger } from '../../src/logger.js';
import { openWebgpu, takeWebgpuFaults } from '../../src/engine/webgpu.js';
import { OnnxProgram } from '../../src/model/onnx/program.js';
import { ONNX_DTYPE, type OnnxNode, type OnnxTensor } from '../../src/model/onnx/proto.js';
import { SUPPORTED_ONNX_OPS } from '../../src/model/onnx/ops.js';
import { mulberry32 } from '../../src/util/random.js';
import { encode, floatTensor, int64Tensor, node, onnxModel, runReference, type GraphIo } from '../helpers/onnx.js';

interface OpCase {
  name: string;
  opset?: number;
  nodes: OnnxNode[];
  inputs: Record<string, number[]>;
  outputs: GraphIo[];
  initializers?: OnnxTensor[];
  /** Inputs drawn from (0.5, 1.5) instead of (−1, 1): Log, Sqrt, Pow. */
  positive?: boolean;
}

const f = (name: string, dims: number[], seed: number, positive = false) => {
  const rand = mulberry32(seed);
  return floatTensor(
    name,
    dims,
    Array.from({ length: dims.reduce((a, b) => a * b, 1) }, () => (positive ? 0.5 + rand() : 2 * rand() - 1)),
  );
};
const ints = int64Tensor;
const scalarF = (name: string, v: number): OnnxTensor => floatTensor(name, [], [v]);
const out = (name: string): GraphIo => ({ name });
const unary = (op: string, attrs: Record<string, number | string | { float: number }> = {}, positive = false): OpCase => ({
  name: `${op} ${JSON.stringify(attrs)}`,
  nodes: [node(op, ['x'], ['y'], attrs)],
  inputs: { x: [2, 3, 4] },
  outputs: [out('y')],
  positive,
});

const CASES: OpCase[] = [
  {
    name: 'Conv pads strides dilations bias',
    nodes: [node('Conv', ['x', 'w', 'b'], ['y'], { pads: [1, 0, 2, 1], strides: [2, 1], dilations: [2, 1], kernel_shape: [3, 3] })],
    inputs: { x: [2, 3, 9, 8] },
    initializers: [f('w', [4, 3, 3, 3], 1), f('b', [4], 2)],
    outputs: [out('y')],
  },
  {
    name: 'Conv depthwise (group = channels, multiplier 2) SAME_LOWER stride 2',
    nodes: [node('Conv', ['x', 'w'], ['y'], { group: 4, auto_pad: 'SAME_LOWER', strides: [2, 2] })],
    inputs: { x: [1, 4, 7, 7] },
    initializers: [f('w', [8, 1, 3, 3], 3)],
    outputs: [out('y')],
  },
  {
    name: 'Conv grouped SAME_UPPER',
    nodes: [node('Conv', ['x', 'w', 'b'], ['y'], { group: 2, auto_pad: 'SAME_UPPER' })],
    inputs: { x: [1, 4, 6, 6] },
    initializers: [f('w', [6, 2, 3, 3], 4), f('b', [6], 5)],
    outputs: [out('y')],
  },
  {
    name: 'Conv 1-D',
    nodes: [node('Conv', ['x', 'w'], ['y'], { pads: [1, 1] })],
    inputs: { x: [2, 3, 10] },
    initializers: [f('w', [5, 3, 3], 6)],
    outputs: [out('y')],
  },
  {
    name: 'MaxPool padded',
    nodes: [node('MaxPool', ['x'], ['y'], { kernel_shape: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1] })],
    inputs: { x: [2, 3, 7, 7] },
    outputs: [out('y')],
  },
  {
    name: 'AveragePool padded, pads excluded',
    nodes: [node('AveragePool', ['x'], ['y'], { kernel_shape: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1] })],
    inputs: { x: [2, 3, 7, 7] },
    outputs: [out('y')],
  },
  {
    name: 'AveragePool padded, pads counted',
    nodes: [node('AveragePool', ['x'], ['y'], { kernel_shape: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1], count_include_pad: 1 })],
    inputs: { x: [2, 3, 7, 7] },
    outputs: [out('y')],
  },
  {
    name: 'GlobalAveragePool + GlobalMaxPool',
    nodes: [node('GlobalAveragePool', ['x'], ['a']), node('GlobalMaxPool', ['x'], ['m']), node('Add', ['a', 'm'], ['y'])],
    inputs: { x: [2, 3, 5, 4] },
    outputs: [out('y')],
  },
  // Values after a convolution are held channels-last (ops.ts: CHANNELS_LAST_OPS): every op
  // that follows that layout, once in it, and the ops that need ONNX's layout back after it.
  {
    name: 'channels-last chain: every layout-following op after a Conv, then channel-axis ops',
    nodes: [
      node('Conv', ['x', 'w', 'cb'], ['c'], { pads: [1, 1, 1, 1], kernel_shape: [3, 3] }),
      node('Relu', ['c'], ['r']),
      node('LeakyRelu', ['c'], ['lr'], { alpha: { float: 0.1 } }),
      node('Elu', ['lr'], ['el']),
      node('Sigmoid', ['el'], ['sg']),
      node('HardSigmoid', ['sg'], ['hs']),
      node('HardSwish', ['c'], ['hw']),
      node('Tanh', ['hw'], ['th']),
      node('Softplus', ['th'], ['sp']),
      node('Erf', ['c'], ['er']),
      node('Abs', ['c'], ['ab']),
      node('Add', ['ab', 'one'], ['pos']),
      node('Log', ['pos'], ['lg']),
      node('Sqrt', ['pos'], ['sq']),
      node('Reciprocal', ['pos'], ['rc']),
      node('Exp', ['rc'], ['ex']),
      node('Neg', ['ex'], ['ng']),
      node('Floor', ['c'], ['fl']),
      node('Ceil', ['c'], ['ce']),
      node('Clip', ['c', 'lo', 'hi'], ['cl']),
      node('Identity', ['cl'], ['id']),
      node('Dropout', ['id'], ['dr']),
      node('Sum', ['r', 'hs', 'sp', 'er'], ['s1']),
      node('Add', ['s1', 'lg'], ['s2']),
      node('Sub', ['s2', 'sq'], ['s3']),
      node('Mul', ['s3', 'ng'], ['s4']),
      node('Div', ['s4', 'pos'], ['s5']),
      node('Add', ['s5', 'fl'], ['s6']),
      node('Add', ['s6', 'ce'], ['s7']),
      node('Add', ['s7', 'dr'], ['s8']),
      node('BatchNormalization', ['s8', 'bs', 'bb', 'bm', 'bv'], ['bn']),
      node('Pad', ['bn', 'p0'], ['same']),
      node('Pad', ['same', 'p1'], ['pd']),
      node('MaxPool', ['pd'], ['mp'], { kernel_shape: [2, 2], strides: [2, 2], pads: [0, 0, 0, 0] }),
      node('AveragePool', ['mp'], ['ap'], { kernel_shape: [2, 2], strides: [1, 1], pads: [0, 0, 0, 0] }),
      node('GlobalAveragePool', ['ap'], ['ga']),
      node('GlobalMaxPool', ['ap'], ['gm']),
      node('Add', ['ga', 'gm'], ['g']),
      node('Flatten', ['g'], ['fg']),
      node('Gemm', ['fg', 'fw', 'fb'], ['y'], { transB: 1 }),
      // A per-channel bias broadcasts over NCHW, and Concat and Slice read the channel axis.
      node('Add', ['ap', 'chb'], ['apb']),
      node('Concat', ['ap', 'apb'], ['z'], { axis: 1 }),
      node('Slice', ['mp', 'ss', 'se', 'sa'], ['v']),
    ],
    inputs: { x: [2, 3, 6, 6] },
    initializers: [
      f('w', [4, 3, 3, 3], 41),
      f('cb', [4], 42),
      scalarF('one', 1),
      scalarF('lo', -0.3),
      scalarF('hi', 0.4),
      f('bs', [4], 43),
      f('bb', [4], 44),
      f('bm', [4], 45),
      f('bv', [4], 46, true),
      ints('p0', [8], [0, 0, 0, 0, 0, 0, 0, 0]),
      ints('p1', [8], [0, 0, 1, 0, 0, 0, 1, 2]),
      f('fw', [5, 4], 47),
      f('fb', [5], 48),
      f('chb', [4, 1, 1], 49),
      ints('ss', [1], [1]),
      ints('se', [1], [3]),
      ints('sa', [1], [1]),
    ],
    outputs: [out('y'), out('z'), out('v'), out('bn')],
  },
  {
    name: 'channels-last Gelu (opset 20)',
    opset: 20,
    nodes: [node('Conv', ['x', 'w'], ['c'], { kernel_shape: [3, 3] }), node('Gelu', ['c'], ['g']), node('Mul', ['g', 'c'], ['y'])],
    inputs: { x: [2, 3, 5, 5] },
    initializers: [f('w', [4, 3, 3, 3], 50)],
    outputs: [out('y')],
  },
  {
    name: 'BatchNormalization',
    nodes: [node('BatchNormalization', ['x', 's', 'b', 'm', 'v'], ['y'], { epsilon: { float: 1e-3 } })],
    inputs: { x: [2, 3, 4, 4] },
    initializers: [f('s', [3], 7), f('b', [3], 8), f('m', [3], 9), f('v', [3], 10, true)],
    outputs: [out('y')],
  },
  {
    name: 'LayerNormalization',
    nodes: [node('LayerNormalization', ['x', 's', 'b'], ['y'], { axis: -1, epsilon: { float: 1e-5 } })],
    inputs: { x: [2, 5, 6] },
    initializers: [f('s', [6], 11), f('b', [6], 12)],
    outputs: [out('y')],
  },
  {
    name: 'Gemm transB alpha beta',
    nodes: [node('Gemm', ['a', 'w', 'c'], ['y'], { transB: 1, alpha: { float: 0.5 }, beta: { float: 2 } })],
    inputs: { a: [3, 5] },
    initializers: [f('w', [4, 5], 13), f('c', [4], 14)],
    outputs: [out('y')],
  },
  {
    name: 'MatMul batched × matrix, and a vector',
    nodes: [node('MatMul', ['x', 'w'], ['h']), node('MatMul', ['h', 'v'], ['y'])],
    inputs: { x: [2, 3, 4, 5] },
    initializers: [f('w', [5, 6], 15), f('v', [6], 16)],
    outputs: [out('y')],
  },
  {
    name: 'MatMul batched × batched (attention)',
    nodes: [node('Transpose', ['x'], ['xt'], { perm: [0, 1, 3, 2] }), node('MatMul', ['x', 'xt'], ['y'])],
    inputs: { x: [2, 3, 4, 5] },
    outputs: [out('y')],
  },
  { name: 'Softmax axis 1 (opset 13)', opset: 13, nodes: [node('Softmax', ['x'], ['y'], { axis: 1 })], inputs: { x: [2, 3, 4] }, outputs: [out('y')] },
  unary('LogSoftmax', { axis: -1 }),
  { name: 'Gelu exact (opset 20)', opset: 20, nodes: [node('Gelu', ['x'], ['y'])], inputs: { x: [2, 3, 4] }, outputs: [out('y')] },
  { name: 'Gelu tanh (opset 20)', opset: 20, nodes: [node('Gelu', ['x'], ['y'], { approximate: 'tanh' })], inputs: { x: [2, 3, 4] }, outputs: [out('y')] },
  ...['Erf', 'Sigmoid', 'Tanh', 'Relu', 'HardSwish', 'Exp', 'Neg', 'Abs', 'Softplus', 'Floor', 'Ceil', 'Identity'].map((op) => unary(op)),
  unary('LeakyRelu', { alpha: { float: 0.2 } }),
  unary('Elu', { alpha: { float: 0.5 } }),
  unary('HardSigmoid', { alpha: { float: 0.3 }, beta: { float: 0.4 } }),
  ...['Log', 'Sqrt', 'Reciprocal'].map((op) => unary(op, {}, true)),
  {
    name: 'Clip with min/max inputs (ReLU6 shape)',
    nodes: [node('Clip', ['x', 'lo', 'hi'], ['y'])],
    inputs: { x: [2, 3, 4] },
    initializers: [scalarF('lo', -0.25), scalarF('hi', 0.5)],
    outputs: [out('y')],
  },
  {
    name: 'Clip with max only',
    nodes: [node('Clip', ['x', '', 'hi'], ['y'])],
    inputs: { x: [2, 3, 4] },
    initializers: [scalarF('hi', 0.1)],
    outputs: [out('y')],
  },
  {
    name: 'Pow by 3 and by a tensor',
    positive: true,
    nodes: [node('Pow', ['x', 'three'], ['a']), node('Pow', ['x', 'e'], ['b']), node('Sub', ['a', 'b'], ['y'])],
    inputs: { x: [2, 3] },
    initializers: [scalarF('three', 3), f('e', [3], 17)],
    outputs: [out('y')],
  },
  {
    name: 'Add Sub Mul Div Max Min Sum broadcasting',
    nodes: [
      node('Add', ['x', 'b'], ['a']),
      node('Mul', ['a', 'x'], ['m']),
      node('Div', ['m', 'p'], ['d']),
      node('Sub', ['d', 'x'], ['s']),
      node('Max', ['s', 'x', 'b'], ['mx']),
      node('Min', ['mx', 'a'], ['mn']),
      node('Sum', ['mn', 's', 'x'], ['y']),
    ],
    inputs: { x: [2, 3, 4] },
    initializers: [f('b', [4], 18), f('p', [3, 1], 19, true)],
    outputs: [out('y')],
  },
  {
    name: 'ReduceMean axes attribute (opset 13)',
    opset: 13,
    nodes: [node('ReduceMean', ['x'], ['y'], { axes: [1, -1] })],
    inputs: { x: [2, 3, 4] },
    outputs: [out('y')],
  },
  {
    name: 'ReduceMean axes input, keepdims 0 (opset 18)',
    opset: 18,
    nodes: [node('ReduceMean', ['x', 'ax'], ['y'], { keepdims: 0 })],
    inputs: { x: [2, 3, 4] },
    initializers: [ints('ax', [1], [1])],
    outputs: [out('y')],
  },
  {
    name: 'ReduceSum axes input (opset 13), ReduceMax all (opset 18)',
    nodes: [node('ReduceSum', ['x', 'ax'], ['s']), node('ReduceMax', ['x'], ['m'], { keepdims: 1 }), node('Add', ['s', 'm'], ['y'])],
    opset: 18,
    inputs: { x: [2, 3, 4] },
    initializers: [ints('ax', [1], [2])],
    outputs: [out('y')],
  },
  { name: 'Flatten axis 2', nodes: [node('Flatten', ['x'], ['y'], { axis: 2 })], inputs: { x: [2, 3, 4, 5] }, outputs: [out('y')] },
  {
    name: 'Reshape with 0 and -1, Transpose',
    nodes: [node('Reshape', ['x', 's'], ['r']), node('Transpose', ['r'], ['y'], { perm: [2, 0, 1] })],
    inputs: { x: [2, 3, 4] },
    initializers: [ints('s', [3], [0, -1, 2])],
    outputs: [out('y')],
  },
  {
    name: 'Concat axis -1',
    nodes: [node('Concat', ['x', 'c'], ['y'], { axis: -1 })],
    inputs: { x: [2, 3, 4] },
    initializers: [f('c', [2, 3, 2], 20)],
    outputs: [out('y')],
  },
  {
    name: 'Slice with axes, steps and a negative step',
    nodes: [node('Slice', ['x', 'st', 'en', 'ax', 'sp'], ['y'])],
    inputs: { x: [3, 6, 8] },
    initializers: [ints('st', [2], [1, -1]), ints('en', [2], [2 ** 63, -(2 ** 63) + 1]), ints('ax', [2], [1, 2]), ints('sp', [2], [2, -3])],
    outputs: [out('y')],
  },
  {
    name: 'Gather scalar negative index, and 1-D indices',
    nodes: [
      node('Gather', ['x', 'i'], ['a'], { axis: 2 }),
      node('Gather', ['x', 'j'], ['b'], { axis: 2 }),
      node('ReduceSum', ['b', 'ax'], ['bs'], { keepdims: 0 }),
      node('Add', ['a', 'bs'], ['y']),
    ],
    inputs: { x: [2, 3, 4] },
    initializers: [ints('i', [], [-1]), ints('j', [3], [3, 0, 3]), ints('ax', [1], [1])],
    outputs: [out('y')],
  },
  {
    name: 'Unsqueeze and Squeeze (axes as inputs)',
    nodes: [node('Unsqueeze', ['x', 'a'], ['u']), node('Squeeze', ['u', 'b'], ['y'])],
    inputs: { x: [2, 3] },
    initializers: [ints('a', [2], [0, 3]), ints('b', [1], [0])],
    outputs: [out('y')],
  },
  {
    name: 'Expand (class token) and Tile',
    nodes: [node('Expand', ['c', 's'], ['e']), node('Tile', ['x', 'r'], ['t']), node('Concat', ['e', 't'], ['y'], { axis: 1 })],
    inputs: { x: [2, 1, 4] },
    initializers: [f('c', [1, 1, 4], 21), ints('s', [3], [2, 1, 1]), ints('r', [3], [1, 2, 1])],
    outputs: [out('y')],
  },
  {
    name: 'Pad constant value (opset 13)',
    opset: 13,
    nodes: [node('Pad', ['x', 'p', 'v'], ['y'])],
    inputs: { x: [1, 2, 3, 3] },
    initializers: [ints('p', [8], [0, 0, 1, 2, 0, 0, 2, 1]), scalarF('v', 0.5)],
    outputs: [out('y')],
  },
  {
    name: 'Pad reflect with axes (opset 18)',
    opset: 18,
    nodes: [node('Pad', ['x', 'p', '', 'ax'], ['y'], { mode: 'reflect' })],
    inputs: { x: [1, 2, 4, 4] },
    initializers: [ints('p', [4], [1, 2, 2, 1]), ints('ax', [2], [2, 3])],
    outputs: [out('y')],
  },
  {
    name: 'Split by sizes input (opset 13)',
    opset: 13,
    nodes: [node('Split', ['x', 's'], ['a', 'b'], { axis: 1 }), node('Mul', ['a', 'a'], ['aa']), node('Concat', ['b', 'aa'], ['y'], { axis: 1 })],
    inputs: { x: [2, 5] },
    initializers: [ints('s', [2], [2, 3])],
    outputs: [out('y')],
  },
  {
    name: 'Split num_outputs uneven (opset 18)',
    opset: 18,
    nodes: [node('Split', ['x'], ['a', 'b', 'c'], { axis: 1, num_outputs: 3 }), node('Concat', ['c', 'b', 'a'], ['y'], { axis: 1 })],
    inputs: { x: [2, 7] },
    outputs: [out('y')],
  },
  {
    name: 'Where, Greater, Equal, Not, Cast',
    nodes: [
      node('Greater', ['x', 'z'], ['g']),
      node('Equal', ['x', 'x'], ['e']),
      node('Not', ['e'], ['ne']),
      node('Cast', ['ne'], ['nf'], { to: 1 }),
      node('Where', ['g', 'x', 'nf'], ['y']),
    ],
    inputs: { x: [2, 3, 4] },
    initializers: [scalarF('z', 0)],
    outputs: [out('y')],
  },
  {
    name: "PyTorch's dynamic flatten: Shape → Gather → Unsqueeze → Concat → Reshape",
    nodes: [
      node('Shape', ['x'], ['sh']),
      node('Gather', ['sh', 'zero'], ['n'], { axis: 0 }),
      node('Unsqueeze', ['n', 'ax0'], ['nu']),
      node('Concat', ['nu', 'minus1'], ['target'], { axis: 0 }),
      node('Reshape', ['x', 'target'], ['y']),
    ],
    inputs: { x: [3, 2, 4] },
    initializers: [ints('zero', [], [0]), ints('ax0', [1], [0]), ints('minus1', [1], [-1])],
    outputs: [out('y')],
  },
  {
    name: 'Shape start/end (opset 15), Range, ConstantOfShape, Div on ints',
    opset: 15,
    nodes: [
      node('Shape', ['x'], ['s'], { start: 1, end: -1 }),
      node('ConstantOfShape', ['s'], ['c'], { value: { tensor: floatTensor('v', [1], [0.25]) } }),
      node('Div', ['s', 'two'], ['h']),
      node('Cast', ['h'], ['hf'], { to: 1 }),
      node('Range', ['r0', 'r1', 'r2'], ['r']),
      node('Cast', ['r'], ['rf'], { to: 1 }),
      node('ReduceSum', ['c'], ['cs'], { keepdims: 0 }),
      node('Add', ['hf', 'cs'], ['a']),
      node('ReduceSum', ['rf'], ['rs'], { keepdims: 0 }),
      node('Add', ['a', 'rs'], ['y']),
    ],
    inputs: { x: [2, 5, 4] },
    initializers: [ints('two', [], [2]), ints('r0', [], [1]), ints('r1', [], [8]), ints('r2', [], [3])],
    outputs: [out('y')],
  },
  {
    name: 'Constant value_floats, Size, Dropout, CastLike',
    nodes: [
      node('Constant', [], ['k'], { value_floats: { floats: [0.5, -1, 2, 3] } }),
      node('Size', ['x'], ['n']),
      node('CastLike', ['n', 'x'], ['nf']),
      node('Dropout', ['x'], ['d']),
      node('Mul', ['d', 'k'], ['m']),
      node('Add', ['m', 'nf'], ['y']),
    ],
    inputs: { x: [2, 3, 4] },
    outputs: [out('y')],
  },
  {
    name: 'ReduceL2, ReduceMin, ReduceProd (opset 18), Less, LessOrEqual, GreaterOrEqual, And, Or',
    opset: 18,
    nodes: [
      node('ReduceL2', ['x', 'ax'], ['l']),
      node('ReduceMin', ['x', 'ax'], ['mi']),
      node('ReduceProd', ['x', 'ax'], ['p']),
      node('Less', ['l', 'p'], ['a']),
      node('LessOrEqual', ['mi', 'p'], ['b']),
      node('GreaterOrEqual', ['l', 'mi'], ['c']),
      node('And', ['a', 'b'], ['ab']),
      node('Or', ['ab', 'c'], ['o']),
      node('Where', ['o', 'l', 'p'], ['w']),
      node('Add', ['w', 'mi'], ['y']),
    ],
    inputs: { x: [2, 3, 4] },
    initializers: [ints('ax', [1], [2])],
    outputs: [out('y')],
  },
];

async function compare(c: OpCase): Promise<number> {
  const feeds = Object.fromEntries(Object.entries(c.inputs).map(([name, dims], i) => [name, f(name, dims, 100 + i, c.positive)]));
  const model = onnxModel({
    nodes: c.nodes,
    inputs: Object.entries(c.inputs).map(([name, dims]) => ({ name, dims })),
    outputs: c.outputs,
    initializers: c.initializers,
    opset: c.opset ?? 17,
  });
  model.irVersion = 10;
  const bytes = encode(model);
  const ref = await runReference(
    bytes,
    Object.fromEntries(Object.entries(feeds).map(([k, t]) => [k, { data: new Float32Array(t.rawData!.buffer.slice(0)), dims: t.dims! }])),
  );
  const program = new OnnxProgram(model, c.name, { maxElements: 1 << 24 });
  try {
    const ours = program.run(
      Object.fromEntries(Object.entries(feeds).map(([k, t]) => [k, tf.tensor(new Float32Array(t.rawData!.buffer.slice(0)), t.dims!)])),
      c.outputs.map((o) => o.name),
    );
    let worst = 0;
    for (const [i, o] of c.outputs.entries()) {
      const r = ref[o.name];
      expect(ours[i].shape, `${c.name}: shape of ${o.name}`).toEqual(r.dims);
      // Read asynchronously: the webgpu backend cannot read synchronously in Node.
      const v = await ours[i].data();
      for (let k = 0; k < r.data.length; k++) worst = Math.max(worst, Math.abs(v[k] - r.data[k]) / Math.max(1, Math.abs(r.data[k])));
    }
    // On a GPU, work it rejected reads back as zeros: a fault fails the case even where zeros would pass.
    expect(await takeWebgpuFaults(), `${c.name}: GPU faults`).toEqual([]);
    return worst;
  } finally {
    program.dispose();
  }
}

// webgpu where Dawn finds an adapter (a GPU, or Mesa's llvmpipe without one).
const gpu = await openWebgpu();
for (const backend of ['cpu', 'wasm', ...('error' in gpu ? [] : ['webgpu'])] as BackendChoice[]) {
  describe(`ONNX ops against onnxruntime-node (${backend})`, () => {
    beforeAll(async () => {
      await selectBackend({ choice: backend, logger: new MemoryLogger() });
    });
    for (const c of CASES) {
      it(c.name, async () => {
        expect(await compare(c)).toBeLessThan(1e-4);
      });
    }
  });
}

it('the cases cover every op the import supports', () => {
  const used = new Set(CASES.flatMap((c) => c.nodes.map((n) => n.opType)));
  expect(SUPPORTED_ONNX_OPS.filter((op) => !used.has(op))).toEqual([]);
});

it('an int64 initialiser and a declared int output stay integers', async () => {
  const model = onnxModel({
    nodes: [node('Shape', ['x'], ['y'])],
    inputs: [{ name: 'x', dims: [2, 3] }],
    outputs: [{ name: 'y', dims: [2], elemType: ONNX_DTYPE.INT64 }],
  });
  const program = new OnnxProgram(model, 'shape', { maxElements: 100 });
  const [y] = program.run({ x: tf.zeros([2, 3]) }, ['y']);
  expect(y.dtype).toBe('int32');
  expect(Array.from(y.dataSync())).toEqual([2, 3]);
});
