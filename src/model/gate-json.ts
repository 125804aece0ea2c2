// gate.json beside model.json tells the gate how the model reads pixels. Optional: the default
// is pixels scaled to [0, 1]. Recorded in every report so a reviewer sees what was assumed.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { InputError } from '../errors.js';

export interface InputSpec {
  /** The model's input value range; pixels in [0, 1] are mapped linearly onto it. */
  range: [number, number];
  /** Optional per-channel normalisation applied after the range mapping: (v − mean) / std. */
  mean?: number[];
  std?: number[];
  /** ONNX models only: the input's axis order (default: inferred, NCHW for PyTorch exports). */
  layout?: 'NCHW' | 'NHWC';
}

export interface GateJson {
  input: InputSpec;
  /** Optional class names, index order. */
  classes?: string[];
  /**
   * How to read a sigmoid output layer with several units: `multi-label` (the default: each unit
   * is an independent label) or `one-vs-rest` (a single-label classifier trained one-vs-rest).
   */
  head?: 'multi-label' | 'one-vs-rest';
}

export const DEFAULT_GATE_JSON: GateJson = { input: { range: [0, 1] } };

const isNumberArray = (v: unknown): v is number[] => Array.isArray(v) && v.every((n) => typeof n === 'number' && Number.isFinite(n));

/** Reads and validates `dir/gate.json`; returns the default (and `found: false`) when absent. */
export function readGateJson(dir: string): { spec: GateJson; found: boolean; file: string } {
  const file = path.join(dir, 'gate.json');
  if (!existsSync(file)) return { spec: DEFAULT_GATE_JSON, found: false, file };
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new InputError(file, `is not valid JSON (${(err as Error).message})`);
  }
  const input = (raw as { input?: Partial<InputSpec> })?.input;
  if (!input || !isNumberArray(input.range) || input.range.length !== 2 || !(input.range[1] > input.range[0])) {
    throw new InputError(file, 'input.range must be [low, high] with high > low');
  }
  for (const key of ['mean', 'std'] as const) {
    if (input[key] !== undefined && !isNumberArray(input[key])) throw new InputError(file, `input.${key} must be an array of numbers`);
  }
  if (input.std && input.std.some((s) => s <= 0)) throw new InputError(file, 'input.std values must be positive');
  if (input.layout !== undefined && input.layout !== 'NCHW' && input.layout !== 'NHWC') throw new InputError(file, 'input.layout must be "NCHW" or "NHWC"');
  const classes = (raw as { classes?: unknown }).classes;
  if (classes !== undefined && !(Array.isArray(classes) && classes.every((c) => typeof c === 'string'))) {
    throw new InputError(file, 'classes must be an array of strings');
  }
  const head = (raw as { head?: unknown }).head;
  if (head !== undefined && head !== 'multi-label' && head !== 'one-vs-rest') throw new InputError(file, 'head must be "multi-label" or "one-vs-rest"');
  return { spec: { input: input as InputSpec, classes: classes as string[] | undefined, ...(head ? { head } : {}) }, found: true, file };
}

export function writeGateJson(dir: string, spec: GateJson): void {
  writeFileSync(path.join(dir, 'gate.json'), `${JSON.stringify(spec, null, 2)}\n`);
}
