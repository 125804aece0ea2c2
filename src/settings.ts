// One typed, frozen Settings object per run, built from action inputs or CLI flags. Nothing
// below the entry points reads inputs or flags itself.
import { DEFAULT_PRIOR } from './core/calibration.js';
import { CLEAN_METHODS, type CleanMethod, type PublishTarget } from './clean/types.js';
import { ConfigurationError } from './errors.js';
import { parseBackendChoice, type BackendChoice } from './engine/backend.js';
import type { NativeBackend } from './engine/native.js';
import { MAX_WASM_THREADS } from './engine/wasm-threads.js';
import { DEFAULT_LIMITS, type ResourceLimits } from './model/limits.js';
import type { Shard } from './scan/schedule.js';
import {
  DEFAULT_MAX_ACCURACY_DROP,
  DEFAULT_POLICY_PATH,
  SCAN_NAMES,
  parseThresholdOverrides,
  readPolicy,
  resolveThresholds,
  resolveLimits,
  budgetSettings,
  type AcceptedModel,
  type BudgetSettings,
  type PolicyFile,
  type ScanName,
  type Thresholds,
} from './core/policy.js';

export { SCAN_NAMES, type ScanName };
export type { Shard };

/** Action input names, in one place (action.yml declares the same). */
export const Inputs = {
  Model: 'model',
  Data: 'data',
  Backend: 'backend',
  InstallNativeBackend: 'install-native-backend',
  Seed: 'seed',
  MaxProbeImages: 'max-probe-images',
  ReportPath: 'report-path',
  ArtifactsDir: 'artifacts-dir',
  OnError: 'on-error',
  Scans: 'scans',
  Policy: 'policy',
  FailOn: 'fail-on',
  Thresholds: 'thresholds',
  Clean: 'clean',
  CleanData: 'clean-data',
  CleanForce: 'clean-force',
  CleanOut: 'clean-out',
  CleanReportPath: 'clean-report-path',
  CleanMaxAccuracyDrop: 'clean-max-accuracy-drop',
  ModelSha256: 'model-sha256',
  GitHubToken: 'github-token',
  CheckRun: 'check-run',
  CheckName: 'check-name',
  Comment: 'comment',
  PrNumber: 'pr-number',
  SarifPath: 'sarif-path',
  SarifCategory: 'sarif-category',
  UploadImages: 'upload-images',
  Publish: 'publish',
  PublishOverwrite: 'publish-overwrite',
  PublishName: 'publish-name',
  Shard: 'shard',
  Merge: 'merge',
  Jobs: 'jobs',
  Threads: 'threads',
} as const;

export const Outputs = {
  Verdict: 'verdict',
  Score: 'score',
  ReportPath: 'report-path',
  CleanedModelPath: 'cleaned-model-path',
  CleanedVerdict: 'cleaned-verdict',
  CleanedAccuracyDrop: 'cleaned-accuracy-drop',
  CleanedModelUrl: 'cleaned-model-url',
  SarifPath: 'sarif-path',
  CheckRunUrl: 'check-run-url',
} as const;

export type OnError = 'fail' | 'warn';
/** When the gate comments on a PR: every run, only when something was found (then kept up to date), or never. */
export const COMMENT_MODES = ['always', 'on-findings', 'never'] as const;
export type CommentMode = (typeof COMMENT_MODES)[number];
/** The lowest verdict that fails the gate. */
export type FailOn = 'suspicious' | 'backdoored';

export interface Settings {
  /** Model spec: a directory, a model.json path, or an http(s) URL. */
  model: string;
  /** Probe data spec (see src/data/sources.ts); undefined = none (the data-free scan by default; synthetic images for the model check and any probe scan asked for). */
  data?: string;
  backend: BackendChoice;
  /** What `install-native-backend` installs into the tool cache, if anything. */
  installNativeBackend?: NativeBackend;
  seed: number;
  maxProbeImages: number;
  reportPath: string;
  /** Where scan images go; default: beside the report, `<report name>-artifacts/`. */
  artifactsDir: string;
  onError: OnError;
  /** Models a reviewer accepted unassessed, by digest (policy `accept-unassessed`; src/report/acceptance.ts). */
  acceptUnassessed: readonly AcceptedModel[];
  /** Detectors to run; empty = none (the model can then only be `unassessed`). */
  scans: ScanName[];
  failOn: FailOn;
  thresholds: Thresholds;
  /** The prior P(backdoored) the score is stated at (policy `prior`). */
  prior: number;
  budgets: BudgetSettings;
  /** Memory one pass may use; undefined = the backend's default (src/engine/memory.ts). */
  memoryBudgetBytes?: number;
  /** Where the policy came from: its path, or that the defaults apply. */
  policySource: string;
  limits: ResourceLimits;
  /** Points of held-out accuracy a cleaned model may lose and still pass (policy `cleaning.max-accuracy-drop`). */
  maxAccuracyDrop: number;
  /** Clean the model when the gate flags it; undefined = scan only. */
  clean?: CleanSettings;
  /** Expected sha256 of a downloaded model bundle. */
  modelSha256?: string;
  github: GitHubSettings;
  /** Processes to split a whole scan over on this machine (`jobs`; see jobs.ts). */
  jobs: number | 'auto';
  /** Threads this process computes on with the wasm backend (`threads`; see threadsPerProcess in jobs.ts). */
  threads: number | 'auto';
  /** Scan only this shard's share of the per-class work and write a partial report (`shard: i/n`). */
  shard?: Shard;
  /** Merge these shards' partial reports (files, or folders searched for them) instead of scanning. */
  merge?: string[];
}

