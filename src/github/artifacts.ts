// Workflow artifacts through @actions/artifact: downloads by run id with the token (the public
// REST route, so artifacts of other runs work too; the digest is checked while streaming), and
// uploads for this run (cleaned models, scan images).
import { DefaultArtifactClient } from '@actions/artifact';
import { InputError } from '../errors.js';
import type { GitHubContext } from './context.js';
import type { ArtifactStore } from './sources.js';

export interface ArtifactUploader {
  /** Uploads `files` (absolute paths under `root`) as artifact `name`; returns its id. `single`: one file, not zipped. */
  upload(name: string, files: string[], root: string, options?: { single?: boolean }): Promise<{ id?: number }>;
}

export function actionsArtifacts(ctx: GitHubContext): ArtifactStore & ArtifactUploader {
  const client = new DefaultArtifactClient();
  const findBy = (workflowRunId: number) => ({ token: ctx.token, workflowRunId, repositoryOwner: ctx.owner!, repositoryName: ctx.repo! });
  return {
    async find(name, runId) {
      const { artifact } = await client.getArtifact(name, { findBy: findBy(runId) });
      return { id: artifact.id, digest: artifact.digest, size: artifact.size };
    },
    async download(id, runId, dest, digest) {
      const result = await client.downloadArtifact(id, { path: dest, expectedHash: digest, findBy: findBy(runId) });
      if (result.digestMismatch)
        throw new InputError(`artifact ${id}`, `its sha256 does not match the digest GitHub recorded (${digest}); refusing to scan it`);
    },
    async upload(name, files, root, options) {
      const { id } = await client.uploadArtifact(name, files, root, { compressionLevel: 0, ...(options?.single ? { skipArchive: true } : {}) });
      return { id };
    },
  };
}

export function artifactUrl(ctx: GitHubContext, id: number): string {
  return `${ctx.serverUrl}/${ctx.owner}/${ctx.repo}/actions/runs/${ctx.runId}/artifacts/${id}`;
}
