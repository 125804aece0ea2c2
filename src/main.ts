// The action: inputs → settings → fetch → scan → outputs → (clean → publish) → reports.
// The verdict and its outputs are set before any report is written, and every GitHub write
// degrades to a warning: a report that fails never loses the verdict. One try/catch: anything
// unexpected fails the step (fail closed) unless `on-error: warn`.
import * as core from '@actions/core';
import * as toolCache from '@actions/tool-cache';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { runClean, type CleanRequest } from './clean/pipeline.js';
import { cleanedModelFailure, cleanSummary, type CleanReport } from './clean/report.js';
import { DEFAULT_POLICY_PATH } from './core/policy.js';
import { isFlagged } from './core/verdict.js';
import { ensureNativeBackend } from './engine/native.js';
import { describeError } from './errors.js';
import { runUrl } from './github/context.js';
import { publishModel, type PublishDeps } from './github/publish.js';
import { GitHubReporter } from './github/reporting.js';
import { runnerScratchDir } from './github/locator.js';
import type { ResolvedModel } from './github/sources.js';
import { writeSurface } from './github/surfaces.js';
import { shardFlags, type ShardCommand } from './jobs.js';
import type { Logger } from './logger.js';
import { onErrorFor } from './report/acceptance.js';
import { checkConclusion, type SourceAnchor } from './report/check.js';
import { findingsOf } from './report/findings.js';
import { writeJsonReport } from './report/json.js';
import { renderMarkdown, type MarkdownLinks } from './report/markdown.js';
import type { GateReport, Verdict } from './report/types.js';
import { openGitHub, runMergeSession, runScanSession, runWholeScanSession, type ScanSession } from './session.js';
import { ACTION_INPUT_DEFAULTS, buildSettings, Inputs, Outputs, type Settings } from './settings.js';

const actionsLogger: Logger = {
  info: (m) => core.info(m),
  notice: (m) => core.notice(m),
  warning: (m) => core.warning(m),
  error: (m) => core.error(m),
  debug: (m) => core.debug(m),
};

/** An input, or the default action.yml declares for it (the runner applies those; bare runs do not). */
const actionInput = (name: string) => core.getInput(name) || ACTION_INPUT_DEFAULTS[name as keyof typeof ACTION_INPUT_DEFAULTS] || '';

/** Cleans a flagged model (or, with clean-force, one the scan passed); `passes` when the cleaned copy's re-scan is clean and its accuracy cost within the policy. A failure is a warning (fail closed). */
async function cleanFlagged(
  location: string,
  settings: Readonly<Settings>,
  flagged: CleanRequest['flagged'],
  inputVerdict: Verdict,
): Promise<{ passes: boolean; report?: CleanReport }> {
  const clean = settings.clean!;
  // A forced clean of a model the gate passed leaves its verdict standing whatever the cleaning does.
  const fallback = inputVerdict === 'clean' ? "the input model's verdict (clean) stands" : 'the input model fails the gate';
  try {
    const report = await runClean(
      {
        model: location,
        data: clean.data,
        out: clean.out,
        method: clean.method,
        seed: settings.seed,
        policy: settings,
        flagged,
        unlabelled: settings.data,
        force: clean.force,
      },
      actionsLogger,
    );
    writeJsonReport(clean.reportPath, report);
    if (!report.output) {
      core.warning(`clean: ${report.skipped ?? 'nothing written'}`);
      return { passes: false, report };
    }
    core.setOutput(Outputs.CleanedModelPath, report.output.dir);
    core.setOutput(Outputs.CleanedVerdict, report.verdictAfter ?? '');
    core.setOutput(Outputs.CleanedAccuracyDrop, report.accuracyCost ? report.accuracyCost.points.toFixed(1) : '');
    const summary = `${cleanSummary(report)}, re-scan ${report.verdictAfter}`;
    const failure = cleanedModelFailure(report);
    if (failure) {
      core.warning(`clean: the cleaned model does not pass: ${failure} (${summary}); ${fallback}`);
      return { passes: false, report };
    }
    core.warning(
      `${settings.model} is ${report.verdictBefore}; the cleaned model ${report.output.dir} (${report.output.digest}) passes the re-scan: ${summary}. Ship the cleaned model, not the input.`,
    );
    return { passes: true, report };
  } catch (err) {
    core.warning(`clean: ${describeError(err)}; ${fallback}`);
    return { passes: false };
  }
}

