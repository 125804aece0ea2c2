// The policy file (default `.github/backdoor-gate.yml`): which scans run, their thresholds and
// budgets, and what fails the gate. Schema-validated; every problem is reported with its key
// path and the file's name. Action inputs and CLI flags override what the file says.
import { existsSync, readFileSync, statSync } from 'node:fs';
import { parseDocument } from 'yaml';
import { z } from 'zod';
import { ConfigurationError, InputError } from '../errors.js';
import type { ResourceLimits } from '../model/limits.js';
import { DEFAULT_SCHEDULE, type ClassSchedule } from '../scan/schedule.js';

export const SCAN_NAMES = ['inversion', 'mask-inversion', 'hessian', 'max-margin'] as const;
export type ScanName = (typeof SCAN_NAMES)[number];

export const DEFAULT_POLICY_PATH = '.github/backdoor-gate.yml';
/** A policy is a few lines; anything bigger is a mistake (or an attack on the parser). */
const MAX_POLICY_BYTES = 64 * 1024;

const count = (max: number) => z.number().int().min(1).max(max);
const level = z
  // The statistics are signed (a z less its chance term, a log ratio), so a threshold may be negative.
  .object({ suspicious: z.number().finite(), backdoored: z.number().finite() })
  .partial()
  .strict();
const scanLevels = z.object({ inversion: level.optional(), 'mask-inversion': level.optional() }).strict();

export const PolicySchema = z
  .object({
    version: z.literal(1).optional(),
    data: z.string().min(1).optional(),
    scans: z.array(z.enum(SCAN_NAMES)).optional(),
    'on-error': z.enum(['fail', 'warn']).optional(),
    /**
     * Models a reviewer accepted although the scans could not judge them (verdict `unassessed`),
     * each pinned by its digest: that model alone passes with a warning, a changed one does not.
     */
    'accept-unassessed': z
      .array(
        z
          .object({
            digest: z.string().regex(/^sha256:[0-9a-f]{64}$/, 'must be the digest a report gives, sha256:<64 hex digits>'),
            note: z.string().min(1).max(500).optional(),
          })
          .strict(),
      )
      .max(10_000)
      .optional(),
    'fail-on': z.enum(['suspicious', 'backdoored']).optional(),
    /** Prior P(backdoored) the score is stated at. */
    prior: z.number().gt(0).lt(1).optional(),
    seed: z
      .number()
      .int()
      .min(0)
      .max(2 ** 31 - 1)
      .optional(),
    thresholds: scanLevels
      .extend({
        binary: scanLevels.optional(),
        residual: scanLevels.optional(),
        depthwise: scanLevels.optional(),
        dual: scanLevels.optional(),
        'max-margin': level.optional(),
        'untargeted-mask': level.optional(),
      })
      .strict()
      .optional(),
    budgets: z
      .object({
        'probe-images': count(100_000).optional(),
        'memory-mb': z.number().int().min(64).max(1_048_576).optional(),
        inversion: z
          .object({ images: count(100_000), epochs: count(100), 'batch-size': count(1024), epsilon: z.number().gt(0).max(1) })
          .partial()
          .strict()
          .optional(),
        'mask-inversion': z
          .object({ images: count(100_000), epochs: count(1000), 'batch-size': count(1024) })
          .partial()
          .strict()
          .optional(),
        hessian: z
          .object({ inputs: count(10_000) })
          .partial()
          .strict()
          .optional(),
        'max-margin': z
          .object({ inits: count(1000), steps: count(10_000) })
          .partial()
          .strict()
          .optional(),
        /** Many classes: above `all-classes-up-to`, a screen of every class, then the full budget on reference and candidate classes (src/scan/schedule.ts). */
        schedule: z
          .object({ 'all-classes-up-to': count(1_000_000), 'reference-classes': count(100_000).min(3), 'candidate-classes': count(100_000) })
          .partial()
          .strict()
          .optional(),
      })
      .strict()
      .optional(),
    /** What a cleaned model must keep to pass (src/clean/report.ts). */
    cleaning: z
      .object({ 'max-accuracy-drop': z.number().finite().min(0).max(100) })
      .partial()
      .strict()
      .optional(),
    limits: z
      .object({
        'download-mb': z.number().int().min(1).max(1_048_576),
        'weights-mb': z.number().int().min(1).max(1_048_576),
        'model-json-mb': z.number().int().min(1).max(1024),
        'tensor-elements': z
          .number()
          .int()
          .min(1)
          .max(2 ** 40),
        'archive-entries': z.number().int().min(1).max(1_000_000),
      })
      .partial()
      .strict()
      .optional(),
  })
  .strict();

