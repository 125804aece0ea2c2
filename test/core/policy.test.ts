import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import {
  DEFAULT_BUDGETS,
  DEFAULT_MAX_ACCURACY_DROP,
  DEFAULT_THRESHOLDS,
  parsePolicy,
  policyJsonSchema,
  readPolicy,
  resolveBudgets,
  type PolicyFile,
} from '../../src/core/policy.js';
import { ConfigurationError, InputError } from '../../src/errors.js';
import { exitCodeFor } from '../../src/report/types.js';
import { resolveJobs, shardFlags } from '../../src/jobs.js';
import { buildSettings } from '../../src/settings.js';

const tmp = () => mkdtempSync(path.join(os.tmpdir(), 'bg-policy-'));
const withPolicy = (policy: PolicyFile) => () => ({ policy, source: 'test policy' });
const inputs = (values: Record<string, string>) => (name: string) => values[name];

describe('policy JSON Schema (schema/backdoor-gate.schema.json)', () => {
  const schema = JSON.parse(readFileSync('schema/backdoor-gate.schema.json', 'utf8'));
  it('is what the zod schema exports (run npm run schema after changing the policy)', () => {
    expect(schema).toEqual(JSON.parse(JSON.stringify(policyJsonSchema())));
  });

  it('agrees with the gate: an independent validator (ajv) accepts the example and rejects what the gate rejects', () => {
    const validate = new Ajv2020({ strict: false }).compile(schema);
    expect(validate(parseYaml(readFileSync('examples/backdoor-gate.yml', 'utf8'))), JSON.stringify(validate.errors)).toBe(true);
    for (const bad of [
      { 'fail-on': 'never' },
      { budgets: { inversion: { epsilon: 2 } } },
      { scans: ['hessian', 'magic'] },
      { prior: 1 },
      { surprise: true },
      { cleaning: { 'max-accuracy-drop': -1 } },
      { cleaning: { 'max-accuracy-drop': 101 } },
    ]) {
      expect(validate(bad), JSON.stringify(bad)).toBe(false);
      expect(() => parsePolicy(JSON.stringify(bad), 'p.yml'), JSON.stringify(bad)).toThrow(InputError);
    }
  });
});

