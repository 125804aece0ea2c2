// The model locator both entry points hand the gate: resolves the `model` spec (release, artifact,
// URL, path, bundle) to a local copy, through the runner's tool cache when there is one.
import * as toolCache from '@actions/tool-cache';
import { mkdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import type { ModelLocator } from '../gate.js';
import type { Logger } from '../logger.js';
import type { Settings } from '../settings.js';
import type { GitHubContext } from './context.js';
import type { Octokit } from './octokit.js';
import { resolveModel, toolCacheStore, type ArtifactStore, type ResolvedModel } from './sources.js';

/** A new directory for this run's downloads and bundles, under RUNNER_TEMP (emptied by the runner). */
export function runnerScratchDir(): string {
  const dir = path.join(process.env.RUNNER_TEMP || os.tmpdir(), `backdoor-gate-${randomUUID()}`);
  mkdirSync(dir, { recursive: true });
  return dir;
}

/**
 * After a model was located: its scratch directory goes now when the model lives elsewhere (a
 * local path, the tool cache), and at exit when the model was unpacked into it outside a runner
 * (nothing empties the CLI's temp directory: every run would leave a copy of the model there).
 */
export function releaseScratchDir(
  dir: string,
  location: string | undefined,
  atExit: (remove: () => void) => void = (remove) => process.once('exit', remove),
): void {
  const remove = () => rmSync(dir, { recursive: true, force: true });
  const inside = location !== undefined && path.resolve(location).startsWith(path.resolve(dir) + path.sep);
  if (!inside) remove();
  else if (!process.env.RUNNER_TEMP) atExit(remove);
}

export interface LocatorDeps {
  ctx: GitHubContext;
  octokit?: Octokit;
  artifacts?: ArtifactStore;
  logger: Logger;
}

/** A locator, and what it resolved (the release a model came from is where a cleaned one goes). */
export function modelLocator(settings: Readonly<Settings>, deps: LocatorDeps): { locate: ModelLocator; resolved: () => ResolvedModel | undefined } {
  let resolved: ResolvedModel | undefined;
  const locate: ModelLocator = async (spec) => {
    const tempDir = runnerScratchDir();
    let found: ResolvedModel | undefined;
    try {
      found = await resolveModel(spec, {
        ...deps,
        cache: process.env.RUNNER_TOOL_CACHE ? toolCacheStore(toolCache) : undefined,
        tc: toolCache,
        tempDir,
        limits: settings.limits,
        expectedSha256: settings.modelSha256,
      });
    } finally {
      releaseScratchDir(tempDir, found?.location);
    }
    resolved = found;
    return { source: resolved.source, location: resolved.location, cacheHit: resolved.cacheHit, bundleSha256: resolved.bundleSha256 };
  };
  return { locate, resolved: () => resolved };
}