async function publishCleaned(
  settings: Readonly<Settings>,
  cleaned: CleanReport,
  resolved: ResolvedModel | undefined,
  github: Pick<PublishDeps, 'ctx' | 'octokit' | 'artifacts'>,
): Promise<void> {
  const target = settings.github.publish!;
  const base =
    path
      .basename(settings.model.replace(/^(release|artifact):/, '').replace(/[/\\]+$/, ''))
      .replace(/(\.tar\.gz|\.tgz|\.zip|\.tar|\.json)$/i, '')
      .replace(/[^A-Za-z0-9._-]+/g, '-') || 'model';
  const assetName = settings.github.publishName ?? `${base}-cleaned.tar.gz`;
  const published = await writeSurface(`publish (${target.kind})`, target.kind === 'release' ? 'contents: write' : 'actions: write', actionsLogger, () =>
    publishModel(target, cleaned.output!.dir, assetName, settings.github.publishOverwrite, resolved?.release, {
      ...github,
      logger: actionsLogger,
      tempDir: runnerScratchDir(),
    }),
  );
  if (!published.ok) return;
  core.setOutput(Outputs.CleanedModelUrl, published.value.url);
  core.info(`published the cleaned model: ${published.value.url}`);
}

/**
 * Log annotations carry the findings even when no API write is allowed (fork PRs); 10 per level
 * is GitHub's cap. `passing`: the step passes (a cleaned copy passed), so they are warnings.
 */
function logAnnotations(report: GateReport, anchor: SourceAnchor | undefined, passing: boolean): void {
  const perLevel = { error: 0, warning: 0, note: 0 };
  // The first finding is the verdict, which the step's final message carries.
  for (const f of findingsOf(report).slice(1)) {
    if (++perLevel[f.level] > 10) continue;
    const props = { title: f.title, ...(anchor ? { file: anchor.path, startLine: anchor.line } : {}) };
    if (f.level === 'error' && !passing) core.error(f.message, props);
    else if (f.level !== 'note') core.warning(f.message, props);
    else core.notice(f.message, props);
  }
}

/** A shard's job: its partial report (uploaded by the workflow for the merge job) and a line in the job summary; it fails only when it could not scan. */
async function scanShard(settings: Readonly<Settings>, session: ScanSession): Promise<void> {
  const { report, reportPath } = session;
  const { index, count } = settings.shard!;
  core.setOutput(Outputs.Verdict, report.verdict);
  core.setOutput(Outputs.ReportPath, reportPath);
  if (session.reportError) core.setFailed(`shard ${index}/${count}: the partial report was not written: ${describeError(session.reportError)}`);
  else if (report.verdict === 'error') core.setFailed(`Backdoor Gate shard ${index}/${count} could not scan: ${report.error}`);
  else core.info(`shard ${index}/${count} scanned; partial report: ${reportPath} (the merge job gives the verdict)`);
  if (process.env.GITHUB_STEP_SUMMARY) {
    const ran = (report.shard?.classes ?? []).map((c) => `${c.method}: classes ${c.ran.join(', ')}`).join('; ');
    await core.summary
      .addRaw(
        `### Backdoor Gate: shard ${index}/${count} of ${settings.model}\n\n${report.verdict === 'error' ? `could not scan: ${report.error}` : `${ran || 'scanned'}; ${report.timings.totalSeconds ?? '?'} s. The merge job gives the verdict.`}\n`,
      )
      .write()
      .catch((err: unknown) => core.warning(`job summary not written: ${describeError(err)}`));
  }
}

/** The CLI bundle beside the action's (dist/cli.js), which scans shards in processes; none when the action runs from source. */
function bundledCli(): ShardCommand | undefined {
  const entry = path.resolve(process.argv[1] ?? '');
  const script = path.join(path.dirname(entry), 'cli.js');
  return path.basename(entry) === 'index.js' && existsSync(script) ? { script, execArgv: [] } : undefined;
}

