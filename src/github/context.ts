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
  /**
   * A `pull_request` event from another repository: its token is read-only, so write surfaces
   * are skipped. `pull_request_target` and `workflow_run` run with the base repository's token.
   */
  fromFork: boolean;
  /** For `workflow_run` events: the triggering run's head, to find its pull request by branch. */
  workflowRunHead?: { owner: string; branch: string };
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

/** `pr-number` (an explicit pull request) wins over what the event says. */
export function readGitHubContext(token: string, env: Env = process.env, prNumber?: number): GitHubContext {
  const [owner, repo] = (env.GITHUB_REPOSITORY ?? '').split('/');
  const event = readEvent(env.GITHUB_EVENT_PATH);
  const pr = (event.pull_request ?? undefined) as PullRequestPayload | undefined;
  const workflowRun = event.workflow_run as
    | {
        head_sha?: string;
        head_branch?: string;
        head_repository?: { owner?: { login?: string } };
        pull_requests?: { number?: number; head?: { sha?: string } }[];
      }
    | undefined;
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
    pullNumber: prNumber ?? pr?.number ?? workflowRun?.pull_requests?.[0]?.number ?? (typeof event.number === 'number' ? event.number : undefined),
    fromFork: env.GITHUB_EVENT_NAME !== 'pull_request_target' && Boolean(pr && fullName && headRepo && headRepo !== fullName),
    workflowRunHead:
      workflowRun?.head_branch && workflowRun.head_repository?.owner?.login
        ? { owner: workflowRun.head_repository.owner.login, branch: workflowRun.head_branch }
        : undefined,
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

/**
 * A `workflow_run` from a fork lists no pull requests: find the open one whose head is the
 * triggering run's branch (owner:branch). Undefined when there is none or the lookup fails.
 */
export async function lookUpWorkflowRunPull(
  octokit: {
    rest: {
      pulls: {
        list(p: {
          owner: string;
          repo: string;
          head: string;
          state: 'open';
          per_page: number;
        }): Promise<{ data: Array<{ number: number; head: { sha: string } }> }>;
      };
    };
  },
  ctx: GitHubContext,
): Promise<{ number: number; headSha: string } | undefined> {
  if (ctx.pullNumber || !ctx.workflowRunHead || !ctx.owner || !ctx.repo) return undefined;
  try {
    const { data } = await octokit.rest.pulls.list({
      owner: ctx.owner,
      repo: ctx.repo,
      head: `${ctx.workflowRunHead.owner}:${ctx.workflowRunHead.branch}`,
      state: 'open',
      per_page: 10,
    });
    const pull = data.find((p) => !ctx.headSha || p.head.sha === ctx.headSha) ?? data[0];
    return pull ? { number: pull.number, headSha: pull.head.sha } : undefined;
  } catch {
    return undefined;
  }
}