/** The GitHub surfaces: all optional, all degrade to warnings (see src/github/surfaces.ts). */
export interface GitHubSettings {
  /** Empty = no GitHub API calls (the job summary and log still carry the verdict). */
  token: string;
  checkRun: boolean;
  checkName: string;
  comment: CommentMode;
  /** An explicit pull request to report on (workflow_run from a fork, or a manual run). */
  prNumber?: number;
  /** Empty = no SARIF file. */
  sarifPath: string;
  /** SARIF automationDetails.id category; undefined = backdoor-gate/<model name>. */
  sarifCategory?: string;
  uploadImages: boolean;
  publish?: PublishTarget;
  publishOverwrite: boolean;
  /** Release asset name of the cleaned bundle; default `<model name>-cleaned.tar.gz`. */
  publishName?: string;
}

/** Thresholds from the policy and the `thresholds` input; an inconsistent pair names where it came from. */
function thresholdsFrom(fromPolicy: PolicyFile['thresholds'], overrides: string | undefined, source: string): Thresholds {
  try {
    return resolveThresholds(fromPolicy, overrides ? parseThresholdOverrides(overrides, Inputs.Thresholds) : undefined);
  } catch (err) {
    if (!(err instanceof ConfigurationError)) throw err;
    throw new ConfigurationError(`${source}${overrides ? ` with ${Inputs.Thresholds}: ${overrides}` : ''}: ${err.message}`);
  }
}

const DEFAULTS_REPORT_PATH = 'backdoor-gate-report.json';

/**
 * Defaults action.yml declares that the code must also apply when the action runs outside a
 * runner with only some INPUT_* set (test/docs.test.ts checks they agree with action.yml).
 * The CLI does not use them: it writes no SARIF unless asked.
 */
export const ACTION_INPUT_DEFAULTS: Partial<Record<(typeof Inputs)[keyof typeof Inputs], string>> = {
  [Inputs.SarifPath]: 'backdoor-gate.sarif',
  [Inputs.ReportPath]: DEFAULTS_REPORT_PATH,
  [Inputs.CheckName]: 'Backdoor Gate',
  [Inputs.CheckRun]: 'true',
  [Inputs.Comment]: 'on-findings',
  [Inputs.UploadImages]: 'true',
  [Inputs.Publish]: 'none',
  [Inputs.PublishOverwrite]: 'false',
  [Inputs.Clean]: 'none',
  [Inputs.CleanForce]: 'false',
  [Inputs.CleanOut]: 'backdoor-gate-cleaned',
  [Inputs.CleanReportPath]: 'backdoor-gate-clean-report.json',
  [Inputs.Jobs]: 'auto',
  [Inputs.Threads]: 'auto',
};

function githubSettings(get: RawValues, clean: CleanSettings | undefined): GitHubSettings {
  const publish = parsePublishTarget(get(Inputs.Publish));
  if (publish && !clean)
    throw new ConfigurationError(`${Inputs.Publish}: publishing needs ${Inputs.Clean} (only a cleaned model whose re-scan passes is published)`);
  const publishName = get(Inputs.PublishName)?.trim() || undefined;
  if (publishName && !/^[A-Za-z0-9._-]+\.tar\.gz$/.test(publishName))
    throw new ConfigurationError(`${Inputs.PublishName} must be a plain file name ending in .tar.gz, got '${publishName}'`);
  return {
    token: get(Inputs.GitHubToken)?.trim() ?? '',
    checkRun: bool(get(Inputs.CheckRun) || 'true', Inputs.CheckRun),
    checkName: get(Inputs.CheckName)?.trim() || 'Backdoor Gate',
    comment: commentMode(get(Inputs.Comment)),
    prNumber: get(Inputs.PrNumber)?.trim() ? integer(get(Inputs.PrNumber), Inputs.PrNumber, 0, 1, 2 ** 31 - 1) : undefined,
    sarifPath: get(Inputs.SarifPath)?.trim() ?? '',
    sarifCategory: sarifCategoryInput(get(Inputs.SarifCategory)),
    uploadImages: bool(get(Inputs.UploadImages) || 'true', Inputs.UploadImages),
    publish,
    publishOverwrite: bool(get(Inputs.PublishOverwrite), Inputs.PublishOverwrite),
    publishName,
  };
}