describe('policy file', () => {
  it('parses the documented example, every key', () => {
    const { policy, source } = readPolicy('examples/backdoor-gate.yml', true);
    expect(source).toBe('examples/backdoor-gate.yml');
    expect(policy.scans).toEqual(['inversion', 'mask-inversion', 'hessian']);
    // The example documents the defaults: it must say what the code does.
    expect(policy.thresholds?.['mask-inversion']).toEqual(DEFAULT_THRESHOLDS.maskInversion);
    expect(policy.thresholds?.inversion).toEqual(DEFAULT_THRESHOLDS.inversion);
    for (const set of ['binary', 'residual', 'depthwise'] as const)
      expect(policy.thresholds?.[set], set).toEqual({ inversion: DEFAULT_THRESHOLDS[set].inversion, 'mask-inversion': DEFAULT_THRESHOLDS[set].maskInversion });
    expect(policy.budgets?.inversion).toEqual({ images: 256, epochs: 1, 'batch-size': 32, epsilon: 0.15 });
    expect(policy.budgets?.['memory-mb']).toBe(1536);
    expect(policy.thresholds?.['max-margin']).toEqual(DEFAULT_THRESHOLDS.maxMargin);
    expect(policy.thresholds?.['untargeted-mask']).toEqual(DEFAULT_THRESHOLDS.untargetedMask);
    expect(policy.budgets?.['max-margin']).toEqual(DEFAULT_BUDGETS['small-input'].maxMargin);
    expect(policy.cleaning?.['max-accuracy-drop']).toBe(DEFAULT_MAX_ACCURACY_DROP);
  });

  it('names the file and the key path of every schema problem', () => {
    const text = 'scans: [inversion, sonar]\nbudgets:\n  inversion: { epsilon: 3 }\nthresholds: { inversion: { suspicious: "high" } }\ncolour: red\n';
    let message = '';
    try {
      parsePolicy(text, '.github/backdoor-gate.yml');
    } catch (err) {
      expect(err).toBeInstanceOf(InputError);
      message = (err as Error).message;
    }
    expect(message).toMatch(/^\.github\/backdoor-gate\.yml: does not match the policy schema/);
    for (const key of ['scans.1', 'budgets.inversion.epsilon', 'thresholds.inversion.suspicious', 'colour']) expect(message).toContain(key);
  });

  it('rejects invalid YAML, duplicate keys and alias bombs with the file name', () => {
    expect(() => parsePolicy('scans: [inversion\n', 'p.yml')).toThrow(/^p\.yml: is not valid YAML/);
    expect(() => parsePolicy('seed: 1\nseed: 2\n', 'p.yml')).toThrow(/^p\.yml: is not valid YAML/);
    const bomb = [
      'a: &a [x, x, x, x, x, x, x, x, x]',
      ...Array.from(
        { length: 8 },
        (_, i) =>
          `${String.fromCharCode(98 + i)}: &${String.fromCharCode(98 + i)} [*${String.fromCharCode(97 + i)}, *${String.fromCharCode(97 + i)}, *${String.fromCharCode(97 + i)}, *${String.fromCharCode(97 + i)}, *${String.fromCharCode(97 + i)}, *${String.fromCharCode(97 + i)}, *${String.fromCharCode(97 + i)}, *${String.fromCharCode(97 + i)}]`,
      ),
    ].join('\n');
    expect(() => parsePolicy(bomb, 'bomb.yml')).toThrow(/^bomb\.yml: /);
  });

  it('is optional at the default path and required where named', () => {
    const dir = tmp();
    expect(readPolicy(path.join(dir, 'backdoor-gate.yml'), false).policy).toEqual({});
    expect(() => readPolicy(path.join(dir, 'missing.yml'), true)).toThrow(ConfigurationError);
    const big = path.join(dir, 'big.yml');
    writeFileSync(big, `# ${'x'.repeat(70_000)}\n`);
    expect(() => readPolicy(big, true)).toThrow(/big\.yml: is 70003 bytes/);
  });

  it('picks budgets by input size unless the policy sets them', () => {
    const none = { inversion: {}, maskInversion: {}, hessian: {} };
    expect(resolveBudgets(none, [28, 28, 1]).tier).toBe('small-input');
    expect(resolveBudgets(none, [28, 28, 1]).inversion.epsilon).toBe(0.15);
    const large = resolveBudgets({ ...none, inversion: { images: 32 } }, [224, 224, 3]);
    expect(large.tier).toBe('large-input');
    expect(large.inversion.images).toBe(32);
    expect(large.inversion.epsilon).toBeLessThan(0.15);
  });
});

