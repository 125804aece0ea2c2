// The real pretrained models shipped by the nsfwjs package load through the same adapter and
// yield input gradients on both pure-JS backends. Each check runs in its own process.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { extractNsfwjsModels, NSFWJS_MODELS } from '../helpers/nsfwjs.js';
import { REPO } from '../helpers/run.js';

const run = promisify(execFile);
const dirs = extractNsfwjsModels();
// MobileNetV2 is built of inverted residual blocks around depthwise convolutions; InceptionV3
// concatenates its branches and has neither (the published architectures).
const expected = {
  mobilenet_v2: { format: 'layers-model', size: 224, structure: { residual: true, depthwise: true } },
  mobilenet_v2_mid: { format: 'graph-model', size: 224, structure: { residual: true, depthwise: true } },
  inception_v3: { format: 'layers-model', size: 299, structure: { residual: false, depthwise: false } },
} as const;

describe.each(['wasm', 'cpu'] as const)('nsfwjs models on %s', (backend) => {
  it.each(NSFWJS_MODELS.map((m) => [m]))(
    '%s: loads, finds its logits and gives input gradients',
    async (name) => {
      const { stdout } = await run(process.execPath, ['--import', 'tsx', 'test/helpers/input-gradient-check.ts', backend, dirs[name]], {
        cwd: REPO,
        maxBuffer: 1 << 20,
      });
      const r = JSON.parse(stdout.trim().split('\n').at(-1)!);
      const { format, size, structure } = expected[name];
      expect(r.backend).toBe(backend);
      expect(r.format).toBe(format);
      expect(r.structure).toEqual(structure);
      expect(r.inputShape).toEqual([size, size, 3]);
      expect(r.numClasses).toBe(5);
      expect(r.endsInSoftmax).toBe(true);
      // softmax(the logits the adapter found) is what the network itself outputs: the right node was read.
      expect(r.referenceLength).toBe(5);
      expect(r.maxProbabilityDiff).toBeLessThan(1e-4);
      expect(r.gradientShape).toEqual([1, size, size, 3]);
      expect(Number.isFinite(r.gradientNorm) && r.gradientNorm > 0).toBe(true);
    },
    600_000,
  );
});