/** A category must not carry run ids, tags or paths that change from run to run: a plain id. */
function sarifCategoryInput(raw: string | undefined): string | undefined {
  const text = raw?.trim();
  if (!text) return undefined;
  if (!/^[A-Za-z0-9._-]+(\/[A-Za-z0-9._-]+)*\/?$/.test(text) || text.startsWith('/')) {
    throw new ConfigurationError(`${Inputs.SarifCategory} must be a relative id of letters, digits, . _ - and /, e.g. backdoor-gate/classifier; got '${text}'`);
  }
  return text;
}

/** `always | on-findings | never`; the old `true` / `false` mean on-findings / never. */
function commentMode(raw: string | undefined): CommentMode {
  const text = raw?.trim().toLowerCase() || 'on-findings';
  const legacy: Record<string, CommentMode> = { true: 'on-findings', false: 'never' };
  return oneOf<CommentMode>(legacy[text] ?? text, Inputs.Comment, COMMENT_MODES, 'on-findings');
}

export function parsePublishTarget(raw: string | undefined): PublishTarget | undefined {
  const text = raw?.trim() ?? '';
  if (text === '' || text === 'none') return undefined;
  const [kind, ...rest] = text.split(':');
  const arg = rest.join(':') || undefined;
  if (kind === 'release') return { kind, tag: arg };
  if (kind === 'artifact') return { kind, name: arg };
  throw new ConfigurationError(`${Inputs.Publish} must be none, release, release:<tag>, artifact or artifact:<name>, got '${text}'`);
}

function sha256Input(raw: string | undefined): string | undefined {
  const text = raw
    ?.trim()
    .toLowerCase()
    .replace(/^sha256:/, '');
  if (!text) return undefined;
  if (!/^[0-9a-f]{64}$/.test(text)) throw new ConfigurationError(`${Inputs.ModelSha256} must be 64 hex digits (optionally prefixed sha256:), got '${raw}'`);
  return text;
}

export interface CleanSettings {
  method: CleanMethod;
  /** Labelled clean images (ImageFolder, x.npy + y.npy, mnist:…). */
  data: string;
  /** A new directory for the cleaned model. */
  out: string;
  reportPath: string;
  /** Clean a model the scan did not flag (`clean` or `unassessed`): the user knows it was poisoned. */
  force: boolean;
}

function cleanSettings(get: RawValues): CleanSettings | undefined {
  const method = get(Inputs.Clean)?.trim();
  const force = bool(get(Inputs.CleanForce), Inputs.CleanForce);
  if (!method || method === 'none') {
    if (force) throw new ConfigurationError(`${Inputs.CleanForce}: forcing a clean needs ${Inputs.Clean} (a method, e.g. auto)`);
    return undefined;
  }
  const data = get(Inputs.CleanData)?.trim();
  if (!data)
    throw new ConfigurationError(
      `${Inputs.Clean}: ${method} needs ${Inputs.CleanData}: a small labelled clean set (ImageFolder <dir>/<class>/*.png, x.npy + y.npy, or mnist:…); 60 images per class is the tested amount`,
    );
  return {
    method: oneOf<CleanMethod>(method, Inputs.Clean, CLEAN_METHODS, 'auto'),
    data,
    out: get(Inputs.CleanOut)?.trim() || 'backdoor-gate-cleaned',
    reportPath: get(Inputs.CleanReportPath)?.trim() || 'backdoor-gate-clean-report.json',
    force,
  };
}

export const DEFAULTS = {
  backend: 'auto' as BackendChoice,
  seed: 0,
  maxProbeImages: 256,
  reportPath: DEFAULTS_REPORT_PATH,
  onError: 'fail' as OnError,
  failOn: 'suspicious' as FailOn,
  scans: 'inversion,mask-inversion,hessian',
  /** With no data the probe scans would run on noise (only when asked: data `synthetic`); the data-free scan runs instead. */
  dataFreeScans: 'max-margin',
};

