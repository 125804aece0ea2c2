// The workflow run as the action sees it, read once from the runner's environment and event file.
// Nothing here calls GitHub.
import { existsSync, readFileSync } from 'node:fs';

export interface GitHubContext {
  /** Empty when the action runs with no token (local runs, or `github-token: ''`). */
  token: string;
  apiUrl: string;
  serverUrl: string;
  owner?: string;
  repo?: string;
  eventName?: string;
  /** The commit checks go on: the PR head for pull requests (GITHUB_SHA is the merge commit there). */
  headSha?: string;
  pullNumber?: number;
  /** A pull request from another repository: its token is read-only, so write surfaces are skipped. */
  fromFork: boolean;
  runId?: number;
  workspace: string;
  /** `.github/workflows/x.yml` of the running workflow, repository-relative. */
  workflowPath?: string;
}

type Env = Record<string, string | undefined>;

interface PullRequestPayload {
  number?: number;
  head?: { sha?: string; repo?: { full_name?: string } | null };
}

function readEvent(file: string | undefined): Record<string, unknown> {
  if (!file || !existsSync(file)) return {};
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
  } catch {
    return {};
  }
}

export function readGitHubContext(token: string, env: Env = process.env): GitHubContext {
  const [owner, repo] = (env.GITHUB_REPOSITORY ?? '').split('/');
  const event = readEvent(env.GITHUB_EVENT_PATH);
  const pr = (event.pull_request ?? undefined) as PullRequestPayload | undefined;
  const workflowRun = event.workflow_run as { head_sha?: string; pull_requests?: { number?: number; head?: { sha?: string } }[] } | undefined;
  const headSha = pr?.head?.sha ?? workflowRun?.pull_requests?.[0]?.head?.sha ?? workflowRun?.head_sha ?? env.GITHUB_SHA;
  const fullName = env.GITHUB_REPOSITORY;
  const headRepo = pr?.head?.repo?.full_name;
  // GITHUB_WORKFLOW_REF: owner/repo/.github/workflows/file.yml@refs/heads/main
  const workflowPath = /^[^/]+\/[^/]+\/(.+?)@/.exec(env.GITHUB_WORKFLOW_REF ?? '')?.[1];
  const runId = Number(env.GITHUB_RUN_ID);
  return {
    token,
    apiUrl: env.GITHUB_API_URL || 'https://api.github.com',
    serverUrl: env.GITHUB_SERVER_URL || 'https://github.com',
    owner: owner || undefined,
    repo: repo || undefined,
    eventName: env.GITHUB_EVENT_NAME,
    headSha,
    pullNumber: pr?.number ?? workflowRun?.pull_requests?.[0]?.number ?? (typeof event.number === 'number' ? event.number : undefined),
    fromFork: Boolean(pr && fullName && headRepo && headRepo !== fullName),
    runId: Number.isInteger(runId) && runId > 0 ? runId : undefined,
    workspace: env.GITHUB_WORKSPACE || process.cwd(),
    workflowPath,
  };
}

/** Whether the GitHub API can be called at all (a token and a repository). */
export const canCallGitHub = (ctx: GitHubContext) => Boolean(ctx.token && ctx.owner && ctx.repo);

export function runUrl(ctx: GitHubContext): string | undefined {
  return ctx.owner && ctx.repo && ctx.runId ? `${ctx.serverUrl}/${ctx.owner}/${ctx.repo}/actions/runs/${ctx.runId}` : undefined;
}
