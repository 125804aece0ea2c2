// The pipeline: load → probe data → model check → scans → verdict, as pure data. Any failure
// becomes verdict `error` (fail closed); nothing here knows about GitHub or the CLI.
import * as tf from '@tensorflow/tfjs';
import os from 'node:os';
import { deepInversionImages } from './data/deep-inversion.js';
import { DEEP_INVERSION_SPEC, loadProbeImages } from './data/sources.js';
import type { ImageSet } from './data/types.js';
import { assertNoEngineFault, type EngineInfo } from './engine/backend.js';
import { ConfigurationError, describeError, InputError } from './errors.js';
import type { Logger } from './logger.js';
import type { ModelUnderTest } from './model/adapter.js';
import { loadModel } from './model/load.js';
import type { GateReport, ModelCheck, ModelOrigin, ProbeSynthesis, ShardRecord } from './report/types.js';
import { resolveBudgets, SCAN_NAMES } from './core/policy.js';
import { decide, modelContext, scanContextOf, type ScanContext } from './core/verdict.js';
import { evidenceOf, runScan, SCANS, scanVotes, type ScanInput, type ScanResults } from './scan/registry.js';
import { presentClasses } from './scan/objective.js';
import { planRows } from './engine/memory.js';
import { readScalar } from './engine/read.js';
import { spans, UNLIMITED_ROWS, type RowLimits } from './scan/batching.js';
import { renderOverviewImage, renderScanImages, type RenderedImage } from './report/images.js';
import type { Settings } from './settings.js';
import { TOOL_NAME, TOOL_VERSION } from './version.js';

const seconds = (t0: number) => Math.round((performance.now() - t0) / 10) / 100;

/** Forward pass over every probe image, and input gradients over the first batch (finite?). */
export async function checkModel(model: ModelUnderTest, probe: ImageSet, rows: RowLimits = UNLIMITED_ROWS): Promise<ModelCheck> {
  const counts = new Array<number>(model.numClasses).fill(0);
  let topProbability = 0;
  const n = probe.height * probe.width * probe.channels;
  const images = (s: number, e: number) => tf.tensor4d(probe.x.subarray(s * n, e * n), [e - s, probe.height, probe.width, probe.channels]);
  for (const [s, e] of spans(probe.count, Math.min(32, rows.forward))) {
    const logits = tf.tidy(() => model.logits(images(s, e)));
    for (const present of await presentClasses(logits, model.decision)) for (const c of present) counts[c]++;
    topProbability += await readScalar(tf.tidy(() => tf.sum(tf.max(model.decision === 'multi-label' ? tf.sigmoid(logits) : tf.softmax(logits), -1))));
    logits.dispose();
  }
  const checked = Math.min(probe.count, 32, rows.gradient);
  const gradientNorm = await readScalar(
    tf.tidy(() => {
      const topLogit = (input: tf.Tensor) => tf.sum(tf.max(model.logits(input as tf.Tensor4D), -1));
      const grad = tf.grad(topLogit)(images(0, checked));
      return tf.sum(tf.sqrt(tf.sum(tf.square(grad), [1, 2, 3])));
    }),
  );
  const check = {
    probeImages: probe.count,
    predictedClassCounts: counts,
    meanTopProbability: topProbability / probe.count,
    meanInputGradientNorm: gradientNorm / checked,
  };
  if (!Number.isFinite(check.meanTopProbability) || !Number.isFinite(check.meanInputGradientNorm)) {
    throw new Error('the model produces non-finite outputs or input gradients (overflowing or corrupt weights)');
  }
  return check;
}

/**
 * tfjs throws plain errors for models it cannot build or run (duplicate layer names, bad dtypes,
 * unsupported attributes); they are the model's fault, so they name the model like our own checks.
 */
async function asInputError<T>(model: string, what: string, step: () => Promise<T>): Promise<T> {
  try {
    return await step();
  } catch (err) {
    if (err instanceof InputError || err instanceof ConfigurationError) throw err;
    throw new InputError(model, `${what}: ${(err as Error)?.message?.split('\n')[0] ?? String(err)}`);
  }
}

/** Progress lines for a long phase: step counts and an ETA, at most every few seconds. */
export function progressLine(logger: Logger, phase: string, unit: string, everyMs = 5000): (done: number, total: number) => void {
  const t0 = performance.now();
  let last = t0;
  return (done, total) => {
    const now = performance.now();
    if (done < total && now - last < everyMs) return;
    last = now;
    const eta = done < total ? `, about ${Math.ceil((((now - t0) / done) * (total - done)) / 1000)} s left` : `, ${((now - t0) / 1000).toFixed(1)} s`;
    logger.info(`${phase}: ${unit} ${done}/${total}${eta}`);
  };
}