function scanList(raw: string | undefined, fromPolicy: ScanName[] | undefined, hasData: boolean): ScanName[] {
  const text = raw?.trim();
  if (!text && fromPolicy) return [...new Set(fromPolicy)];
  if (text === 'none') return [];
  const names = (text || (hasData ? DEFAULTS.scans : DEFAULTS.dataFreeScans))
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  for (const n of names) {
    if (!(SCAN_NAMES as readonly string[]).includes(n))
      throw new ConfigurationError(`${Inputs.Scans} must be a comma-separated list of ${SCAN_NAMES.join(', ')} (or none), got '${n}'`);
  }
  return [...new Set(names)] as ScanName[];
}

export function oneOf<T extends string>(raw: string | undefined, name: string, allowed: readonly T[], fallback: T): T {
  const v = raw?.trim() || fallback;
  if (!(allowed as readonly string[]).includes(v)) throw new ConfigurationError(`${name} must be ${allowed.join(' or ')}, got '${v}'`);
  return v as T;
}

/** A raw source of named string values (action inputs or parsed CLI flags). */
export type RawValues = (name: string) => string | undefined;

export function integer(raw: string | undefined, name: string, fallback: number, min: number, max: number): number {
  if (raw === undefined || raw.trim() === '') return fallback;
  const v = Number(raw);
  if (!Number.isInteger(v) || v < min || v > max) throw new ConfigurationError(`${name} must be an integer in [${min}, ${max}], got '${raw}'`);
  return v;
}

/** Percentage points, 0–100 (a number, not `2 %`). */
function points(raw: string | undefined, name: string, fallback: number): number {
  const text = raw?.trim();
  if (!text) return fallback;
  const v = /^\d+(\.\d+)?$/.test(text) ? Number(text) : NaN;
  if (!(v >= 0 && v <= 100)) throw new ConfigurationError(`${name} must be a number of accuracy points from 0 to 100, got '${raw}'`);
  return v;
}

/** `true` is the original meaning (tfjs-node-gpu); `webgpu` installs Dawn. */
function nativeBackend(raw: string | undefined): NativeBackend | undefined {
  const v = (raw ?? '').trim().toLowerCase();
  if (v === '' || v === 'false') return undefined;
  if (v === 'true' || v === 'tensorflow') return 'tensorflow';
  if (v === 'webgpu') return 'webgpu';
  throw new ConfigurationError(`${Inputs.InstallNativeBackend} must be false, true (tensorflow), tensorflow or webgpu, got '${raw}'`);
}

function bool(raw: string | undefined, name: string): boolean {
  const v = (raw ?? '').trim().toLowerCase();
  if (v === '' || v === 'false') return false;
  if (v === 'true') return true;
  throw new ConfigurationError(`${name} must be true or false, got '${raw}'`);
}

/**
 * Settings for a model and its probe data with everything else at the defaults, whatever policy
 * file the working directory holds: what the eval and bench measure. runGate writes no files.
 */
export function defaultSettings(model: string, data: string | undefined): Readonly<Settings> {
  const inputs: Record<string, string | undefined> = { [Inputs.Model]: model, [Inputs.Data]: data };
  return buildSettings(
    (name) => inputs[name],
    () => ({ policy: {}, source: 'defaults (policy file ignored)' }),
  );
}

/**
 * Settings from inputs (action inputs or CLI flags) over the policy file over the defaults.
 * `policyReader` is injectable so tests need no files.
 */
