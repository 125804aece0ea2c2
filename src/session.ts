// One scan session, the part the action and the CLI share: GitHub context (for release: and
// artifact: specs, and the action's surfaces), backend, fetch and scan, the JSON report with its
// images, and SARIF. The entry points differ only in what they do around it.
import { selectBackend } from './engine/backend.js';
import { describeError } from './errors.js';
import { runGate, type GateResult } from './gate.js';
import { findModelAnchor } from './github/anchor.js';
import { actionsArtifacts } from './github/artifacts.js';
import { canCallGitHub, lookUpWorkflowRunPull, readGitHubContext, type GitHubContext } from './github/context.js';
import { modelLocator } from './github/locator.js';
import { createOctokit, type Octokit } from './github/octokit.js';
import type { Logger } from './logger.js';
import type { SourceAnchor } from './report/check.js';
import { writeReportFiles, writeSarifReport } from './report/json.js';
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
  locator: ReturnType<typeof modelLocator>;
}

export async function runScanSession(
  settings: Readonly<Settings>,
  github: GitHubSession,
  logger: Logger,
  options: { nativeDirs?: string[]; anchorFiles: (string | undefined)[] },
): Promise<ScanSession> {
  const engine = await selectBackend({ choice: settings.backend, nativeDirs: options.nativeDirs, logger });
  const locator = modelLocator(settings, { ctx: github.ctx, octokit: github.octokit, artifacts: github.artifacts, logger });
  const { report, images } = await runGate(settings, engine, logger, locator.locate);
  const session: ScanSession = { report, images, reportPath: '', locator };
  try {
    session.reportPath = writeReportFiles(report, images, settings.reportPath, settings.artifactsDir);
    if (report.artifacts && 'error' in report.artifacts) logger.warning(`scan images not written: ${report.artifacts.error}`);
  } catch (err) {
    session.reportError = err;
  }
  session.anchor = findModelAnchor(github.ctx.workspace, settings.model, options.anchorFiles);
  if (settings.github.sarifPath) {
    try {
      session.sarifPath = writeSarifReport(settings.github.sarifPath, report, session.anchor, settings.github.sarifCategory);
    } catch (err) {
      session.sarifError = describeError(err);
    }
  }
  return session;
}
