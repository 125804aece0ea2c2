// Sends a finished report to GitHub: the Check Run (created when the scan starts, completed
// with annotations), the sticky PR comment, and the scan images as an artifact. Every write goes
// through writeSurface, so a fork PR's read-only token costs warnings, never the verdict.
import { sep } from 'node:path';
import type { Logger } from '../logger.js';
import { checkRunOutput, type CheckOptions, type SourceAnchor } from '../report/check.js';
import { commentMarker, escapeHtml, renderComment, type MarkdownLinks } from '../report/markdown.js';
import type { GateReport } from '../report/types.js';
import type { GitHubSettings } from '../settings.js';
import { artifactUrl, type ArtifactUploader } from './artifacts.js';
import { completeCheckRun, createCheckRun, type CheckRunRef } from './checks.js';
import { upsertStickyComment } from './comment.js';
import type { GitHubContext } from './context.js';
import type { Octokit } from './octokit.js';
import { writeSurface } from './surfaces.js';

export interface GitHubReporterDeps {
  ctx: GitHubContext;
  settings: GitHubSettings;
  octokit?: Octokit;
  artifacts?: ArtifactUploader;
  logger: Logger;
}

export class GitHubReporter {
  private check?: CheckRunRef;

  constructor(private readonly deps: GitHubReporterDeps) {}

  /** Opens the check run before the scan, so the PR shows it in progress. */
  async begin(): Promise<void> {
    const { ctx, settings, logger } = this.deps;
    const { octokit } = this.deps;
    if (!octokit || !settings.checkRun) return;
    if (!ctx.headSha) return logger.notice('check run skipped: no commit sha (GITHUB_SHA) in this run');
    if (ctx.fromFork)
      return logger.notice('check run skipped: pull requests from forks get a read-only token; the job summary and log annotations carry the verdict');
    const created = await writeSurface('check run', 'checks: write', logger, () => createCheckRun(octokit, ctx, settings.checkName));
    if (created.ok) this.check = created.value;
  }

  /**
   * Uploads the scan images as an artifact of this run, and the overview image on its own,
   * unzipped, so a reviewer opens it in one click; returns the links (or why there are none).
   */
  async uploadImages(
    dir: string | undefined,
    files: string[],
    runtimeToken = process.env.ACTIONS_RUNTIME_TOKEN,
  ): Promise<Pick<MarkdownLinks, 'imagesUrl' | 'imagesNote' | 'overviewUrl'>> {
    const { ctx, settings, logger, artifacts } = this.deps;
    if (!dir || !files.length) return {};
    const local = { imagesNote: `written to ${dir}` };
    if (!settings.uploadImages || !artifacts || !ctx.runId) return local;
    if (!runtimeToken) return { imagesNote: `${local.imagesNote} (no artifact service in this run to upload them to)` };
    const base = `${settings.checkName.replace(/[^A-Za-z0-9._-]+/g, '-').toLowerCase()}-${ctx.runId}-${process.env.GITHUB_JOB ?? 'job'}`;
    const overview = files.find((f) => f.endsWith(`${sep}overview.png`) || f === 'overview.png');
    const links: Pick<MarkdownLinks, 'imagesUrl' | 'imagesNote' | 'overviewUrl'> = {};
    if (overview) {
      const up = await writeSurface('overview image', 'actions: write', logger, () =>
        artifacts.upload(`${base}-overview.png`, [overview], dir, { single: true }),
      );
      if (up.ok && up.value.id) links.overviewUrl = artifactUrl(ctx, up.value.id);
    }
    const up = await writeSurface('scan images artifact', 'actions: write', logger, () => artifacts.upload(`${base}-scan-images`, files, dir));
    return { ...links, ...(up.ok && up.value.id ? { imagesUrl: artifactUrl(ctx, up.value.id) } : local) };
  }

  /** Closes an open check run as failed when the run broke before a report existed. */
  async abort(message: string): Promise<void> {
    const { ctx, logger, octokit } = this.deps;
    const check = this.check;
    if (!octokit || !check) return;
    this.check = undefined;
    await writeSurface('check run', 'checks: write', logger, () =>
      completeCheckRun(octokit, ctx, check, { conclusion: 'failure', output: { title: '❌ could not run', summary: escapeHtml(message), annotations: [] } }),
    );
  }

  /** Completes the check run and updates the sticky comment; returns the check run's URL. */
  async finish(report: GateReport, anchor: SourceAnchor | undefined, options: CheckOptions & { links: MarkdownLinks }): Promise<{ checkRunUrl?: string }> {
    const { ctx, settings, logger } = this.deps;
    const { octokit } = this.deps;
    let checkRunUrl: string | undefined;
    if (octokit && this.check) {
      const check = this.check;
      const done = await writeSurface('check run', 'checks: write', logger, () =>
        completeCheckRun(octokit, ctx, check, checkRunOutput(report, anchor, options)),
      );
      if (done.ok) checkRunUrl = check.url;
    }
    if (octokit && settings.comment !== 'never' && ctx.pullNumber) {
      if (ctx.fromFork) logger.notice('PR comment skipped: pull requests from forks get a read-only token');
      else {
        // on-findings: a clean model gets no new comment, but an earlier one is updated to say so.
        const create = settings.comment === 'always' || report.verdict !== 'clean';
        const body = renderComment(report, settings.checkName, {
          mermaid: true,
          links: { ...options.links, reportPath: undefined },
          clean: options.clean,
          title: settings.checkName,
        });
        const res = await writeSurface('PR comment', 'pull-requests: write', logger, () =>
          upsertStickyComment(octokit, ctx, commentMarker(settings.checkName), body, { create }),
        );
        if (res.ok && res.value.action !== 'none') logger.info(`PR comment ${res.value.action}: ${res.value.url}`);
      }
    }
    return { checkRunUrl };
  }
}
