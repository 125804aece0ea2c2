// The model locator both entry points hand the gate: resolves the `model` spec (release, artifact,
// URL, path, bundle) to a local copy, through the runner's tool cache when there is one.
import * as toolCache from '@actions/tool-cache';
import { mkdirSync } from 'node:fs';
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
    resolved = await resolveModel(spec, {
      ...deps,
      cache: process.env.RUNNER_TOOL_CACHE ? toolCacheStore(toolCache) : undefined,
      tc: toolCache,
      tempDir,
      limits: settings.limits,
      expectedSha256: settings.modelSha256,
    });
    return { source: resolved.source, location: resolved.location, cacheHit: resolved.cacheHit, bundleSha256: resolved.bundleSha256 };
  };
  return { locate, resolved: () => resolved };
}
