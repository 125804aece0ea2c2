// The part of onnx.proto (github.com/onnx/onnx, onnx/onnx.proto, IR version 10) the gate reads
// and writes, as a protobufjs descriptor. Field numbers are ONNX's; what is left out is either
// skipped on decode (docs, quantisation notes) or detected and refused (functions, sparse
// initialisers, training info), so a re-encoded model never silently loses a part that runs.
import protobuf from 'protobufjs/light.js';
import { InputError } from '../../errors.js';

const repeated = (type: string, id: number, packed?: boolean) => ({ type, id, rule: 'repeated', ...(packed === undefined ? {} : { options: { packed } }) });

const DESCRIPTOR = {
  nested: {
    onnx: {
      nested: {
        ModelProto: {
          fields: {
            irVersion: { type: 'int64', id: 1 },
            opsetImport: repeated('OperatorSetIdProto', 8),
            producerName: { type: 'string', id: 2 },
            producerVersion: { type: 'string', id: 3 },
            domain: { type: 'string', id: 4 },
            modelVersion: { type: 'int64', id: 5 },
            docString: { type: 'string', id: 6 },
            graph: { type: 'GraphProto', id: 7 },
            metadataProps: repeated('StringStringEntryProto', 14),
            // Kept as raw bytes: only their presence matters (refused, see onnxModelFacts).
            trainingInfo: repeated('bytes', 20),
            functions: repeated('bytes', 25),
          },
        },
        OperatorSetIdProto: { fields: { domain: { type: 'string', id: 1 }, version: { type: 'int64', id: 2 } } },
        StringStringEntryProto: { fields: { key: { type: 'string', id: 1 }, value: { type: 'string', id: 2 } } },
        GraphProto: {
          fields: {
            node: repeated('NodeProto', 1),
            name: { type: 'string', id: 2 },
            initializer: repeated('TensorProto', 5),
            sparseInitializer: repeated('bytes', 15),
            docString: { type: 'string', id: 10 },
            input: repeated('ValueInfoProto', 11),
            output: repeated('ValueInfoProto', 12),
            valueInfo: repeated('ValueInfoProto', 13),
          },
        },
        NodeProto: {
          fields: {
            input: repeated('string', 1),
            output: repeated('string', 2),
            name: { type: 'string', id: 3 },
            opType: { type: 'string', id: 4 },
            domain: { type: 'string', id: 7 },
            attribute: repeated('AttributeProto', 5),
            docString: { type: 'string', id: 6 },
          },
        },
        AttributeProto: {
          fields: {
            name: { type: 'string', id: 1 },
            refAttrName: { type: 'string', id: 21 },
            type: { type: 'int32', id: 20 },
            f: { type: 'float', id: 2 },
            i: { type: 'int64', id: 3 },
            s: { type: 'bytes', id: 4 },
            t: { type: 'TensorProto', id: 5 },
            g: { type: 'GraphProto', id: 6 },
            floats: repeated('float', 7, false),
            ints: repeated('int64', 8, false),
            strings: repeated('bytes', 9),
            tensors: repeated('TensorProto', 10),
            graphs: repeated('GraphProto', 11),
          },
        },
        TensorProto: {
          fields: {
            dims: repeated('int64', 1, false),
            dataType: { type: 'int32', id: 2 },
            floatData: repeated('float', 4, true),
            int32Data: repeated('int32', 5, true),
            stringData: repeated('bytes', 6),
            int64Data: repeated('int64', 7, true),
            name: { type: 'string', id: 8 },
            docString: { type: 'string', id: 12 },
            rawData: { type: 'bytes', id: 9 },
            externalData: repeated('StringStringEntryProto', 13),
            dataLocation: { type: 'int32', id: 14 },
            doubleData: repeated('double', 10, true),
            uint64Data: repeated('uint64', 11, true),
          },
        },
        ValueInfoProto: { fields: { name: { type: 'string', id: 1 }, type: { type: 'TypeProto', id: 2 }, docString: { type: 'string', id: 3 } } },
        TypeProto: {
          fields: {
            tensorType: { type: 'TensorTypeProto', id: 1 },
            // Other value kinds: only their presence matters (a classifier's input is a tensor).
            sequenceType: { type: 'bytes', id: 4 },
            mapType: { type: 'bytes', id: 5 },
            denotation: { type: 'string', id: 6 },
            sparseTensorType: { type: 'bytes', id: 8 },
            optionalType: { type: 'bytes', id: 9 },
          },
        },
        TensorTypeProto: { fields: { elemType: { type: 'int32', id: 1 }, shape: { type: 'TensorShapeProto', id: 2 } } },
        TensorShapeProto: { fields: { dim: repeated('Dimension', 1) } },
        Dimension: { fields: { dimValue: { type: 'int64', id: 1 }, dimParam: { type: 'string', id: 2 }, denotation: { type: 'string', id: 3 } } },
      },
    },
  },
};

