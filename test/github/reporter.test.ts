// The reporter's uploads, behind the small ArtifactUploader interface (the Actions artifact service
// only exists inside a real run): the overview image goes up on its own, unzipped, and its link
// reaches the summary; every scan image goes up as one artifact.
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { ArtifactUploader } from '../../src/github/artifacts.js';
import type { GitHubContext } from '../../src/github/context.js';
import { GitHubReporter } from '../../src/github/reporting.js';
import { MemoryLogger } from '../../src/logger.js';
import { renderMarkdown } from '../../src/report/markdown.js';
import type { GateReport } from '../../src/report/types.js';

const ctx: GitHubContext = {
  token: 't',
  apiUrl: 'http://127.0.0.1:1',
  serverUrl: 'https://github.com',
  owner: 'acme',
  repo: 'models',
  runId: 4242,
  fromFork: false,
  workspace: '/tmp',
};
const settings = {
  token: 't',
  checkRun: false,
  checkName: 'Backdoor Gate',
  comment: 'never' as const,
  sarifPath: '',
  uploadImages: true,
  publishOverwrite: false,
};

describe('scan image uploads', () => {
  it('uploads overview.png alone and unzipped, then all images as one artifact, and links both', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'bg-images-'));
    const files = ['overview.png', 'trigger-class-0.png', 'mask-class-0.png'].map((f) => path.join(dir, f));
    for (const f of files) writeFileSync(f, 'png');
    const uploads: Array<{ name: string; files: string[]; single?: boolean }> = [];
    const artifacts: ArtifactUploader = {
      upload: async (name, fs, _root, options) => (uploads.push({ name, files: fs, single: options?.single }), { id: 100 + uploads.length }),
    };
    const reporter = new GitHubReporter({ ctx, settings, artifacts, logger: new MemoryLogger() });
    const links = await reporter.uploadImages(dir, files, 'runtime-token');
    expect(uploads[0]).toEqual({ name: expect.stringMatching(/overview\.png$/), files: [files[0]], single: true });
    expect(uploads[1]).toMatchObject({ files, single: undefined });
    expect(links).toEqual({
      overviewUrl: 'https://github.com/acme/models/actions/runs/4242/artifacts/101',
      imagesUrl: 'https://github.com/acme/models/actions/runs/4242/artifacts/102',
    });
    const report = {
      schemaVersion: 1,
      tool: { name: 'backdoor-gate', version: '0' },
      verdict: 'clean',
      score: 0.01,
      reasons: [],
      seed: 0,
      model: { spec: 'm' },
      scans: [],
      timings: {},
      runtime: { node: '', platform: '' },
    } satisfies GateReport;
    expect(renderMarkdown(report, { mermaid: true, links })).toContain('[overview image](https://github.com/acme/models/actions/runs/4242/artifacts/101)');
  });

  it('without the artifact service the images stay local and the summary says where', async () => {
    const reporter = new GitHubReporter({ ctx, settings, artifacts: { upload: async () => ({ id: 1 }) }, logger: new MemoryLogger() });
    expect(await reporter.uploadImages('/tmp/x', ['/tmp/x/overview.png'], undefined)).toEqual({
      imagesNote: 'written to /tmp/x (no artifact service in this run to upload them to)',
    });
  });
});