/**
 * The verdict from what the report records: its scan summaries (as JSON holds them) and the
 * context the scans ran in. A whole scan and a merge of shards decide through this one function.
 */
export function judge(report: GateReport, context: ScanContext, policy: Pick<Settings, 'thresholds' | 'prior'>): void {
  if (!report.scans.some((s) => scanVotes(s.method))) {
    // The Hessian scan reports but does not vote: alone it cannot clear a model.
    report.verdict = 'unassessed';
    report.reasons.push('only the input-Hessian scan ran, and it does not vote; add inversion, mask-inversion or max-margin to get a verdict');
    return;
  }
  const decision = decide(evidenceOf(report.scans), context, policy.thresholds, { prior: policy.prior });
  report.verdict = decision.verdict;
  report.score = decision.score === null ? null : Math.round(decision.score * 1e4) / 1e4;
  report.suspectedTarget = decision.suspectedTarget;
  report.reasons.push(...decision.reasons);
  if (decision.unassessed) report.unassessed = decision.unassessed;
  report.statistics = decision.statistics;
}

/** Probe images synthesised from the model (data: deep-inversion), with what the report says of them. */
async function synthesiseProbes(model: ModelUnderTest, settings: Readonly<Settings>, logger: Logger): Promise<ImageSet & { synthesis: ProbeSynthesis }> {
  logger.info(`synthesising ${settings.maxProbeImages} probe images from the model (DeepInversion)`);
  const made = await deepInversionImages(model, { count: settings.maxProbeImages, seed: settings.seed });
  const synthesis: ProbeSynthesis = { method: 'deep-inversion', prior: made.prior, classified: made.classified };
  logger.info(
    `synthesised ${made.count} probe images in ${made.seconds.toFixed(1)} s (${made.prior === 'batch-norm' ? "matching the model's batch-norm statistics" : 'no batch norm: image prior only'}); the model gives ${(100 * made.classified).toFixed(0)} % their intended class`,
  );
  const { x, count, height, width, channels, source } = made;
  return { x, count, height, width, channels, source, synthesis };
}

/** A report before anything is known: verdict `error` until a decision replaces it (fail closed). */
export function startReport(seed: number, model: GateReport['model'], policy: Pick<Settings, 'policySource' | 'failOn' | 'thresholds' | 'prior'>): GateReport {
  return {
    schemaVersion: 1,
    tool: { name: TOOL_NAME, version: TOOL_VERSION },
    verdict: 'error',
    score: null,
    reasons: [],
    seed,
    model,
    scans: [],
    timings: {},
    runtime: { node: process.version, platform: `${os.platform()}-${os.arch()}` },
    policy: { source: policy.policySource, failOn: policy.failOn, thresholds: policy.thresholds, prior: policy.prior },
  };
}

export interface GateResult {
  report: GateReport;
  /** Reconstructed triggers, masks and the top Hessian eigenvector, for the entry points to write. */
  images: RenderedImage[];
}

/** Where the model spec was fetched to (the action resolves releases, artifacts and bundles). */
export type ModelLocator = (spec: string) => Promise<ModelOrigin>;