describe('settings: inputs over policy over defaults', () => {
  it('reads install-native-backend as nothing, tensorflow (also true) or webgpu, and names a bad value', () => {
    const native = (v: string) => buildSettings(inputs({ model: 'm', 'install-native-backend': v }), withPolicy({})).installNativeBackend;
    expect([native(''), native('false'), native('true'), native('tensorflow'), native('WebGPU')]).toEqual([
      undefined,
      undefined,
      'tensorflow',
      'tensorflow',
      'webgpu',
    ]);
    expect(() => native('cuda')).toThrow(/install-native-backend must be false, true \(tensorflow\), tensorflow or webgpu, got 'cuda'/);
  });

  it('reads jobs as auto or 1–64 processes; a shard, a merge or no scans is one process; auto is one with a backend that uses every core itself', async () => {
    const settings = (v: Record<string, string>) => buildSettings(inputs({ model: 'm', data: 'mnist:test', ...v }), withPolicy({}));
    expect([settings({}).jobs, settings({ jobs: ' auto ' }).jobs, settings({ jobs: '3' }).jobs]).toEqual(['auto', 'auto', 3]);
    for (const bad of ['0', '65', 'many', '1.5'])
      expect(() => settings({ jobs: bad })).toThrow(`jobs must be auto or a number of processes from 1 to 64, got '${bad}'`);
    const wasm = async () => false;
    expect(await resolveJobs(settings({ jobs: '3' }), wasm)).toBe(3);
    expect(await resolveJobs(settings({ jobs: 'auto' }), wasm)).toBe(Math.min(os.availableParallelism(), 64));
    expect(await resolveJobs(settings({ jobs: 'auto' }), async () => true)).toBe(1);
    expect(await resolveJobs(settings({ jobs: '3', shard: '1/2' }), wasm)).toBe(1);
    expect(await resolveJobs(settings({ jobs: '3', scans: 'none' }), wasm)).toBe(1);
    // What every shard process is told: the inputs that change what a scan computes, nothing else.
    expect(shardFlags(inputs({ model: 'm', data: 'd', seed: ' 5 ', scans: '', 'report-path': 'r.json', thresholds: 'inversion.backdoored=5' }))).toEqual([
      '--data',
      'd',
      '--seed',
      '5',
      '--thresholds',
      'inversion.backdoored=5',
    ]);
  });

  it('takes what the policy says when inputs are empty', () => {
    const s = buildSettings(
      inputs({ model: 'm' }),
      withPolicy({
        scans: ['inversion'],
        'fail-on': 'backdoored',
        'on-error': 'warn',
        seed: 7,
        data: 'mnist',
        thresholds: { inversion: { backdoored: 6 } },
        budgets: { 'probe-images': 99, 'memory-mb': 512, inversion: { 'batch-size': 8 } },
      }),
    );
    expect(s).toMatchObject({
      scans: ['inversion'],
      failOn: 'backdoored',
      onError: 'warn',
      seed: 7,
      data: 'mnist',
      maxProbeImages: 99,
      memoryBudgetBytes: 512 * 2 ** 20,
      policySource: 'test policy',
    });
    expect(s.thresholds.inversion).toEqual({ suspicious: DEFAULT_THRESHOLDS.inversion.suspicious, backdoored: 6 });
    expect(s.budgets.inversion.batchSize).toBe(8);
  });

  it('lets inputs override the policy, and checks threshold order', () => {
    const policy = withPolicy({ scans: ['inversion'], 'fail-on': 'backdoored', thresholds: { inversion: { backdoored: 6 } } });
    const s = buildSettings(
      inputs({ model: 'm', scans: 'none', 'fail-on': 'suspicious', thresholds: 'inversion.backdoored=5, mask-inversion.suspicious=1.2' }),
      policy,
    );
    expect(s.scans).toEqual([]);
    expect(s.failOn).toBe('suspicious');
    expect(s.thresholds.inversion.backdoored).toBe(5);
    expect(s.thresholds.maskInversion.suspicious).toBe(1.2);
    const low = DEFAULT_THRESHOLDS.inversion.suspicious / 2;
    expect(() => buildSettings(inputs({ model: 'm', thresholds: `inversion.backdoored=${low}` }), policy)).toThrow(
      new RegExp(`backdoored \\(${low}\\) must be at least suspicious \\(${DEFAULT_THRESHOLDS.inversion.suspicious}\\)`),
    );
    // Two-class and multi-label heads have their own: binary.<scan>.<level>.
    const b = buildSettings(inputs({ model: 'm', thresholds: 'binary.mask-inversion.suspicious=9,binary.mask-inversion.backdoored=12' }), policy);
    expect(b.thresholds.binary.maskInversion).toEqual({ suspicious: 9, backdoored: 12 });
    expect(b.thresholds.maskInversion).toEqual(DEFAULT_THRESHOLDS.maskInversion);
    // So do residual and depthwise networks: residual.<scan>.<level>, depthwise.<scan>.<level>, checked for order too.
    const r = buildSettings(inputs({ model: 'm', thresholds: 'residual.inversion.suspicious=7,depthwise.mask-inversion.backdoored=9' }), policy);
    expect(r.thresholds.residual.inversion).toEqual({ suspicious: 7, backdoored: DEFAULT_THRESHOLDS.residual.inversion.backdoored });
    expect(r.thresholds.depthwise.maskInversion).toEqual({ suspicious: DEFAULT_THRESHOLDS.depthwise.maskInversion.suspicious, backdoored: 9 });
    expect(r.thresholds.inversion).toEqual(b.thresholds.inversion);
    expect(() => buildSettings(inputs({ model: 'm', thresholds: 'residual.inversion.suspicious=99' }), policy)).toThrow(
      new RegExp(
        `thresholds\\.residual\\.inversion: backdoored \\(${DEFAULT_THRESHOLDS.residual.inversion.backdoored}\\) must be at least suspicious \\(99\\)`,
      ),
    );
    expect(() => buildSettings(inputs({ model: 'm', thresholds: 'residual.max-margin.suspicious=3' }), policy)).toThrow(/must look like/);
    // Dual encoders too (dual.<scan>.<level>); their statistics are signed, so a level may be negative.
    const d = buildSettings(inputs({ model: 'm', thresholds: 'dual.inversion.suspicious=-1.5,dual.mask-inversion.backdoored=2' }), policy);
    expect(d.thresholds.dual.inversion).toEqual({ suspicious: -1.5, backdoored: DEFAULT_THRESHOLDS.dual.inversion.backdoored });
    expect(d.thresholds.dual.maskInversion).toEqual({ suspicious: DEFAULT_THRESHOLDS.dual.maskInversion.suspicious, backdoored: 2 });
    expect(() => buildSettings(inputs({ model: 'm', thresholds: 'dual.inversion.suspicious=abc' }), policy)).toThrow(/must look like/);
    // The untargeted mask has one pair of thresholds for every network.
    const u = buildSettings(inputs({ model: 'm', thresholds: 'untargeted-mask.suspicious=0.9' }), policy);
    expect(u.thresholds.untargetedMask).toEqual({ suspicious: 0.9, backdoored: DEFAULT_THRESHOLDS.untargetedMask.backdoored });
    expect(() => buildSettings(inputs({ model: 'm', thresholds: 'depthwise.untargeted-mask.suspicious=1' }), policy)).toThrow(/must look like/);
    expect(() => buildSettings(inputs({ model: 'm', thresholds: 'untargeted-mask.suspicious=3' }), policy)).toThrow(
      /thresholds\.untargeted-mask: backdoored \(2\.75\) must be at least suspicious \(3\)/,
    );
    expect(() => buildSettings(inputs({ model: 'm', thresholds: 'inversion=3' }), policy)).toThrow(/thresholds: 'inversion=3' must look like/);
    expect(() => buildSettings(inputs({ model: 'm', 'fail-on': 'clean' }), policy)).toThrow(/fail-on must be suspicious or backdoored/);
  });

  it('reads the accuracy a cleaned model may lose: input over policy over the default of 2 points, a bad value named', () => {
    expect(buildSettings(inputs({ model: 'm' }), withPolicy({})).maxAccuracyDrop).toBe(2);
    const policy = withPolicy({ cleaning: { 'max-accuracy-drop': 0.5 } });
    expect(buildSettings(inputs({ model: 'm' }), policy).maxAccuracyDrop).toBe(0.5);
    expect(buildSettings(inputs({ model: 'm', 'clean-max-accuracy-drop': '3.25' }), policy).maxAccuracyDrop).toBe(3.25);
    expect(buildSettings(inputs({ model: 'm', 'clean-max-accuracy-drop': '0' }), policy).maxAccuracyDrop).toBe(0);
    for (const bad of ['-1', '101', '2 %', 'lots'])
      expect(() => buildSettings(inputs({ model: 'm', 'clean-max-accuracy-drop': bad }), policy)).toThrow(
        `clean-max-accuracy-drop must be a number of accuracy points from 0 to 100, got '${bad}'`,
      );
  });

  it('maps verdicts to exit codes by fail-on', () => {
    expect(exitCodeFor('suspicious', 'suspicious')).toBe(1);
    expect(exitCodeFor('suspicious', 'backdoored')).toBe(0);
    expect(exitCodeFor('backdoored', 'backdoored')).toBe(1);
    expect(exitCodeFor('error', 'backdoored')).toBe(2);
    expect(exitCodeFor('clean', 'suspicious')).toBe(0);
    // unassessed and error exit 2 unless the policy says on-error: warn.
    expect(exitCodeFor('unassessed', 'suspicious')).toBe(2);
    expect(exitCodeFor('unassessed', 'suspicious', 'warn')).toBe(0);
    expect(exitCodeFor('error', 'suspicious', 'warn')).toBe(0);
    expect(exitCodeFor('backdoored', 'suspicious', 'warn')).toBe(1);
  });
});
