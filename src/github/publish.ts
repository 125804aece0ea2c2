// Publishes a cleaned model: a .tar.gz bundle uploaded as a release asset (to the release the
// model came from, or a named one), or the model's files as an artifact of this run. An asset of
// the same name is replaced only when the user said so (`publish-overwrite: true`).
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import * as tar from 'tar';
import { ConfigurationError, InputError } from '../errors.js';
import type { Logger } from '../logger.js';
import { artifactUrl, type ArtifactUploader } from './artifacts.js';
import type { GitHubContext } from './context.js';
import type { Octokit } from './octokit.js';

import type { PublishTarget } from '../clean/types.js';
export type { PublishTarget } from '../clean/types.js';

/** GitHub's per-asset limit. */
const MAX_ASSET_BYTES = 2 * 1024 * 1024 * 1024 - 1;

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => path.join(e.parentPath, e.name))
    .sort();
}

/** A deterministic .tar.gz of the model directory (fixed mtimes, sorted, portable headers). */
export async function bundleModel(dir: string, file: string): Promise<void> {
  const names = filesUnder(dir).map((f) => path.relative(dir, f));
  await tar.c({ gzip: true, file, cwd: dir, portable: true, mtime: new Date(0), noDirRecurse: true }, names);
}

export interface PublishDeps {
  ctx: GitHubContext;
  octokit?: Octokit;
  artifacts?: ArtifactUploader;
  logger: Logger;
  tempDir: string;
}

export interface Published {
  url: string;
  replaced?: boolean;
}

export async function publishModel(
  target: PublishTarget,
  modelDir: string,
  assetName: string,
  overwrite: boolean,
  sourceRelease: { tag: string } | undefined,
  deps: PublishDeps,
): Promise<Published> {
  const { ctx, octokit } = deps;
  if (target.kind === 'artifact') {
    if (!deps.artifacts) throw new ConfigurationError('publish: artifact uploads are not available here');
    const name = target.name ?? assetName.replace(/\.tar\.gz$/, '');
    const { id } = await deps.artifacts.upload(name, filesUnder(modelDir), modelDir);
    if (!id) throw new Error(`artifact ${name} was uploaded but GitHub returned no id`);
    return { url: artifactUrl(ctx, id) };
  }
  const tag = target.tag ?? sourceRelease?.tag;
  if (!tag) throw new ConfigurationError('publish: release needs a tag (publish: release:<tag>) unless the model came from a release');
  if (!octokit || !ctx.owner || !ctx.repo) throw new ConfigurationError('publish: release needs github-token and GITHUB_REPOSITORY');
  const owner = ctx.owner;
  const repo = ctx.repo;
  const release = (await octokit.rest.repos.getReleaseByTag({ owner, repo, tag })).data;
  const existing = release.assets.find((a) => a.name === assetName);
  if (existing && !overwrite) throw new InputError(`release ${tag}`, `already has an asset '${assetName}'; set publish-overwrite: true to replace it`);
  const bundle = path.join(deps.tempDir, assetName);
  await bundleModel(modelDir, bundle);
  const size = statSync(bundle).size;
  if (size > MAX_ASSET_BYTES) throw new InputError(bundle, `is ${size} bytes; release assets must be under 2 GiB`);
  if (existing) {
    await octokit.rest.repos.deleteReleaseAsset({ owner, repo, asset_id: existing.id });
    deps.logger.info(`publish: replaced asset ${assetName} on release ${tag} (publish-overwrite: true)`);
  }
  const { data } = await octokit.rest.repos.uploadReleaseAsset({
    owner,
    repo,
    release_id: release.id,
    name: assetName,
    // Uploads go to the host in the release's upload_url (uploads.github.com on github.com).
    baseUrl: new URL(release.upload_url.replace(/\{.*\}$/, '')).origin,
    data: readFileSync(bundle) as unknown as string,
    headers: { 'content-type': 'application/gzip', 'content-length': size },
  });
  return { url: data.browser_download_url, replaced: Boolean(existing) };
}