export type PolicyFile = z.infer<typeof PolicySchema>;

/** A model the policy accepts although the scans could not judge it (`accept-unassessed`). */
export type AcceptedModel = NonNullable<PolicyFile['accept-unassessed']>[number];

/** Parses and validates policy text; `file` names the source in errors. */
export function parsePolicy(text: string, file: string): PolicyFile {
  const doc = parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length) throw new InputError(file, `is not valid YAML: ${doc.errors[0].message.split('\n')[0]}`);
  let value: unknown;
  try {
    value = doc.toJS({ maxAliasCount: 50 }) ?? {};
  } catch (err) {
    throw new InputError(file, `cannot be read: ${err instanceof Error ? err.message : String(err)}`);
  }
  const parsed = PolicySchema.safeParse(value);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.length ? i.path.join('.') : '(top level)'}: ${i.message}`);
    throw new InputError(file, `does not match the policy schema: ${problems.join('; ')}`);
  }
  return parsed.data;
}

/**
 * Reads the policy file. A missing file is fine at the default path (the defaults apply) and an
 * error anywhere else: a path the user named must exist.
 */
export function readPolicy(file: string, named: boolean): { policy: PolicyFile; source: string } {
  if (!existsSync(file)) {
    if (named) throw new ConfigurationError(`policy file ${file} does not exist`);
    return { policy: {}, source: 'defaults (no policy file)' };
  }
  const size = statSync(file).size;
  if (size > MAX_POLICY_BYTES) throw new InputError(file, `is ${size} bytes; a policy file may be at most ${MAX_POLICY_BYTES}`);
  return { policy: parsePolicy(readFileSync(file, 'utf8'), file), source: file };
}

/** Resource caps from the policy over the defaults; every cap is checked before allocating. */
export function resolveLimits(policy: PolicyFile['limits'], defaults: ResourceLimits): ResourceLimits {
  const mb = (v: number | undefined, fallback: number) => (v === undefined ? fallback : v * 1024 * 1024);
  return {
    ...defaults,
    maxDownloadBytes: mb(policy?.['download-mb'], defaults.maxDownloadBytes),
    maxWeightBytes: mb(policy?.['weights-mb'], defaults.maxWeightBytes),
    maxModelJsonBytes: mb(policy?.['model-json-mb'], defaults.maxModelJsonBytes),
    maxTensorElements: policy?.['tensor-elements'] ?? defaults.maxTensorElements,
    maxArchiveEntries: policy?.['archive-entries'] ?? defaults.maxArchiveEntries,
  };
}

export interface ScanThresholds {
  /** Dense (ℓ∞) trigger statistic (src/core/verdict.ts). */
  inversion: { suspicious: number; backdoored: number };
  /** Mask trigger statistic (src/core/verdict.ts). */
  maskInversion: { suspicious: number; backdoored: number };
}

/**
 * Thresholds for single-label models of three classes or more, and (`binary`) for two-class and
 * multi-label heads, whose positive class often has natural universal triggers (a dot makes a
 * "defect"), so their clean statistics sit higher.
 */
export interface Thresholds extends ScanThresholds {
  binary: ScanThresholds;
  /**
   * Single-label models of 3+ classes whose network has skip connections (`residual`) or depthwise
   * convolutions (`depthwise`): their clean models' natural universal triggers stand out further
   * than a plain network's. A network with both takes the larger of each.
   */
  residual: ScanThresholds;
  depthwise: ScanThresholds;
  /**
   * CLIP-style dual encoders scanned as zero-shot classifiers (3+ classes): their clean models'
   * universal triggers stand out far less than a classifier's, so a BadCLIP-style prompt trigger
   * that a classifier's thresholds pass is still above them.
   */
  dual: ScanThresholds;
  /** The data-free maximum-margin statistic, −log₁₀ p (src/core/verdict.ts); it does not judge two-class or multi-label heads. */
  maxMargin: { suspicious: number; backdoored: number };
  /**
   * The untargeted mask against the per-class ones, ln(smallest per-class mask / untargeted mask)
   * (src/core/verdict.ts): all-to-all backdoors; single-label heads of 3 to 43 classes.
   */
  untargetedMask: { suspicious: number; backdoored: number };
}

/** Fitted on the benchmark's tuning split (`npm run eval -- --fit` prints the choice; see the README). */
export const DEFAULT_THRESHOLDS: Thresholds = {
  inversion: { suspicious: 1.25, backdoored: 3 },
  maskInversion: { suspicious: 1.25, backdoored: 2 },
  binary: { inversion: { suspicious: 14.5, backdoored: 24 }, maskInversion: { suspicious: 7, backdoored: 11 } },
  // `npm run eval -- --fit-network-kinds`: the same recipe on each kind's clean tuning networks.
  residual: { inversion: { suspicious: 15.75, backdoored: 28 }, maskInversion: { suspicious: 2, backdoored: 3 } },
  depthwise: { inversion: { suspicious: 8, backdoored: 14 }, maskInversion: { suspicious: 1.75, backdoored: 2.5 } },
  // The same recipe on the dual-encoder benchmark's 10 clean tuning models (`npm run eval:dual --
  // --eval --split tuning --scan-only` prints it).
  dual: { inversion: { suspicious: -0.25, backdoored: 0.75 }, maskInversion: { suspicious: 1, backdoored: 1.5 } },
  maxMargin: { suspicious: 6, backdoored: 9 },
  // The mask's recipe (`npm run eval -- --fit`, untargetedThresholds) on the tuning split's 44 clean
  // models scanned with it (docs/detection.md, "An untargeted mask").
  untargetedMask: { suspicious: 1, backdoored: 2.75 },
};

