// One typed, frozen Settings object per run, built from action inputs or CLI flags. Nothing
// below the entry points reads inputs or flags itself.
import { ConfigurationError } from './errors.js';
import { parseBackendChoice, type BackendChoice } from './engine/backend.js';
import { DEFAULT_LIMITS, type ResourceLimits } from './model/limits.js';

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
} as const;

export const SCAN_NAMES = ['inversion', 'mask-inversion', 'hessian'] as const;
export type ScanName = (typeof SCAN_NAMES)[number];

export const Outputs = {
  Verdict: 'verdict',
  Score: 'score',
  ReportPath: 'report-path',
} as const;

export type OnError = 'fail' | 'warn';

export interface Settings {
  /** Model spec: a directory, a model.json path, or an http(s) URL. */
  model: string;
  /** Probe data spec (see src/data/sources.ts); undefined = synthetic OOD images. */
  data?: string;
  backend: BackendChoice;
  installNativeBackend: boolean;
  seed: number;
  maxProbeImages: number;
  reportPath: string;
  /** Where scan images go; default: beside the report, `<report name>-artifacts/`. */
  artifactsDir: string;
  onError: OnError;
  /** Detectors to run; empty = none (the model can then only be `unassessed`). */
  scans: ScanName[];
  limits: ResourceLimits;
}

export const DEFAULTS = {
  backend: 'auto' as BackendChoice,
  seed: 0,
  maxProbeImages: 256,
  reportPath: 'backdoor-gate-report.json',
  onError: 'fail' as OnError,
  scans: 'inversion,mask-inversion,hessian',
};

function scanList(raw: string | undefined): ScanName[] {
  const text = raw?.trim() || DEFAULTS.scans;
  if (text === 'none') return [];
  const names = text.split(',').map((s) => s.trim()).filter(Boolean);
  for (const n of names) {
    if (!(SCAN_NAMES as readonly string[]).includes(n)) throw new ConfigurationError(`${Inputs.Scans} must be a comma-separated list of ${SCAN_NAMES.join(', ')} (or none), got '${n}'`);
  }
  return [...new Set(names)] as ScanName[];
}

/** A raw source of named string values (action inputs or parsed CLI flags). */
export type RawValues = (name: string) => string | undefined;

function integer(raw: string | undefined, name: string, fallback: number, min: number, max: number): number {
  if (raw === undefined || raw.trim() === '') return fallback;
  const v = Number(raw);
  if (!Number.isInteger(v) || v < min || v > max) throw new ConfigurationError(`${name} must be an integer in [${min}, ${max}], got '${raw}'`);
  return v;
}

function bool(raw: string | undefined, name: string): boolean {
  const v = (raw ?? '').trim().toLowerCase();
  if (v === '' || v === 'false') return false;
  if (v === 'true') return true;
  throw new ConfigurationError(`${name} must be true or false, got '${raw}'`);
}

export function buildSettings(get: RawValues): Readonly<Settings> {
  const model = get(Inputs.Model)?.trim();
  if (!model) throw new ConfigurationError(`${Inputs.Model} is required: a model directory, a model.json path or an http(s) URL`);
  const onError = (get(Inputs.OnError)?.trim() || DEFAULTS.onError) as OnError;
  if (onError !== 'fail' && onError !== 'warn') throw new ConfigurationError(`${Inputs.OnError} must be fail or warn, got '${onError}'`);
  const reportPath = get(Inputs.ReportPath)?.trim() || DEFAULTS.reportPath;
  return Object.freeze({
    model,
    data: get(Inputs.Data)?.trim() || undefined,
    backend: parseBackendChoice(get(Inputs.Backend) ?? DEFAULTS.backend, Inputs.Backend),
    installNativeBackend: bool(get(Inputs.InstallNativeBackend), Inputs.InstallNativeBackend),
    seed: integer(get(Inputs.Seed), Inputs.Seed, DEFAULTS.seed, 0, 2 ** 31 - 1),
    maxProbeImages: integer(get(Inputs.MaxProbeImages), Inputs.MaxProbeImages, DEFAULTS.maxProbeImages, 1, 100_000),
    reportPath,
    artifactsDir: get(Inputs.ArtifactsDir)?.trim() || reportPath.replace(/\.json$/i, '') + '-artifacts',
    onError,
    scans: scanList(get(Inputs.Scans)),
    limits: { ...DEFAULT_LIMITS },
  });
}