export async function run(): Promise<void> {
  let reporter: GitHubReporter | undefined;
  try {
    const settings = buildSettings(actionInput);
    if (settings.github.token) core.setSecret(settings.github.token);
    const github = await openGitHub(settings.github.token, settings.github.prNumber);
    const { ctx, octokit, artifacts } = github;
    if (!octokit)
      core.notice(`No GitHub token or repository in this run: the check run, PR comment and uploads are skipped; the job summary and log carry the verdict.`);
    const nativeDirs: string[] = [];
    if (settings.installNativeBackend && !settings.merge) {
      const native = await ensureNativeBackend(toolCache, actionsLogger, undefined, settings.installNativeBackend);
      if ('dir' in native) nativeDirs.push(native.dir);
      else core.warning(`install-native-backend: ${native.error}; continuing without it`);
    }
    const anchorFiles = [ctx.workflowPath, actionInput(Inputs.Policy) || DEFAULT_POLICY_PATH];
    // A shard decides nothing: no check run, comment or SARIF; the merge job writes them.
    if (settings.shard) return await scanShard(settings, await runScanSession(settings, github, actionsLogger, { nativeDirs, anchorFiles }));
    reporter = new GitHubReporter({ ctx, settings: settings.github, octokit, artifacts, logger: actionsLogger });
    await reporter.begin();

    // Each phase is a collapsible group in the log, with its progress lines inside.
    const session = settings.merge
      ? await core.group('Backdoor Gate: merge the shards', async () => runMergeSession(settings, github, actionsLogger, { anchorFiles }))
      : await core.group('Backdoor Gate: fetch and scan', () => {
          const cli = bundledCli();
          const shards = cli && { command: cli, flags: [...shardFlags(actionInput), ...(core.isDebug() ? ['--verbose'] : [])] };
          return runWholeScanSession(settings, github, actionsLogger, { nativeDirs, anchorFiles, shards });
        });
    const { report, reportPath, anchor, locator } = session;
    core.setOutput(Outputs.Verdict, report.verdict);
    core.setOutput(Outputs.Score, report.score === null ? '' : String(report.score));
    if (session.reportError) core.warning(`JSON report not written: ${describeError(session.reportError)}`);
    core.setOutput(Outputs.ReportPath, reportPath);
    if (session.sarifError) core.warning(`SARIF not written: ${session.sarifError}`);
    if (session.sarifPath) core.setOutput(Outputs.SarifPath, session.sarifPath);

    let cleaned: { passes: boolean; report?: CleanReport } = { passes: false };
    // Forced cleaning takes a model the scan passed or could not judge, never one it could not scan.
    const flaggedOrForced = isFlagged(report.verdict) || (settings.clean?.force === true && (report.verdict === 'clean' || report.verdict === 'unassessed'));
    if (settings.clean && flaggedOrForced) {
      // A finding with no class (the untargeted mask) is passed on too: auto then cleans without a trigger.
      const flagged = isFlagged(report.verdict) ? { verdict: report.verdict, target: report.suspectedTarget ?? null } : undefined;
      cleaned = await core.group('Backdoor Gate: clean and re-scan', () =>
        cleanFlagged(report.model.origin?.location ?? settings.model, settings, flagged, report.verdict),
      );
      if (cleaned.passes && settings.github.publish) await publishCleaned(settings, cleaned.report!, locator?.resolved(), { ctx, octokit, artifacts });
    }

    const written = report.artifacts && 'dir' in report.artifacts ? report.artifacts : undefined;
    const links: MarkdownLinks = {
      reportPath: reportPath || undefined,
      runUrl: runUrl(ctx),
      ...(await reporter.uploadImages(written?.dir, written?.files.map((f) => path.join(written.dir, f)) ?? [])),
    };
    if (process.env.GITHUB_STEP_SUMMARY) {
      try {
        await core.summary
          .addRaw(renderMarkdown(report, { mermaid: true, links, clean: cleaned.report, title: settings.github.checkName }, 256 * 1024))
          .write();
      } catch (err) {
        core.warning(`job summary not written: ${describeError(err)}`);
      }
    }
    const onError = onErrorFor(report, settings.onError);
    const { checkRunUrl } = await reporter.finish(report, anchor, {
      failOn: settings.failOn,
      onError,
      links,
      clean: cleaned.report,
      cleanedPasses: cleaned.passes,
    });
    if (checkRunUrl) core.setOutput(Outputs.CheckRunUrl, checkRunUrl);
    // A finding shows once: as a check-run annotation, or in the log when no check run was written.
    if (!checkRunUrl) logAnnotations(report, anchor, cleaned.passes);
    core.info(`verdict: ${report.verdict}; report: ${reportPath}`);

    // The step's outcome is the check run's conclusion: success passes, neutral warns, failure fails.
    const conclusion = checkConclusion(report, settings.failOn, onError);
    if (conclusion === 'success' || cleaned.passes) return;
    const message = `Backdoor Gate: ${report.verdict} — ${report.reasons.join('; ')}`;
    const props = { title: `Backdoor Gate: ${report.verdict}`, ...(anchor && !checkRunUrl ? { file: anchor.path, startLine: anchor.line } : {}) };
    if (conclusion === 'neutral') core.warning(message, props);
    else {
      core.error(message, props);
      process.exitCode = core.ExitCode.Failure;
    }
  } catch (err) {
    core.setOutput(Outputs.Verdict, 'error');
    core.setFailed(`Backdoor Gate could not run: ${describeError(err)}`);
    // A check run opened before the failure must not stay in progress (or pass): close it as failed.
    await reporter?.abort(`Backdoor Gate could not run: ${describeError(err)}`);
  }
}