/**
 * The most classes the untargeted mask's thresholds cover: the benchmark measured it on 10- and
 * 43-class models, every class's mask run in full. The scan inverts it only up to here.
 */
export const UNTARGETED_MAX_CLASSES = 43;

/**
 * Points of held-out accuracy a cleaned model may lose and still pass (policy
 * `cleaning.max-accuracy-drop`): issue 21's strict bar, so a cleaning that unlearns part of the
 * task is not shipped however clean its re-scan. Shared adversarial unlearning also keeps within
 * it on its cleaning set (sau.ts).
 */
export const DEFAULT_MAX_ACCURACY_DROP = 2;

/** Budgets the user set; what is left undefined is chosen by input size (`resolveBudgets`). */
export interface BudgetSettings {
  inversion: { images?: number; epochs?: number; batchSize?: number; epsilon?: number };
  maskInversion: { images?: number; epochs?: number; batchSize?: number };
  hessian: { inputs?: number };
  maxMargin?: { inits?: number; steps?: number };
  schedule?: Partial<ClassSchedule>;
}

/** The policy's `budgets` section in the settings' own names. */
export function budgetSettings(b: NonNullable<PolicyFile['budgets']>): BudgetSettings {
  const { 'batch-size': invBatch, ...inversion } = b.inversion ?? {};
  const { 'batch-size': maskBatch, ...maskInversion } = b['mask-inversion'] ?? {};
  return {
    inversion: { ...inversion, batchSize: invBatch },
    maskInversion: { ...maskInversion, batchSize: maskBatch },
    hessian: { ...b.hessian },
    maxMargin: { ...b['max-margin'] },
    schedule: {
      allClassesUpTo: b.schedule?.['all-classes-up-to'],
      reference: b.schedule?.['reference-classes'],
      candidates: b.schedule?.['candidate-classes'],
    },
  };
}

export interface ScanBudgets {
  /** Which default tier applied: small inputs (≤ 64×64 px) or large ones. */
  tier: 'small-input' | 'large-input';
  inversion: { images: number; epochs: number; batchSize: number; epsilon: number };
  maskInversion: { images: number; epochs: number; batchSize: number };
  hessian: { inputs: number };
  maxMargin: { inits: number; steps: number };
  /** How classes are scheduled on many-class models (src/scan/schedule.ts). */
  schedule: ClassSchedule;
}

/**
 * Default budgets by input size. Small inputs (MNIST/CIFAR-sized) get the full recipes. Large
 * ones (ImageNet-sized, ~0.65 s per differentiated image on 2 wasm cores for MobileNetV2) get
 * budgets that finish in ~10 minutes on such a CPU, and CLIP-Inspector's ε = 4/255 for 224-px
 * inputs: an ℓ∞ perturbation of 0.15 is a universal adversarial perturbation for any large clean network.
 */
export const DEFAULT_BUDGETS: Record<ScanBudgets['tier'], Omit<ScanBudgets, 'tier' | 'schedule'>> = {
  'small-input': {
    inversion: { images: 256, epochs: 1, batchSize: 32, epsilon: 0.15 },
    maskInversion: { images: 128, epochs: 16, batchSize: 16 },
    hessian: { inputs: 64 },
    maxMargin: { inits: 30, steps: 100 },
  },
  'large-input': {
    inversion: { images: 64, epochs: 1, batchSize: 8, epsilon: 4 / 255 },
    maskInversion: { images: 8, epochs: 4, batchSize: 8 },
    hessian: { inputs: 8 },
    maxMargin: { inits: 4, steps: 25 },
  },
};

