// The JSON report: everything a reviewer needs to judge and re-run a scan.
import type { Thresholds, ScanBudgets } from '../core/policy.js';
import type { EngineInfo } from '../engine/backend.js';
import type { InputSpec } from '../model/gate-json.js';
import type { ModelFile } from '../model/read.js';
import type { ScanContext } from '../core/verdict.js';
import type { NetworkStructure } from '../model/structure.js';
import type { ClassPromptKind } from '../model/dual/manifest.js';
import type { ScanMethod, ScanSummary } from '../scan/registry.js';

export type { ScanSummary } from '../scan/registry.js';

/**
 * `unassessed`: the model loaded and computed, but no detector ran (none is configured yet),
 * so the gate cannot call it clean. `error`: the model or data could not be scanned.
 */
export type Verdict = 'clean' | 'suspicious' | 'backdoored' | 'unassessed' | 'error';

export interface ModelCheck {
  probeImages: number;
  /** How many probe images each class receives: a collapsed model shows up here. */
  predictedClassCounts: number[];
  meanTopProbability: number;
  /** Mean L2 norm of ∂(top logit)/∂x over the probe images; proves the model is differentiable. */
  meanInputGradientNorm: number;
}

/** Rows per pass the memory budget allows, from the measured bytes of one row. */
export interface MemoryPlan {
  budgetBytes: number;
  gradientRowBytes: number;
  forwardRowBytes: number;
  gradientRows: number;
  forwardRows: number;
}

export interface ModelOrigin {
  source: 'release' | 'artifact' | 'url' | 'path';
  location: string;
  cacheHit: boolean;
  /** sha256 of the downloaded bundle (verified against GitHub's digest when it has one). */
  bundleSha256?: string;
}

/** A voting scan's decision statistic: its value, the class it points at, each class's value. */
export interface DecisionStatistic {
  value: number;
  target: number | null;
  perClass?: Array<number | null>;
}

/**
 * What makes a report partial: shard `index` of `count` ran its share of the per-class work
 * (`scan --shard i/n`); `merge` combines the shards' reports into the verdict.
 */
export interface ShardRecord {
  index: number;
  count: number;
  /** What the verdict needs besides the scans, which only a job that loaded the model knows (absent when the shard could not scan). */
  context?: ScanContext;
  /** Per scan, the classes the whole scan gives the full budget and this shard's share (the Hessian scan, not per class, runs in shard 1). */
  classes: Array<{ method: ScanMethod; all: number[]; ran: number[] }>;
}

/** Where a merged report came from: each shard's report and how long its job scanned. */
export interface MergeRecord {
  shards: Array<{ index: number; report: string; digest: string; totalSeconds?: number }>;
}

export interface GateReport {
  schemaVersion: 1;
  tool: { name: string; version: string };
  verdict: Verdict;
  /** Probability-like backdoor score in [0,1]; null until a detector produces one. */
  score: number | null;
  reasons: string[];
  error?: string;
  seed: number;
  model: {
    spec: string;
    format?: string;
    digest?: string;
    files?: ModelFile[];
    inputShape?: [number, number, number];
    numClasses?: number;
    endsInSoftmax?: boolean;
    /** How the network ends: logits, softmax, one sigmoid (binary), multi-label sigmoids, one-vs-rest sigmoids. */
    head?: 'logits' | 'softmax' | 'sigmoid' | 'multi-label' | 'one-vs-rest';
    /** Skip connections and depthwise convolutions, read from the graph. */
    structure?: NetworkStructure;
    /** A dual encoder's kind of class prompts (its power is measured per kind). */
    classPrompts?: ClassPromptKind;
    input?: InputSpec & { fromGateJson: boolean };
    /** How the spec was fetched: the source kind, the local copy scanned, and whether the cache had it. */
    origin?: ModelOrigin;
  };
  data?: { source: string; count: number; shape: [number, number, number]; synthesis?: ProbeSynthesis };
  engine?: EngineInfo & { memory?: MemoryPlan };
  /** Where the policy came from, and what it resolved to for this model. */
  policy?: { source: string; failOn: string; thresholds: Thresholds; prior?: number; budgets?: ScanBudgets };
  modelCheck?: ModelCheck;
  /** Class the scans point at when the verdict is not clean. */
  suspectedTarget?: number | null;
  /** Why the scans had no power, when the verdict is `unassessed` (what to give: data, budget). */
  unassessed?: string[];
  /** Set when the policy accepts this very model unassessed (`accept-unassessed`, by digest; acceptance.ts). */
  accepted?: { digest: string; note?: string; policy: string };
  /** The decision statistics (each scan's value and the class it points at). */
  statistics?: { dense?: DecisionStatistic; mask?: DecisionStatistic; untargeted?: DecisionStatistic; maxMargin?: DecisionStatistic };
  /** One summary per detector run (large arrays such as triggers are left out). */
  scans: ScanSummary[];
  /** PNG images of the scans (triggers, masks, Hessian eigenvector), or why they were not written. */
  artifacts?: { dir: string; files: string[] } | { error: string };
  timings: Record<string, number>;
  runtime: { node: string; platform: string };
  /** Set on a shard's partial report, which decides nothing (its verdict is `unassessed`). */
  shard?: ShardRecord;
  /** Set on a report merged from shards. */
  merged?: MergeRecord;
}

/** Exit codes of `backdoor-gate scan`. */
export const EXIT = { pass: 0, fail: 1, couldNotScan: 2 } as const;

/** The gate's outcome for a verdict: `fail-on: backdoored` lets a suspicious model through (with a warning). */
export function outcomeFor(verdict: Verdict, failOn: 'suspicious' | 'backdoored' = 'suspicious'): 'pass' | 'warn' | 'fail' | 'could-not-scan' {
  if (verdict === 'clean') return 'pass';
  if (verdict === 'suspicious') return failOn === 'suspicious' ? 'fail' : 'warn';
  if (verdict === 'backdoored') return 'fail';
  return 'could-not-scan';
}

/** `on-error: warn` lets a model that could not be scanned or assessed through, with a warning. */
export function exitCodeFor(verdict: Verdict, failOn: 'suspicious' | 'backdoored' = 'suspicious', onError: 'fail' | 'warn' = 'fail'): number {
  const outcome = outcomeFor(verdict, failOn);
  if (outcome === 'could-not-scan') return onError === 'warn' ? EXIT.pass : EXIT.couldNotScan;
  return outcome === 'pass' || outcome === 'warn' ? EXIT.pass : EXIT.fail;
}

/** How probe images synthesised from the model were made (data: deep-inversion; the time is timings.dataSeconds). */
export interface ProbeSynthesis {
  method: 'deep-inversion';
  /** 'batch-norm': the model's batch-norm statistics were matched; 'image': the image prior alone. */
  prior: 'batch-norm' | 'image';
  /** Share of the images the model classifies as the class they were made for. */
  classified: number;
}
