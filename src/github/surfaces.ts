// Writing to GitHub (check run, comment, uploads) must never lose the verdict: every surface runs
// through here, and a failure becomes a warning that says what permission or event to fix.
import { describeError } from '../errors.js';
import type { Logger } from '../logger.js';
import { httpStatus } from './octokit.js';

export type SurfaceResult<T> = { ok: true; value: T } | { ok: false; reason: string };

/** Runs one write surface; a failure is logged as a warning and returned, never thrown. */
export async function writeSurface<T>(name: string, permission: string, logger: Logger, write: () => Promise<T>): Promise<SurfaceResult<T>> {
  try {
    return { ok: true, value: await write() };
  } catch (err) {
    const status = httpStatus(err);
    const reason =
      status === 403 || status === 404
        ? `HTTP ${status}: the token cannot do this (it needs \`${permission}\`; pull requests from forks get a read-only token)`
        : describeError(err);
    logger.warning(`${name} skipped: ${reason}. The verdict stands; it is in the job summary and the log.`);
    return { ok: false, reason };
  }
}
