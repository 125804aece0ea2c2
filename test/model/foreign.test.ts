// Model files of other frameworks are refused with what they are and how to export them, not with
// a JSON parser's message. The fixtures were written by the frameworks themselves where one is
// installed here (scripts/fixtures/make-foreign-fixtures.py: torch.save in both formats, pickle,
// h5py), else by the format's published layout (safetensors, a Keras 3 archive, a TFLite header).
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadModel } from '../../src/model/load.js';
import { foreignFileFormat } from '../../src/model/foreign.js';
import { EXAMPLES, REPO } from '../helpers/run.js';

const FIXTURES = path.join(REPO, 'test/fixtures/foreign');
const refusal = async (spec: string) => {
  const err = await loadModel(spec).then(
    () => undefined,
    (e: Error) => e,
  );
  expect(err, spec).toBeInstanceOf(Error);
  return err!.message;
};

describe("another framework's model file", () => {
  it.each([
    ['model.pt', /model\.pt: is a PyTorch checkpoint \(torch\.save's zip archive\): .*torch\.onnx\.export/],
    ['legacy.pth', /legacy\.pth: is a Python pickle \(a legacy PyTorch checkpoint .*\), which runs code when loaded and is never loaded here/],
    ['model.pkl', /model\.pkl: is a Python pickle/],
    ['model.h5', /model\.h5: is a Keras HDF5 model: .*tensorflowjs_converter --input_format keras/],
    ['model.keras', /model\.keras: is a Keras 3 \(\.keras\) archive/],
    ['model.safetensors', /model\.safetensors: is a safetensors file, which holds weights but not the network/],
    ['model.tflite', /model\.tflite: is a TensorFlow Lite model/],
  ])('%s is named for what it is, with how to export it to a format the gate reads', async (name, expected) => {
    const message = await refusal(path.join(FIXTURES, name));
    expect(message).toMatch(expected);
    expect(message).toMatch(/the gate reads TensorFlow\.js \(model\.json\) and ONNX models/);
  });

  it('is recognised by its bytes, not its name; a name alone says only what it looks like', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'bg-foreign-'));
    // A PyTorch checkpoint renamed to model.json is still one.
    copyFileSync(path.join(FIXTURES, 'model.pt'), path.join(dir, 'model.json'));
    expect(await refusal(path.join(dir, 'model.json'))).toMatch(/model\.json: is a PyTorch checkpoint/);
    // Bytes of no known format under a PyTorch name.
    writeFileSync(path.join(dir, 'weights.pt'), 'not a checkpoint at all');
    expect(await refusal(path.join(dir, 'weights.pt'))).toMatch(/weights\.pt: is named as another framework's model files are \(\.pt\)/);
    // The formats the gate reads are not mistaken for one.
    expect(foreignFileFormat(path.join(EXAMPLES.cleanCnn, 'model.json'))).toBeUndefined();
    expect(foreignFileFormat(path.join(REPO, 'test/fixtures/onnx/cnn-mnist/model.onnx'))).toBeUndefined();
  });

  it('from a URL too: the bytes fetched are told apart the same way', async () => {
    const body = readFileSync(path.join(FIXTURES, 'model.pt'));
    const server = createServer((_, res) => res.end(body));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/models/classifier.pt`;
      expect(await refusal(url)).toMatch(/classifier\.pt: is a PyTorch checkpoint/);
    } finally {
      server.close();
    }
  });

  it('a directory without a model the gate reads says what it holds instead', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'bg-foreign-dir-'));
    copyFileSync(path.join(FIXTURES, 'model.pt'), path.join(dir, 'model.pt'));
    expect(await refusal(dir)).toMatch(
      /is a directory without a model\.json, model\.onnx or dual-encoder\.json: it holds model\.pt; model\.pt is a PyTorch checkpoint/,
    );
    // TensorFlow.js weight shards without their model.json are no other framework's.
    const shards = path.join(dir, 'shards');
    mkdirSync(shards);
    copyFileSync(path.join(EXAMPLES.cleanCnn, 'group1-shard1of1.bin'), path.join(shards, 'group1-shard1of1.bin'));
    expect(await refusal(shards)).toMatch(/is a directory without a model\.json, model\.onnx or dual-encoder\.json$/);
    const saved = path.join(dir, 'saved');
    mkdirSync(saved);
    writeFileSync(path.join(saved, 'saved_model.pb'), '');
    expect(await refusal(saved)).toMatch(/: it is a TensorFlow SavedModel; .*--input_format tf_saved_model/);
  });
});
