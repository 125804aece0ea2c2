// One Octokit for the run, pointed at GITHUB_API_URL (GHES, or the loopback server in tests).
import { getOctokit } from '@actions/github';
import type { GitHubContext } from './context.js';

export type Octokit = ReturnType<typeof getOctokit>;

export function createOctokit(ctx: GitHubContext): Octokit {
  return getOctokit(ctx.token, { baseUrl: ctx.apiUrl });
}

/** The HTTP status of an Octokit (or tool-cache) error, if it has one. */
export function httpStatus(err: unknown): number | undefined {
  const e = err as { status?: unknown; httpStatusCode?: unknown };
  const status = typeof e?.status === 'number' ? e.status : typeof e?.httpStatusCode === 'number' ? e.httpStatusCode : undefined;
  return status;
}
