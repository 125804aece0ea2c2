// Model files the gate does not read (PyTorch, Keras, safetensors, TensorFlow Lite, SavedModel),
// told apart by their first bytes, so that the error says what the file is and how to export it
// to a format the gate reads instead of "is not valid JSON". Nothing here parses such a file: a
// pickle in particular runs code when loaded, and is never loaded.
import { closeSync, existsSync, openSync, readdirSync, readSync, statSync } from 'node:fs';
import path from 'node:path';

/** How many leading bytes the sniffing reads. */
export const SNIFF_BYTES = 512;

const TO_ONNX = 'the gate reads TensorFlow.js (model.json) and ONNX models';
/** Names other frameworks give their model files (not .bin, which TensorFlow.js' weight shards share). */
const FOREIGN_NAME = /\.(pt|pth|ckpt|h5|hdf5|keras|safetensors|tflite|pkl)$/i;
const startsWith = (head: Uint8Array, bytes: number[], at = 0) => bytes.every((b, i) => head[at + i] === b);
const ascii = (s: string) => [...s].map((c) => c.charCodeAt(0));

/**
 * What a model file in a format the gate does not read is, and how to export it, from its first
 * bytes (SNIFF_BYTES of them) and its name; undefined when it looks like none of them.
 */
export function foreignFormat(file: string, head: Uint8Array): string | undefined {
  const ext = path.extname(file).toLowerCase();
  if (startsWith(head, [0x89, ...ascii('HDF'), 0x0d, 0x0a, 0x1a, 0x0a]))
    return `a Keras HDF5 model: ${TO_ONNX}; convert it with \`tensorflowjs_converter --input_format keras\` or export it with tf2onnx`;
  if (startsWith(head, ascii('PK\x03\x04'))) {
    // A local file header: the first entry's name starts at byte 30 (its length at byte 26).
    const nameLength = head[26] | (head[27] << 8);
    const first = Buffer.from(head.subarray(30, 30 + nameLength)).toString('latin1');
    if (ext === '.keras' || first === 'metadata.json' || first === 'config.json')
      return `a Keras 3 (.keras) archive: ${TO_ONNX}; convert it with \`tensorflowjs_converter\` or export it with tf2onnx`;
    if (/(^|\/)(data\.pkl|version|byteorder)$/.test(first) || ['.pt', '.pth', '.bin', '.ckpt'].includes(ext))
      return `a PyTorch checkpoint (torch.save's zip archive): ${TO_ONNX}; export the model with \`torch.onnx.export\` (README, "Models from other frameworks")`;
    return `a zip archive: ${TO_ONNX}; unpack a model bundle first, or export the model to ONNX`;
  }
  // Pickle protocol 2–5 opens with PROTO n: a legacy torch.save file or a pickled model.
  if (head[0] === 0x80 && head[1] >= 2 && head[1] <= 5)
    return `a Python pickle (a legacy PyTorch checkpoint or a pickled model), which runs code when loaded and is never loaded here: ${TO_ONNX}; export the model with \`torch.onnx.export\``;
  if (startsWith(head, ascii('TFL3'), 4)) return `a TensorFlow Lite model: ${TO_ONNX}; convert the model it was made from (tf2onnx or tensorflowjs_converter)`;
  // safetensors: a little-endian u64 header length, then the JSON header; weights without the network.
  if (head.length > 9 && head[6] === 0 && head[7] === 0 && startsWith(head, ascii('{"'), 8))
    return `a safetensors file, which holds weights but not the network that uses them: ${TO_ONNX}; export the model with \`torch.onnx.export\``;
  if (FOREIGN_NAME.test(file)) return `named as another framework's model files are (${ext}), and not a model the gate reads: ${TO_ONNX}`;
  return undefined;
}

/** foreignFormat of a local file, reading only its first bytes. */
export function foreignFileFormat(file: string): string | undefined {
  const fd = openSync(file, 'r');
  try {
    const head = new Uint8Array(SNIFF_BYTES);
    const n = readSync(fd, head, 0, SNIFF_BYTES, 0);
    return foreignFormat(file, head.subarray(0, n));
  } finally {
    closeSync(fd);
  }
}

/** What a directory without a model the gate reads holds instead, for its error ('' when nothing known). */
export function foreignDirectoryHint(dir: string): string {
  if (existsSync(path.join(dir, 'saved_model.pb')))
    return `: it is a TensorFlow SavedModel; ${TO_ONNX}; convert it with \`tensorflowjs_converter --input_format tf_saved_model\` or tf2onnx`;
  const found = readdirSync(dir).filter((n) => FOREIGN_NAME.test(n) && statSync(path.join(dir, n)).isFile());
  if (!found.length) return '';
  const first = found[0];
  const what = foreignFileFormat(path.join(dir, first));
  return `: it holds ${found.slice(0, 3).join(', ')}${found.length > 3 ? ', …' : ''}${what ? `; ${first} is ${what}` : ''}`;
}
