// One Octokit for the run, pointed at GITHUB_API_URL (GHES, or the loopback server in tests).
// Requests are retried on network errors and 5xx: the scan blocks the event loop for minutes, so
// a kept-alive socket the server closed meanwhile fails the first request after it.
import { getOctokit } from '@actions/github';
import { retry } from '@octokit/plugin-retry';
import type { GitHubContext } from './context.js';

export type Octokit = ReturnType<typeof getOctokit>;

/** Client errors a retry cannot fix (403 is a missing permission, 422 a rejected body). */
const DO_NOT_RETRY = [400, 401, 403, 404, 410, 422, 451];

export function createOctokit(ctx: GitHubContext): Octokit {
  return getOctokit(ctx.token, { baseUrl: ctx.apiUrl, retry: { doNotRetry: DO_NOT_RETRY } }, retry);
}

/** The HTTP status of an Octokit (or tool-cache) error, if it has one. */
export function httpStatus(err: unknown): number | undefined {
  const e = err as { status?: unknown; httpStatusCode?: unknown };
  return typeof e?.status === 'number' ? e.status : typeof e?.httpStatusCode === 'number' ? e.httpStatusCode : undefined;
}