export function resolveBudgets(set: BudgetSettings, [height, width]: [number, number, number]): ScanBudgets {
  const tier = height * width <= 64 * 64 ? 'small-input' : 'large-input';
  const d = DEFAULT_BUDGETS[tier];
  const pick = <T extends object>(given: Partial<T>, fallback: T): T => ({
    ...fallback,
    ...Object.fromEntries(Object.entries(given).filter(([, v]) => v !== undefined)),
  });
  return {
    tier,
    inversion: pick(set.inversion, d.inversion),
    maskInversion: pick(set.maskInversion, d.maskInversion),
    hessian: pick(set.hessian, d.hessian),
    maxMargin: pick(set.maxMargin ?? {}, d.maxMargin),
    schedule: pick(set.schedule ?? {}, DEFAULT_SCHEDULE),
  };
}

/** The threshold sets beside the multi-class one (policy sections and override prefixes). */
const THRESHOLD_SETS = ['binary', 'residual', 'depthwise', 'dual'] as const;

/**
 * `thresholds` input / `--thresholds` flag: comma-separated `[set.]scan.level=value` overrides,
 * e.g. `inversion.backdoored=5,mask-inversion.suspicious=1.2,binary.mask-inversion.suspicious=3`.
 */
export function parseThresholdOverrides(raw: string, name: string): PolicyFile['thresholds'] {
  type Levels = Record<string, Record<string, number>>;
  const out: Partial<Record<(typeof THRESHOLD_SETS)[number], Levels>> & Levels = {};
  for (const item of raw
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)) {
    const m = /^(?:(binary|residual|depthwise|dual)\.)?(inversion|mask-inversion|max-margin|untargeted-mask)\.(suspicious|backdoored)\s*=\s*(\S+)$/.exec(item);
    const v = m ? Number(m[4]) : NaN;
    if (!m || !Number.isFinite(v) || (m[1] && (m[2] === 'max-margin' || m[2] === 'untargeted-mask'))) {
      throw new ConfigurationError(
        `${name}: '${item}' must look like inversion.backdoored=4 (scans: inversion, mask-inversion, optionally after binary., residual., depthwise. or dual.; or max-margin, untargeted-mask; levels: suspicious, backdoored; finite values)`,
      );
    }
    const set = m[1] as (typeof THRESHOLD_SETS)[number] | undefined;
    const into: Levels = set ? (out[set] ??= {}) : out;
    (into[m[2]] ??= {})[m[3]] = v;
  }
  return out as PolicyFile['thresholds'];
}

/** Thresholds from defaults, then the policy file, then overrides; checked for order. */
export function resolveThresholds(...layers: Array<PolicyFile['thresholds'] | undefined>): Thresholds {
  const t: Thresholds = structuredClone(DEFAULT_THRESHOLDS);
  for (const layer of layers) {
    Object.assign(t.inversion, layer?.inversion);
    Object.assign(t.maskInversion, layer?.['mask-inversion']);
    for (const set of THRESHOLD_SETS) {
      Object.assign(t[set].inversion, layer?.[set]?.inversion);
      Object.assign(t[set].maskInversion, layer?.[set]?.['mask-inversion']);
    }
    Object.assign(t.maxMargin, layer?.['max-margin']);
    Object.assign(t.untargetedMask, layer?.['untargeted-mask']);
  }
  const checks: Array<[string, { suspicious: number; backdoored: number }]> = [
    ['inversion', t.inversion],
    ['mask-inversion', t.maskInversion],
    ...THRESHOLD_SETS.flatMap((set): typeof checks => [
      [`${set}.inversion`, t[set].inversion],
      [`${set}.mask-inversion`, t[set].maskInversion],
    ]),
    ['max-margin', t.maxMargin],
    ['untargeted-mask', t.untargetedMask],
  ];
  for (const [name, v] of checks) {
    if (v.backdoored < v.suspicious)
      throw new ConfigurationError(`thresholds.${name}: backdoored (${v.backdoored}) must be at least suspicious (${v.suspicious})`);
  }
  return t;
}

/** The policy schema as JSON Schema (draft 2020-12), for editors and `schema/backdoor-gate.schema.json`. */
export function policyJsonSchema(): object {
  return {
    $id: 'https://github.com/backdoor-gate/backdoor-gate/blob/v0/schema/backdoor-gate.schema.json',
    title: 'Backdoor Gate policy (.github/backdoor-gate.yml)',
    ...z.toJSONSchema(PolicySchema, { target: 'draft-2020-12' }),
  };
}