export function buildSettings(get: RawValues, policyReader: typeof readPolicy = readPolicy): Readonly<Settings> {
  const merge = mergeInput(get(Inputs.Merge));
  // A merge reads the model's name from the shards' reports.
  const model = get(Inputs.Model)?.trim() || (merge ? '' : undefined);
  if (model === undefined) throw new ConfigurationError(`${Inputs.Model} is required: a model directory, a model.json path or an http(s) URL`);
  const policyPath = get(Inputs.Policy)?.trim();
  const { policy, source } = policyReader(policyPath || DEFAULT_POLICY_PATH, Boolean(policyPath));
  const budgets: NonNullable<PolicyFile['budgets']> = policy.budgets ?? {};
  const reportPath = get(Inputs.ReportPath)?.trim() || DEFAULTS.reportPath;
  const overrides = get(Inputs.Thresholds)?.trim();
  const clean = cleanSettings(get);
  const data = get(Inputs.Data)?.trim() || policy.data;
  const shard = shardInput(get(Inputs.Shard));
  if (shard && merge)
    throw new ConfigurationError(`${Inputs.Shard} and ${Inputs.Merge} are two different jobs: shards scan, one later job merges their reports`);
  if ((shard || merge) && clean)
    throw new ConfigurationError(
      `${Inputs.Clean} needs the whole scan's verdict and the model: clean in a job after the merge, with the merged verdict's target`,
    );
  const scans = scanList(get(Inputs.Scans), policy.scans, Boolean(data));
  if (shard && !scans.length) throw new ConfigurationError(`${Inputs.Shard}: with ${Inputs.Scans}: none there is nothing to shard`);
  return Object.freeze({
    model,
    data,
    backend: parseBackendChoice(get(Inputs.Backend) ?? DEFAULTS.backend, Inputs.Backend),
    installNativeBackend: nativeBackend(get(Inputs.InstallNativeBackend)),
    seed: integer(get(Inputs.Seed), Inputs.Seed, policy.seed ?? DEFAULTS.seed, 0, 2 ** 31 - 1),
    maxProbeImages: integer(get(Inputs.MaxProbeImages), Inputs.MaxProbeImages, budgets['probe-images'] ?? DEFAULTS.maxProbeImages, 1, 100_000),
    reportPath,
    artifactsDir: get(Inputs.ArtifactsDir)?.trim() || reportPath.replace(/\.json$/i, '') + '-artifacts',
    onError: oneOf(get(Inputs.OnError), Inputs.OnError, ['fail', 'warn'], policy['on-error'] ?? DEFAULTS.onError),
    acceptUnassessed: Object.freeze((policy['accept-unassessed'] ?? []).map((a) => Object.freeze({ ...a }))),
    failOn: oneOf(get(Inputs.FailOn), Inputs.FailOn, ['suspicious', 'backdoored'], policy['fail-on'] ?? DEFAULTS.failOn),
    prior: policy.prior ?? DEFAULT_PRIOR,
    scans,
    thresholds: thresholdsFrom(policy.thresholds, overrides, source),
    budgets: budgetSettings(budgets),
    memoryBudgetBytes: budgets['memory-mb'] === undefined ? undefined : budgets['memory-mb'] * 2 ** 20,
    policySource: source,
    limits: resolveLimits(policy.limits, DEFAULT_LIMITS),
    maxAccuracyDrop: points(get(Inputs.CleanMaxAccuracyDrop), Inputs.CleanMaxAccuracyDrop, policy.cleaning?.['max-accuracy-drop'] ?? DEFAULT_MAX_ACCURACY_DROP),
    clean,
    modelSha256: sha256Input(get(Inputs.ModelSha256)),
    github: githubSettings(get, clean),
    jobs: jobsInput(get(Inputs.Jobs)),
    threads: threadsInput(get(Inputs.Threads)),
    ...(shard ? { shard } : {}),
    ...(merge ? { merge } : {}),
  });
}

/** `auto` or 1–64 processes (see jobs.ts: auto depends on the backend, known only once it is chosen). */
export const jobsInput = (raw: string | undefined) => autoOrCountInput(raw, Inputs.Jobs, 'processes', 64);

/** `auto` or 1–8 threads (the wasm build's worker pool holds 8). */
export const threadsInput = (raw: string | undefined) => autoOrCountInput(raw, Inputs.Threads, 'threads', MAX_WASM_THREADS);

/** `auto` (also when empty) or a whole number of `unit` from 1 to `max`. */
function autoOrCountInput(raw: string | undefined, input: string, unit: string, max: number): number | 'auto' {
  const text = raw?.trim() || 'auto';
  if (text === 'auto') return 'auto';
  const n = /^\d+$/.test(text) ? Number(text) : NaN;
  if (!(n >= 1 && n <= max)) throw new ConfigurationError(`${input} must be auto or a number of ${unit} from 1 to ${max}, got '${text}'`);
  return n;
}

/** `i/n`: shard i (from 1) of n. */
export function shardInput(raw: string | undefined): Shard | undefined {
  const text = raw?.trim();
  if (!text) return undefined;
  const m = /^(\d+)\s*\/\s*(\d+)$/.exec(text);
  const [index, count] = m ? [Number(m[1]), Number(m[2])] : [NaN, NaN];
  if (!(index >= 1 && index <= count && count <= 1024))
    throw new ConfigurationError(`${Inputs.Shard} must be i/n, shard i of n (1 ≤ i ≤ n ≤ 1024), e.g. 1/4; got '${text}'`);
  return { index, count };
}

/** Partial reports to merge: paths (files or folders) separated by newlines or commas. */
function mergeInput(raw: string | undefined): string[] | undefined {
  const paths = (raw ?? '')
    .split(/[\n,]/)
    .map((p) => p.trim())
    .filter(Boolean);
  return paths.length ? paths : undefined;
}
