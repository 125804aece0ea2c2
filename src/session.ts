// One scan session, the part the action and the CLI share: GitHub context (for release: and
// artifact: specs, and the action's surfaces), backend, fetch and scan (whole, in processes, or a
// merge of shards' reports), the JSON report with its images, and SARIF. The entry points differ
// only in what they do around it.
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { selectBackend, startWholeMachineBackend, type SelectOptions } from './engine/backend.js';
import { describeError } from './errors.js';
import { runGate, type GateResult } from './gate.js';
import { findModelAnchor } from './github/anchor.js';
import { actionsArtifacts } from './github/artifacts.js';
import { canCallGitHub, lookUpWorkflowRunPull, readGitHubContext, type GitHubContext } from './github/context.js';
import { modelLocator } from './github/locator.js';
import { createOctokit, type Octokit } from './github/octokit.js';
import { MemoryLogger, type Logger } from './logger.js';
import { loadModel } from './model/load.js';
import { resolveBudgets } from './core/policy.js';
import { usefulShards } from './scan/schedule.js';
import { applyAcceptance } from './report/acceptance.js';
import type { SourceAnchor } from './report/check.js';
import { mergeReports, readPartialReports, readShardImages, type PartialReport } from './merge.js';
import { resolveJobs, scanShardsInProcesses, threadsPerProcess, type ShardCommand } from './jobs.js';
import { renderOverviewFromImages } from './report/images.js';
import { writeReportFiles, writeSarifReport } from './report/json.js';
import type { ModelOrigin } from './report/types.js';
import { evidenceOf } from './scan/registry.js';
import type { Settings } from './settings.js';

export interface GitHubSession {
  ctx: GitHubContext;
  octokit?: Octokit;
  artifacts?: ReturnType<typeof actionsArtifacts>;
}

/** The run's GitHub context and clients (none without a token and repository). */
export async function openGitHub(token: string, prNumber?: number): Promise<GitHubSession> {
  let ctx = readGitHubContext(token, process.env, prNumber);
  const octokit = canCallGitHub(ctx) ? createOctokit(ctx) : undefined;
  // A workflow_run from a fork lists no pull request: find it by the run's head branch.
  const pull = octokit ? await lookUpWorkflowRunPull(octokit, ctx) : undefined;
  if (pull) ctx = { ...ctx, pullNumber: pull.number, headSha: pull.headSha };
  return { ctx, octokit, artifacts: octokit ? actionsArtifacts(ctx) : undefined };
}

export interface ScanSession extends GateResult {
  /** Where the JSON report went ('' when it could not be written: the verdict stands). */
  reportPath: string;
  /** Why the report could not be written (the action warns; the CLI fails). */
  reportError?: unknown;
  sarifPath?: string;
  sarifError?: string;
  anchor?: SourceAnchor;
  /** How the model was fetched (none for a merge, which reads reports). */
  locator?: ReturnType<typeof modelLocator>;
}

/**
 * Selects the settings' backend for work this process does alone: with `threads: auto` the wasm
 * backend gets every core (the first start decides, as tfjs starts a backend once; jobs.ts).
 */
export function selectBackendFor(settings: Readonly<Settings>, logger: Logger, options: Pick<SelectOptions, 'nativeDirs' | 'readsSynchronously'> = {}) {
  return selectBackend({ choice: settings.backend, logger, wasmThreads: threadsPerProcess(settings.threads, 1), ...options });
}

export async function runScanSession(
  settings: Readonly<Settings>,
  github: GitHubSession,
  logger: Logger,
  options: { nativeDirs?: string[]; anchorFiles: (string | undefined)[] },
): Promise<ScanSession> {
  // The action cleans in this process, after the scan, on the same backend.
  const engine = await selectBackendFor(settings, logger, { nativeDirs: options.nativeDirs, readsSynchronously: Boolean(settings.clean) });
  const locator = modelLocator(settings, { ctx: github.ctx, octokit: github.octokit, artifacts: github.artifacts, logger });
  const result = await runGate(settings, engine, logger, locator.locate);
  return { ...writeSession(result, settings.model, settings, github, logger, options.anchorFiles), locator };
}

/**
 * A scan as the user asked for it: in this process, or split over `jobs` processes of the CLI
 * (`shards`: how to start one, and the scan's own flags for it) when the settings and the backend
 * make that pay. The CLI's `scan` and the action share it.
 */
export async function runWholeScanSession(
  settings: Readonly<Settings>,
  github: GitHubSession,
  logger: Logger,
  options: { anchorFiles: (string | undefined)[]; nativeDirs?: string[]; shards?: { command: ShardCommand; flags: readonly string[] } },
): Promise<ScanSession> {
  const { shards, ...rest } = options;
  // A native backend from the action's tool cache is this process's alone, and uses every core itself.
  if (!shards || rest.nativeDirs?.length) return runScanSession(settings, github, logger, rest);
  const jobs = await scanProcesses(settings);
  return jobs > 1 ? runJobsSession(settings, github, logger, { ...rest, ...shards, jobs }) : runScanSession(settings, github, logger, rest);
}

/**
 * How many processes a whole scan of these settings runs in. Only a backend that would run it
 * alone (tensorflow, webgpu) is started to find out: wasm's first start fixes its threads, which
 * depend on the answer (every core for a scan in this process, one for the parent of shards).
 */
