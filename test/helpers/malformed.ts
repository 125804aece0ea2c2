// Malformed models, generated from a valid example so each breaks exactly one thing.
// Each entry: the directory, and a fragment the one-line error must contain.
import * as tf from '@tensorflow/tfjs';
import { cpSync, mkdirSync, readFileSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { directoryWriter, SHARD_NAME } from '../../src/model/save.js';

export interface MalformedCase {
  name: string;
  dir: string;
  expect: RegExp;
}

type ModelJson = {
  modelTopology: Record<string, unknown>;
  weightsManifest: Array<{ paths: string[]; weights: Array<{ name: string; shape: number[]; dtype: string }> }>;
};

export async function writeMalformedModels(root: string, validModelDir: string): Promise<MalformedCase[]> {
  const cases: MalformedCase[] = [];
  const variant = (name: string, expect: RegExp, edit: (dir: string, json: ModelJson) => void) => {
    const dir = path.join(root, name);
    cpSync(validModelDir, dir, { recursive: true });
    const json = JSON.parse(readFileSync(path.join(dir, 'model.json'), 'utf8')) as ModelJson;
    edit(dir, json);
    cases.push({ name, dir, expect });
  };
  const writeJson = (dir: string, json: unknown) => writeFileSync(path.join(dir, 'model.json'), JSON.stringify(json));
  const shard = (dir: string) => path.join(dir, SHARD_NAME);

  variant('missing-shard', /missing weight shard 'group1-shard1of1\.bin'/, (dir) => unlinkSync(shard(dir)));
  variant('truncated-shard', /hold \d+ bytes but the manifest declares \d+/, (dir) => {
    const data = readFileSync(shard(dir));
    writeFileSync(shard(dir), data.subarray(0, data.length - 100));
  });
  variant('oversized-shard', /hold \d+ bytes but the manifest declares \d+/, (dir) => {
    writeFileSync(shard(dir), Buffer.concat([readFileSync(shard(dir)), Buffer.alloc(64)]));
  });
  variant('path-traversal', /escapes the model directory/, (dir, json) => {
    json.weightsManifest[0].paths = ['../../../etc/passwd'];
    writeJson(dir, json);
  });
  variant('absolute-path', /is absolute/, (dir, json) => {
    json.weightsManifest[0].paths = ['/etc/passwd'];
    writeJson(dir, json);
  });
  variant('symlink-escape', /symbolic link pointing outside the model directory/, (dir) => {
    const outside = path.join(root, 'outside-secret.bin');
    writeFileSync(outside, readFileSync(shard(dir)));
    unlinkSync(shard(dir));
    symlinkSync(outside, shard(dir));
  });
  variant('nan-weights', /non-finite values/, (dir) => {
    const data = readFileSync(shard(dir));
    new DataView(data.buffer, data.byteOffset).setFloat32(40, Number.NaN, true);
    writeFileSync(shard(dir), data);
  });
  variant('unsupported-layer', /layer classes tfjs does not support: QuantumConv2D/, (dir, json) => {
    const text = JSON.stringify(json).replace('"class_name":"Conv2D"', '"class_name":"QuantumConv2D"');
    writeFileSync(path.join(dir, 'model.json'), text);
  });
  variant('absurd-shape', /declares 1\.00e\+12 elements, above the limit/, (dir, json) => {
    json.weightsManifest[0].weights[0].shape = [1_000_000, 1_000_000];
    writeJson(dir, json);
  });
  variant('wrong-dtype', /unsupported dtype 'complex128'/, (dir, json) => {
    json.weightsManifest[0].weights[0].dtype = 'complex128';
    writeJson(dir, json);
  });
  variant('not-json', /is not valid JSON/, (dir) => {
    writeFileSync(path.join(dir, 'model.json'), '{"modelTopology": {"class_name": "Sequential",');
  });
  variant('lfs-pointer', /Git LFS pointer/, (dir) => {
    writeFileSync(path.join(dir, 'model.json'), 'version https://git-lfs.github.com/spec/v1\noid sha256:4d7a2146\nsize 1234\n');
  });
  variant('deep-json', /nesting depth \d+ is above the limit/, (dir) => {
    writeFileSync(path.join(dir, 'model.json'), `{"modelTopology":${'['.repeat(100_000)}${']'.repeat(100_000)}}`);
  });

  // A graph model with an op tfjs cannot run.
  const graphDir = path.join(root, 'unsupported-op');
  mkdirSync(graphDir, { recursive: true });
  writeJson(graphDir, {
    format: 'graph-model',
    modelTopology: {
      node: [
        {
          name: 'x',
          op: 'Placeholder',
          attr: { dtype: { type: 'DT_FLOAT' }, shape: { shape: { dim: [{ size: '-1' }, { size: '28' }, { size: '28' }, { size: '1' }] } } },
        },
        { name: 'y', op: 'MyCustomOp', input: ['x'] },
        { name: 'z', op: 'AnotherMissingOp', input: ['y'] },
      ],
      versions: { producer: 1 },
    },
    weightsManifest: [],
  });
  cases.push({ name: 'unsupported-op', dir: graphDir, expect: /ops tfjs does not support: AnotherMissingOp, MyCustomOp/ });

  // A well-formed model that is not an image classifier: flat [batch, 784] input.
  const flatDir = path.join(root, 'wrong-input-rank');
  const flat = tf.sequential({ layers: [tf.layers.dense({ inputShape: [784], units: 10 })] });
  await flat.save(directoryWriter(flatDir));
  flat.dispose();
  cases.push({ name: 'wrong-input-rank', dir: flatDir, expect: /wrong input rank: the model takes \[batch, 784\] \(rank 2\)/ });
  return cases;
}