const root = protobuf.Root.fromJSON(DESCRIPTOR);
const ModelProto = root.lookupType('onnx.ModelProto');

export interface OnnxTensor {
  name?: string;
  dims?: number[];
  dataType?: number;
  floatData?: number[];
  int32Data?: number[];
  int64Data?: number[];
  doubleData?: number[];
  uint64Data?: number[];
  stringData?: Uint8Array[];
  rawData?: Uint8Array;
  externalData?: Array<{ key: string; value: string }>;
  dataLocation?: number;
  docString?: string;
}

export interface OnnxAttribute {
  name: string;
  type?: number;
  f?: number;
  i?: number;
  s?: Uint8Array;
  t?: OnnxTensor;
  g?: OnnxGraph;
  floats?: number[];
  ints?: number[];
  strings?: Uint8Array[];
  tensors?: OnnxTensor[];
  graphs?: OnnxGraph[];
  refAttrName?: string;
}

export interface OnnxNode {
  input?: string[];
  output?: string[];
  name?: string;
  opType: string;
  domain?: string;
  attribute?: OnnxAttribute[];
}

export interface OnnxValueInfo {
  name: string;
  type?: {
    tensorType?: { elemType?: number; shape?: { dim?: Array<{ dimValue?: number; dimParam?: string }> } };
    sequenceType?: Uint8Array;
    mapType?: Uint8Array;
    sparseTensorType?: Uint8Array;
    optionalType?: Uint8Array;
  };
}

export interface OnnxGraph {
  name?: string;
  node?: OnnxNode[];
  initializer?: OnnxTensor[];
  sparseInitializer?: Uint8Array[];
  input?: OnnxValueInfo[];
  output?: OnnxValueInfo[];
  valueInfo?: OnnxValueInfo[];
}

export interface OnnxModel {
  irVersion?: number;
  opsetImport?: Array<{ domain?: string; version?: number }>;
  producerName?: string;
  producerVersion?: string;
  domain?: string;
  modelVersion?: number;
  docString?: string;
  graph?: OnnxGraph;
  metadataProps?: Array<{ key: string; value: string }>;
  trainingInfo?: Uint8Array[];
  functions?: Uint8Array[];
}

/** ONNX TensorProto.DataType values the gate can hold in tfjs (float32, int32 or bool). */
export const ONNX_DTYPE = {
  FLOAT: 1,
  UINT8: 2,
  INT8: 3,
  UINT16: 4,
  INT16: 5,
  INT32: 6,
  INT64: 7,
  STRING: 8,
  BOOL: 9,
  FLOAT16: 10,
  DOUBLE: 11,
  UINT32: 12,
  UINT64: 13,
} as const;

/** Decodes a serialised ModelProto; any protobuf error names the file. */
export function decodeOnnx(bytes: Uint8Array, file: string): OnnxModel {
  let message: protobuf.Message;
  try {
    message = ModelProto.decode(bytes);
  } catch (err) {
    throw new InputError(file, `is not a valid ONNX model (protobuf: ${(err as Error).message})`);
  }
  // int64 → number: shapes and attributes fit; INT64_MAX (Slice's "to the end") rounds harmlessly.
  const model = ModelProto.toObject(message, { longs: Number, arrays: false, defaults: false }) as OnnxModel;
  if (!model.graph) throw new InputError(file, 'is not an ONNX model: it has no graph (is it an ONNX file at all?)');
  return model;
}

export function encodeOnnx(model: OnnxModel): Uint8Array {
  return ModelProto.encode(ModelProto.fromObject(model)).finish();
}