export function scanProcesses(settings: Readonly<Settings>): Promise<number> {
  return resolveJobs(settings, async () => {
    const started = await startWholeMachineBackend({ choice: settings.backend, logger: new MemoryLogger(), readsSynchronously: Boolean(settings.clean) });
    return 'engine' in started;
  });
}

/**
 * The backend of the process that starts a scan's shards: it loads the model to count its classes
 * and merges the shards' reports, on one thread (the shards have the cores).
 */
export function selectShardParentBackend(settings: Readonly<Settings>) {
  return selectBackend({ choice: settings.backend, logger: new MemoryLogger(), wasmThreads: 1 });
}

/**
 * One scan split over `jobs` processes of the CLI on this machine (`scan --jobs`, the action's
 * `jobs`): the model is fetched once, each process scans a shard of it, and their reports are
 * merged into the report a whole scan gives. `flags`: the scan's own flags for the processes
 * (data, seed, policy, …).
 */
export async function runJobsSession(
  settings: Readonly<Settings>,
  github: GitHubSession,
  logger: Logger,
  options: { jobs: number; command: ShardCommand; flags: readonly string[]; anchorFiles: (string | undefined)[]; nativeDirs?: string[] },
): Promise<ScanSession> {
  const startedAt = performance.now();
  const locator = modelLocator(settings, { ctx: github.ctx, octokit: github.octokit, artifacts: github.artifacts, logger });
  let origin: ModelOrigin;
  let jobs: number;
  try {
    origin = await locator.locate(settings.model);
    // The class count caps the processes that get work (a two-class model keeps two busy).
    await selectShardParentBackend(settings);
    const { model } = await loadModel(origin.location, settings.limits);
    jobs = Math.min(options.jobs, usefulShards(model.numClasses, resolveBudgets(settings.budgets, model.inputShape).schedule));
    model.dispose();
  } catch {
    // A model that cannot be fetched or loaded: the whole scan reports it (verdict error, with the reason).
    return runScanSession(settings, github, logger, options);
  }
  if (jobs < 2) return runScanSession(settings, github, logger, options);
  const dir = mkdtempSync(path.join(os.tmpdir(), 'backdoor-gate-shards-'));
  try {
    logger.info(`scan: ${jobs} processes, one shard each`);
    // The processes share the cores: each computes on its share of threads.
    const flags = [...options.flags, '--threads', String(threadsPerProcess(settings.threads, jobs))];
    await scanShardsInProcesses(jobs, options.command, origin.location, flags, dir, logger);
    return { ...runMergeSession({ ...settings, merge: [dir] }, github, logger, { ...options, jobs: { spec: settings.model, origin, startedAt } }), locator };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** A sharded scan's merge (settings.merge: the partial reports): the report, images and SARIF a whole scan gives. */
export function runMergeSession(
  settings: Readonly<Settings>,
  github: GitHubSession,
  logger: Logger,
  options: { anchorFiles: (string | undefined)[]; jobs?: { spec: string; origin: ModelOrigin; startedAt: number } },
): ScanSession {
  let partials: PartialReport[] = [];
  let report;
  try {
    partials = readPartialReports(settings.merge ?? []);
    logger.info(`merge: ${partials.length} partial report(s): ${partials.map((p) => p.path).join(', ')}`);
    report = mergeReports(partials, settings);
    // Shards of --jobs scanned the fetched copy; the report names what the user asked for, and
    // the time the whole took.
    if (options.jobs) {
      report.model = { ...report.model, spec: options.jobs.spec, origin: options.jobs.origin };
      report.timings.totalSeconds = Math.round(performance.now() - options.jobs.startedAt) / 1000;
    }
  } catch (err) {
    // Unreadable input is a merge that does not add up: verdict error, with the reason.
    report = mergeReports([], settings);
    report.error = describeError(err);
    report.reasons = [`could not merge the shards: ${report.error}`];
  }
  const images = report.verdict === 'error' ? [] : partials.flatMap(readShardImages);
  if (report.model.inputShape && images.length) {
    try {
      const overview = renderOverviewFromImages(report.model.inputShape, evidenceOf(report.scans), images, report.suspectedTarget ?? null);
      if (overview) images.unshift(overview);
    } catch (err) {
      logger.warning(`overview image not drawn: a shard's image could not be read (${describeError(err)})`);
    }
  }
  return writeSession({ report, images }, settings.model || report.model.spec, settings, github, logger, options.anchorFiles);
}

/** The JSON report with its images, the model's anchor in the repository, and SARIF. */
function writeSession(
  { report, images }: GateResult,
  model: string,
  settings: Readonly<Settings>,
  github: GitHubSession,
  logger: Logger,
  anchorFiles: (string | undefined)[],
): ScanSession {
  // A scan's and a merge's report both come this way: the policy's acceptance is applied once, here.
  applyAcceptance(report, settings.acceptUnassessed, settings.policySource);
  const session: ScanSession = { report, images, reportPath: '' };
  try {
    session.reportPath = writeReportFiles(report, images, settings.reportPath, settings.artifactsDir);
    if (report.artifacts && 'error' in report.artifacts) logger.warning(`scan images not written: ${report.artifacts.error}`);
  } catch (err) {
    session.reportError = err;
  }
  session.anchor = findModelAnchor(github.ctx.workspace, model, anchorFiles);
  if (settings.github.sarifPath && !report.shard) {
    try {
      session.sarifPath = writeSarifReport(settings.github.sarifPath, report, session.anchor, settings.github.sarifCategory);
    } catch (err) {
      session.sarifError = describeError(err);
    }
  }
  return session;
}