export async function runGate(settings: Readonly<Settings>, engine: EngineInfo, logger: Logger, locate?: ModelLocator): Promise<GateResult> {
  const images: RenderedImage[] = [];
  const t0 = performance.now();
  const report: GateReport = { ...startReport(settings.seed, { spec: settings.model }, settings), engine };
  let loaded: Awaited<ReturnType<typeof loadModel>> | undefined;
  try {
    let t = performance.now();
    // A model that cannot be fetched or verified is `error` like one that cannot be read.
    const origin = locate ? await locate(settings.model) : undefined;
    if (locate) {
      report.timings.fetchSeconds = seconds(t);
      t = performance.now();
    }
    loaded = await asInputError(settings.model, 'could not be built by tfjs', () => loadModel(origin?.location ?? settings.model, settings.limits));
    const { model, source, gate } = loaded;
    report.timings.loadSeconds = seconds(t);
    report.model = {
      spec: settings.model,
      format: source.format,
      digest: source.digest,
      files: source.files,
      inputShape: model.inputShape,
      numClasses: model.numClasses,
      endsInSoftmax: model.endsInSoftmax,
      head: model.head,
      structure: model.structure,
      ...(model.classPrompts ? { classPrompts: model.classPrompts } : {}),
      input: { ...model.inputSpec, fromGateJson: gate.found },
      ...(origin ? { origin } : {}),
    };
    logger.info(`model ${settings.model}: ${source.format}, input ${model.inputShape.join('×')}, ${model.numClasses} classes, ${source.digest}`);

    t = performance.now();
    const probe: ImageSet & { synthesis?: ProbeSynthesis } =
      settings.data === DEEP_INVERSION_SPEC
        ? await synthesiseProbes(model, settings, logger)
        : loadProbeImages(settings.data, { shape: model.inputShape, maxImages: settings.maxProbeImages, seed: settings.seed });
    const readsProbes = settings.scans.some((name) => SCANS[name].readsProbes);
    // With only the data-free scan, the (synthetic) images serve the model check alone.
    const use = readsProbes || !settings.scans.length ? '' : ', for the model check only (the data-free scan reads no images)';
    report.data = {
      source: `${probe.source}${use}`,
      count: probe.count,
      shape: [probe.height, probe.width, probe.channels],
      ...(probe.synthesis ? { synthesis: probe.synthesis } : {}),
    };
    report.timings.dataSeconds = seconds(t);

    t = performance.now();
    const rows = await asInputError(settings.model, 'could not be run on the probe images', () => planRows(model, settings.memoryBudgetBytes));
    report.engine = {
      ...engine,
      memory: {
        budgetBytes: rows.budgetBytes,
        gradientRowBytes: rows.gradientRowBytes,
        forwardRowBytes: rows.forwardRowBytes,
        gradientRows: rows.gradient,
        forwardRows: rows.forward,
      },
    };
    report.modelCheck = await asInputError(settings.model, 'could not be run on the probe images', async () => checkModel(model, probe, rows));
    await assertNoEngineFault();
    report.timings.modelCheckSeconds = seconds(t);
    t = performance.now();

    if (!settings.scans.length) {
      report.verdict = 'unassessed';
      report.reasons.push('no backdoor detector ran (scans: none), so the model cannot be called clean');
      return { report, images };
    }
    const budgets = resolveBudgets(settings.budgets, model.inputShape);
    report.policy = { ...report.policy!, budgets };
    const results: ScanResults = {};
    const input: ScanInput = { model, probe, budgets, rows, seed: settings.seed, progress: (phase, unit) => progressLine(logger, phase, unit) };
    const context = scanContextOf(modelContext(model, budgets.tier), readsProbes ? probe : undefined);
    const { shard } = settings;
    const record: ShardRecord | undefined = shard && { ...shard, context, classes: [] };
    // The table's order, whatever order the policy listed them in. The Hessian scan is not per
    // class: of a sharded scan's jobs, the first runs it.
    for (const name of SCAN_NAMES.filter((n) => settings.scans.includes(n) && !(n === 'hessian' && shard && shard.index !== 1))) {
      logger.info(`scan: ${SCANS[name].title}${shard ? ` (shard ${shard.index}/${shard.count})` : ''}`);
      const planned = (all: readonly number[], ran: readonly number[]) => record!.classes.push({ method: SCANS[name].method, all: [...all], ran: [...ran] });
      const summary = await runScan(name, { ...input, shard: shard && { ...shard, planned } }, results);
      if (summary) report.scans.push(summary);
    }
    await assertNoEngineFault();
    images.push(...renderScanImages(model.inputShape, results, probe.x.subarray(0, probe.height * probe.width * probe.channels)));
    report.timings.scanSeconds = seconds(t);
    if (record) {
      report.shard = record;
      report.verdict = 'unassessed';
      report.reasons.push(
        `shard ${shard!.index}/${shard!.count} of a sharded scan: this partial report decides nothing until backdoor-gate merge combines it with the other shards'`,
      );
      return { report, images };
    }
    judge(report, context, settings);
    const overview = renderOverviewImage(model.inputShape, results, report.suspectedTarget ?? null);
    if (overview) images.unshift(overview);
  } catch (err) {
    report.verdict = 'error';
    report.error = describeError(err);
    report.reasons.push(`could not scan: ${report.error}`);
    // A shard that failed still says which it was, so the merge names it.
    if (settings.shard) report.shard = { ...settings.shard, classes: [] };
  } finally {
    loaded?.model.dispose();
    report.timings.totalSeconds = seconds(t0);
  }
  return { report, images };
}
