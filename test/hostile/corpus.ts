// The hostile-input corpus, generated from the valid examples so each case breaks one thing:
// malformed models, hostile bundles, bad policy files, data that is not images, and caps set low
// by policy. Every case must end in exit code 2 with a one-line error naming the file and cause.
import { cpSync, mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import * as tar from 'tar';
import { writeNpy } from '../../src/data/npy.js';
import { decodeOnnx, encodeOnnx, type OnnxModel } from '../../src/model/onnx/proto.js';
import { writeMalformedModels } from '../helpers/malformed.js';
import { EXAMPLES, REPO } from '../helpers/run.js';
import { rawZip } from '../helpers/zip.js';

const ONNX_FIXTURES = path.join(REPO, 'test/fixtures/onnx');

export interface HostileCase {
  name: string;
  /** `backdoor-gate scan` arguments after the subcommand (the report path is added by the runner). */
  args: string[];
  /** What the one-line error must say (it names the file and the cause). */
  expect: RegExp;
}

export async function writeHostileCorpus(root: string): Promise<HostileCase[]> {
  const cases: HostileCase[] = [];
  const add = (name: string, args: string[], expect: RegExp) => cases.push({ name, args, expect });
  const dir = (name: string) => {
    const d = path.join(root, name);
    mkdirSync(d, { recursive: true });
    return d;
  };

  // Models: lying manifests, truncated/oversized shards, traversal, symlinks, NaN, absurd shapes, …
  for (const c of await writeMalformedModels(dir('models'), EXAMPLES.cleanBn)) add(`model/${c.name}`, [c.dir, '--max-probe-images', '8'], c.expect);

  // Bundles.
  const model = (f: string) => readFileSync(path.join(EXAMPLES.cleanBn, f));
  const zip = (name: string, entries: Parameters<typeof rawZip>[0]) => {
    const file = path.join(dir('bundles'), name);
    writeFileSync(file, rawZip(entries));
    return file;
  };
  const modelJson = { name: 'model.json', data: model('model.json') };
  add(
    'bundle/zip-traversal',
    [zip('traversal.zip', [modelJson, { name: '../../escaped.txt', data: Buffer.from('x') }])],
    /traversal\.zip: .*(invalid relative path|escapes the archive)/,
  );
  add('bundle/zip-absolute', [zip('absolute.zip', [{ name: '/tmp/bg-absolute-escape.txt', data: Buffer.from('x') }])], /absolute\.zip: .*absolute path/);
  add(
    'bundle/zip-symlink',
    [zip('symlink.zip', [modelJson, { name: 'group1-shard1of1.bin', data: Buffer.from('/etc/passwd'), mode: 0o120777 }])],
    /symlink\.zip: entry 'group1-shard1of1\.bin' is a symbolic link/,
  );
  add(
    'bundle/zip-no-model',
    [zip('empty.zip', [{ name: 'README.md', data: Buffer.from('hi') }])],
    /empty\.zip: holds no model \(expected a tfjs model\.json plus its weight shards, or one \.onnx file\)/,
  );
  const garbage = path.join(dir('bundles'), 'garbage.zip');
  writeFileSync(garbage, Buffer.from('PK\u0003\u0004 this is not really a zip archive'));
  add('bundle/not-a-zip', [garbage], /garbage\.zip: is not a readable zip archive/);
  const limitsPolicy = path.join(dir('policies'), 'small-limits.yml');
  writeFileSync(limitsPolicy, 'limits:\n  weights-mb: 1\n  model-json-mb: 1\n  archive-entries: 20\n');
  add(
    'bundle/zip-bomb',
    [zip('bomb.zip', [modelJson, { name: 'filler.bin', data: Buffer.alloc(3 * 1024 * 1024) }]), '--policy', limitsPolicy],
    /bomb\.zip: expands to more than 2097152 bytes/,
  );
  add(
    'bundle/zip-entries',
    [
      zip(
        'many.zip',
        Array.from({ length: 30 }, (_, i) => ({ name: `f${i}.txt`, data: Buffer.from('x') })),
      ),
      '--policy',
      limitsPolicy,
    ],
    /many\.zip: holds more than 20 entries/,
  );
  const tarSrc = dir('tar-src');
  cpSync(EXAMPLES.cleanBn, path.join(tarSrc, 'm'), { recursive: true });
  symlinkSync('/etc/passwd', path.join(tarSrc, 'm', 'extra.bin'));
  const tarLink = path.join(root, 'bundles', 'symlink.tar.gz');
  await tar.c({ gzip: true, file: tarLink, cwd: tarSrc }, ['m']);
  add('bundle/tar-symlink', [tarLink], /symlink\.tar\.gz: entry 'm\/extra\.bin' is a SymbolicLink/);
  writeFileSync(path.join(tarSrc, 'outside.txt'), 'x');
  const tarEscape = path.join(root, 'bundles', 'escape.tar');
  await tar.c({ file: tarEscape, cwd: path.join(tarSrc, 'm'), preservePaths: true }, ['../outside.txt']);
  add('bundle/tar-traversal', [tarEscape], /escape\.tar: entry '\.\.\/outside\.txt' escapes the archive/);
  const truncated = path.join(root, 'bundles', 'truncated.tar.gz');
  writeFileSync(truncated, readFileSync(tarLink).subarray(0, 100));
  add('bundle/tar-truncated', [truncated], /truncated\.tar\.gz: (is not a readable tar archive|is an empty or unreadable tar archive)/);

  // ONNX models, each broken one way (from the committed PyTorch CNN export).
  const onnxBytes = readFileSync(path.join(ONNX_FIXTURES, 'cnn-mnist', 'model.onnx'));
  const onnx = (name: string, bytes: Uint8Array) => {
    const d = dir(`onnx/${name}`);
    writeFileSync(path.join(d, 'model.onnx'), bytes);
    return d;
  };
  const edited = (edit: (m: OnnxModel) => void) => {
    const m = decodeOnnx(onnxBytes, 'fixture');
    edit(m);
    return encodeOnnx(m);
  };
  add('onnx/truncated', [onnx('truncated', onnxBytes.subarray(0, onnxBytes.length / 2))], /model\.onnx: is not a valid ONNX model \(protobuf: /);
  add(
    'onnx/unsupported-ops',
    [
      onnx(
        'unsupported',
        edited((m) => m.graph!.node!.filter((n) => n.opType === 'Relu').forEach((n, i) => (n.opType = i ? 'Selu' : 'ThresholdedRelu'))),
      ),
    ],
    /model\.onnx: uses ONNX ops the gate cannot run: Selu \(×2\), ThresholdedRelu\. Supported: /,
  );
  // A graph whose kernel throws at run time: one line naming the node (the fuzzer's worker deaths
  // came from such kernels under tfjs' profiler; test/engine/memory.test.ts holds that case).
  add(
    'onnx/kernel-throws',
    [
      onnx(
        'kernel-throws',
        edited((m) => (m.graph!.node!.find((n) => n.name === '/conv2/Conv')!.opType = 'MatMul')),
      ),
    ],
    /model\.onnx: could not run: node '\/conv2\/Conv' \(MatMul\): Error in matMul: inner shapes/,
  );
  add(
    'onnx/old-opset',
    [
      onnx(
        'opset',
        edited((m) => (m.opsetImport = [{ domain: '', version: 9 }])),
      ),
    ],
    /model\.onnx: uses opset 9; the gate runs opsets 13–21/,
  );
  add(
    'onnx/dangling-input',
    [
      onnx(
        'dangling',
        edited((m) => (m.graph!.node![3].input![0] = 'nowhere')),
      ),
    ],
    /model\.onnx: node '.*' reads 'nowhere', which no node, input or initialiser provides/,
  );
  add(
    'onnx/external-traversal',
    [
      onnx(
        'external',
        edited((m) =>
          Object.assign(m.graph!.initializer![0], { rawData: undefined, dataLocation: 1, externalData: [{ key: 'location', value: '../../../etc/passwd' }] }),
        ),
      ),
    ],
    /model\.onnx: external data '\.\.\/\.\.\/\.\.\/etc\/passwd' is outside the model's directory/,
  );
  add(
    'onnx/wrong-shape-weights',
    [
      onnx(
        'shapes',
        edited((m) => (m.graph!.initializer!.find((t) => t.dims?.length === 4)!.dims = [3, 3, 3, 3])),
      ),
    ],
    /model\.onnx: (tensor '.*' has \d+ bytes of raw data; its dims \[3, 3, 3, 3\] need 324|could not run: node)/,
  );

  // Dual encoders, each broken one way (from the committed MNIST CLIP fixture).
  const dual = (name: string, edit: (d: string, m: Record<string, any>) => void) => {
    const d = path.join(dir('dual'), name);
    cpSync(path.join(REPO, 'test/fixtures/dual/clip-clean'), d, { recursive: true });
    const m = JSON.parse(readFileSync(path.join(d, 'dual-encoder.json'), 'utf8'));
    edit(d, m);
    writeFileSync(path.join(d, 'dual-encoder.json'), JSON.stringify(m));
    return d;
  };
  add(
    'dual/part-symlink-outside',
    [
      dual('symlink', (d) => {
        cpSync(path.join(d, 'text'), path.join(root, 'outside-text'), { recursive: true });
        rmSync(path.join(d, 'text'), { recursive: true });
        symlinkSync(path.join(root, 'outside-text'), path.join(d, 'text'));
      }),
    ],
    /text\/model\.json: is a symbolic link pointing outside the model directory/,
  );
  add(
    'dual/nan-tokens',
    [dual('nan', (d) => writeNpy(path.join(d, 'text', 'token_embedding.npy'), new Float32Array(19 * 16).fill(Number.NaN), [19, 16]))],
    /token_embedding\.npy: holds NaN or infinite values/,
  );
  add(
    'dual/token-width',
    [dual('width', (d) => writeNpy(path.join(d, 'text', 'token_embedding.npy'), new Float32Array(19 * 8), [19, 8]))],
    /dual-encoder\.json: token_embedding rows have 8 values; the text encoder reads 16/,
  );
  add('dual/own-directory', [dual('own', (_d, m) => (m.image_encoder = '.'))], /dual-encoder\.json: names part '\.', which is the manifest's own directory/);
  add(
    'dual/nested',
    [
      dual('nested', (d, m) => {
        cpSync(path.join(REPO, 'test/fixtures/dual/clip-clean'), path.join(d, 'inner'), { recursive: true });
        m.image_encoder = 'inner';
      }),
    ],
    /dual-encoder\.json: part 'inner' is itself a dual encoder/,
  );
  add(
    'dual/prompt-too-long',
    [dual('long', (_d, m) => m.text.templates.push('a a a a a a a {}'))],
    /dual-encoder\.json: prompt 'a a a a a a a zero' needs 8 tokens; the text encoder reads 6/,
  );

  // A model.json over the policy's cap: refused before it is parsed.
  const bigJson = dir('big-json');
  cpSync(EXAMPLES.cleanBn, bigJson, { recursive: true });
  writeFileSync(
    path.join(bigJson, 'model.json'),
    model('model.json')
      .toString('utf8')
      .replace(/\}\s*$/, `${' '.repeat(1_200_000)}}`),
  );
  add('limits/model-json-over-cap', [bigJson, '--policy', limitsPolicy], /model\.json: is \d+ bytes, above the limit of 1048576/);

  // Policy files.
  const policy = (name: string, text: string) => {
    const file = path.join(dir('policies'), name);
    writeFileSync(file, text);
    return file;
  };
  add(
    'policy/wrong-types',
    [EXAMPLES.cleanBn, '--policy', policy('wrong-types.yml', 'scans: yes\nseed: abc\nthresholds: {inversion: {suspicious: high}}\n')],
    /wrong-types\.yml: does not match the policy schema: scans: .*seed: /,
  );
  add('policy/not-yaml', [EXAMPLES.cleanBn, '--policy', policy('broken.yml', 'scans: [inversion\n  fail-on: {\n')], /broken\.yml: is not valid YAML/);
  add(
    'policy/alias-bomb',
    [
      EXAMPLES.cleanBn,
      '--policy',
      policy(
        'bomb.yml',
        `a: &a [x, x, x, x, x, x, x, x, x]\n${Array.from(
          { length: 8 },
          (_, i) =>
            `${String.fromCharCode(98 + i)}: &${String.fromCharCode(98 + i)} [${Array(9)
              .fill(`*${String.fromCharCode(97 + i)}`)
              .join(', ')}]`,
        ).join('\n')}\n`,
      ),
    ],
    /bomb\.yml: (cannot be read|is not valid YAML|does not match)/,
  );
  add(
    'policy/unknown-key',
    [EXAMPLES.cleanBn, '--policy', policy('unknown.yml', 'scanz: [inversion]\n')],
    /unknown\.yml: does not match the policy schema: .*scanz/,
  );
  add(
    'policy/huge',
    [EXAMPLES.cleanBn, '--policy', policy('huge.yml', `# ${'x'.repeat(70_000)}\n`)],
    /huge\.yml: is \d+ bytes; a policy file may be at most 65536/,
  );

  // Data that is not images.
  const notImages = dir('data-not-images');
  writeFileSync(path.join(notImages, 'digit.png'), 'this is not a PNG');
  add('data/text-as-png', [EXAMPLES.cleanBn, '--data', notImages], /digit\.png: /);
  const flat = dir('data-flat');
  writeNpy(path.join(flat, 'x.npy'), new Float32Array(5 * 7), [5, 7]);
  add('data/npy-wrong-rank', [EXAMPLES.cleanBn, '--data', path.join(flat, 'x.npy')], /x\.npy: has shape \(5, 7\); images must be/);
  const outOfRange = dir('data-range');
  writeNpy(path.join(outOfRange, 'x.npy'), new Float32Array(2 * 28 * 28).fill(255), [2, 28, 28]);
  add('data/npy-out-of-range', [EXAMPLES.cleanBn, '--data', path.join(outOfRange, 'x.npy')], /x\.npy: holds the value 255 at element 0/);
  const fourChannels = dir('data-channels');
  writeNpy(path.join(fourChannels, 'x.npy'), new Uint8Array(2 * 8 * 8 * 4), [2, 8, 8, 4]);
  add('data/npy-4-channels', [EXAMPLES.cleanBn, '--data', path.join(fourChannels, 'x.npy')], /x\.npy: has 4 channels; images need 1 or 3/);
  add('data/missing', [EXAMPLES.cleanBn, '--data', path.join(root, 'no-such-data')], /no-such-data: data path does not exist/);
  return cases;
}
