// The TensorFlow ops tfjs-converter can execute, from its own op tables (one import per category),
// so a graph model's unsupported ops are all listed in one error before tfjs fails on the first.
import { json as arithmetic } from '@tensorflow/tfjs-converter/dist/operations/op_list/arithmetic.js';
import { json as basicMath } from '@tensorflow/tfjs-converter/dist/operations/op_list/basic_math.js';
import { json as control } from '@tensorflow/tfjs-converter/dist/operations/op_list/control.js';
import { json as convolution } from '@tensorflow/tfjs-converter/dist/operations/op_list/convolution.js';
import { json as creation } from '@tensorflow/tfjs-converter/dist/operations/op_list/creation.js';
import { json as dynamic } from '@tensorflow/tfjs-converter/dist/operations/op_list/dynamic.js';
import { json as evaluation } from '@tensorflow/tfjs-converter/dist/operations/op_list/evaluation.js';
import { json as graph } from '@tensorflow/tfjs-converter/dist/operations/op_list/graph.js';
import { json as hashTable } from '@tensorflow/tfjs-converter/dist/operations/op_list/hash_table.js';
import { json as image } from '@tensorflow/tfjs-converter/dist/operations/op_list/image.js';
import { json as logical } from '@tensorflow/tfjs-converter/dist/operations/op_list/logical.js';
import { json as matrices } from '@tensorflow/tfjs-converter/dist/operations/op_list/matrices.js';
import { json as normalization } from '@tensorflow/tfjs-converter/dist/operations/op_list/normalization.js';
import { json as ragged } from '@tensorflow/tfjs-converter/dist/operations/op_list/ragged.js';
import { json as reduction } from '@tensorflow/tfjs-converter/dist/operations/op_list/reduction.js';
import { json as sliceJoin } from '@tensorflow/tfjs-converter/dist/operations/op_list/slice_join.js';
import { json as sparse } from '@tensorflow/tfjs-converter/dist/operations/op_list/sparse.js';
import { json as spectral } from '@tensorflow/tfjs-converter/dist/operations/op_list/spectral.js';
import { json as string } from '@tensorflow/tfjs-converter/dist/operations/op_list/string.js';
import { json as tfdf } from '@tensorflow/tfjs-converter/dist/operations/op_list/tfdf.js';
import { json as transformation } from '@tensorflow/tfjs-converter/dist/operations/op_list/transformation.js';

const TABLES = [
  arithmetic,
  basicMath,
  control,
  convolution,
  creation,
  dynamic,
  evaluation,
  graph,
  hashTable,
  image,
  logical,
  matrices,
  normalization,
  ragged,
  reduction,
  sliceJoin,
  sparse,
  spectral,
  string,
  tfdf,
  transformation,
];

/** Op names (e.g. "Conv2D", "FusedBatchNormV3") the tfjs graph executor supports. */
export const SUPPORTED_GRAPH_OPS: ReadonlySet<string> = new Set(TABLES.flatMap((table) => (table as Array<{ tfOpName: string }>).map((op) => op.tfOpName)));
