// Model sources and bundles: hostile archives are refused with the entry named, release assets
// are verified and cached by sha256, and publishing never replaces an asset unless told to.
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as tar from 'tar';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { GitHubContext } from '../../src/github/context.js';
import { createOctokit } from '../../src/github/octokit.js';
import { bundleModel, publishModel } from '../../src/github/publish.js';
import { parsePublishTarget } from '../../src/settings.js';
import { GitHubReporter } from '../../src/github/reporting.js';
import { parseModelSource, resolveModel, type ModelCache } from '../../src/github/sources.js';
import { MemoryLogger } from '../../src/logger.js';
import { findModelDirectory, unpackArchive } from '../../src/model/archive.js';
import { DEFAULT_LIMITS } from '../../src/model/limits.js';
import { readLocalModel } from '../../src/model/source.js';
import { FakeGitHub } from '../helpers/github-server.js';
import { rawZip } from '../helpers/zip.js';
import { EXAMPLES, runCli } from '../helpers/run.js';

const tmp = () => mkdtempSync(path.join(os.tmpdir(), 'bg-src-'));
const LIMITS = { maxEntries: 100, maxBytes: 10 * 1024 * 1024 };
const RESOURCE_LIMITS = { ...DEFAULT_LIMITS, maxArchiveEntries: 100 };

function writeZip(entries: Parameters<typeof rawZip>[0]): string {
  const file = path.join(tmp(), 'model.zip');
  writeFileSync(file, rawZip(entries));
  return file;
}

describe('model bundles (src/model/archive.ts)', () => {
  it('unpacks a plain zip and finds the model directory', async () => {
    const file = writeZip([
      { name: 'm/model.json', data: Buffer.from('{}') },
      { name: 'm/w.bin', data: Buffer.alloc(8) },
    ]);
    const dest = path.join(tmp(), 'out');
    await unpackArchive(file, 'zip', dest, LIMITS);
    expect(findModelDirectory(dest, 'model.zip')).toBe(path.join(dest, 'm'));
  });

  it.each([
    ['a path escaping with ..', [{ name: '../evil.txt', data: Buffer.from('x') }], /invalid relative path: \.\.\/evil\.txt|escapes the archive/],
    ['an absolute path', [{ name: '/etc/evil', data: Buffer.from('x') }], /absolute path/],
    ['a symbolic link', [{ name: 'link', data: Buffer.from('/etc/passwd'), mode: 0o120777 }], /entry 'link' is a symbolic link/],
  ])('refuses a zip with %s', async (_what, entries, message) => {
    await expect(unpackArchive(writeZip(entries), 'zip', path.join(tmp(), 'out'), LIMITS)).rejects.toThrow(message);
  });

  it('refuses a zip that expands beyond the byte cap, and one with too many entries', async () => {
    const big = writeZip([{ name: 'a.bin', data: Buffer.alloc(4096) }]);
    await expect(unpackArchive(big, 'zip', path.join(tmp(), 'out'), { maxEntries: 10, maxBytes: 1000 })).rejects.toThrow(/expands to more than 1000 bytes/);
    const many = writeZip(Array.from({ length: 12 }, (_, i) => ({ name: `f${i}`, data: Buffer.from('x') })));
    await expect(unpackArchive(many, 'zip', path.join(tmp(), 'out'), { maxEntries: 10, maxBytes: 1000 })).rejects.toThrow(/more than 10 entries/);
  });

  it('refuses a tar.gz holding a symbolic link or a .. path, and a corrupt one', async () => {
    const dir = tmp();
    mkdirSync(path.join(dir, 'm'));
    writeFileSync(path.join(dir, 'm', 'model.json'), '{}');
    symlinkSync('/etc/passwd', path.join(dir, 'm', 'weights.bin'));
    const linked = path.join(dir, 'linked.tar.gz');
    await tar.c({ gzip: true, file: linked, cwd: dir }, ['m']);
    await expect(unpackArchive(linked, 'tar.gz', path.join(tmp(), 'out'), LIMITS)).rejects.toThrow(/entry 'm\/weights.bin' is a SymbolicLink/);
    writeFileSync(path.join(dir, 'outside.txt'), 'x');
    const escaping = path.join(dir, 'escaping.tar.gz');
    await tar.c({ gzip: true, file: escaping, cwd: path.join(dir, 'm'), preservePaths: true }, ['../outside.txt']);
    await expect(unpackArchive(escaping, 'tar.gz', path.join(tmp(), 'out'), LIMITS)).rejects.toThrow(/escapes the archive/);
    const corrupt = path.join(dir, 'corrupt.tar.gz');
    writeFileSync(corrupt, Buffer.from('not a tarball at all'));
    await expect(unpackArchive(corrupt, 'tar.gz', path.join(tmp(), 'out'), LIMITS)).rejects.toThrow(
      /corrupt\.tar\.gz: is not a readable tar archive|empty or unreadable/,
    );
  });

  it('names the problem when a bundle holds no model or several', async () => {
    const none = path.join(tmp(), 'none');
    mkdirSync(path.join(none, 'a'), { recursive: true });
    expect(() => findModelDirectory(none, 'x.zip')).toThrow(
      /x\.zip: holds no model \(expected a tfjs model\.json plus its weight shards, or one \.onnx file\)/,
    );
    for (const d of ['a', 'b']) {
      mkdirSync(path.join(none, d), { recursive: true });
      writeFileSync(path.join(none, d, 'model.json'), '{}');
    }
    expect(() => findModelDirectory(none, 'x.zip')).toThrow(/holds 2 models \(a, b\)/);
  });
});

describe('model source specs', () => {
  it('parses release, artifact, URL and path specs, and rejects malformed ones', () => {
    expect(parseModelSource('release:v1.2.0/model.tar.gz')).toEqual({ kind: 'release', tag: 'v1.2.0', asset: 'model.tar.gz' });
    expect(parseModelSource('release:team/v2/model.zip')).toEqual({ kind: 'release', tag: 'team/v2', asset: 'model.zip' });
    expect(parseModelSource('artifact:cleaned@123')).toEqual({ kind: 'artifact', name: 'cleaned', runId: 123 });
    expect(parseModelSource('artifact:cleaned')).toEqual({ kind: 'artifact', name: 'cleaned', runId: undefined });
    expect(parseModelSource('https://example.com/m/model.json')).toEqual({ kind: 'url', url: 'https://example.com/m/model.json' });
    expect(parseModelSource('models/encoder')).toEqual({ kind: 'path', path: 'models/encoder' });
    expect(() => parseModelSource('release:model.tar.gz')).toThrow(/release:<tag>\/<asset name>/);
    expect(() => parseModelSource('artifact:x@abc')).toThrow(/artifact:<name>@<run id>/);
    expect(parsePublishTarget('release:v2')).toEqual({ kind: 'release', tag: 'v2' });
    expect(parsePublishTarget('none')).toBeUndefined();
    expect(() => parsePublishTarget('s3')).toThrow(/publish must be none, release/);
  });
});

describe('release assets and publishing against the loopback GitHub', () => {
  let gh: FakeGitHub;
  let ctx: GitHubContext;
  let bundle: Buffer;

  beforeAll(async () => {
    gh = await new FakeGitHub().start();
    ctx = { token: 'ghs_x', apiUrl: gh.url, serverUrl: 'https://github.com', owner: gh.owner, repo: gh.repo, fromFork: false, workspace: tmp(), runId: 9 };
    const file = path.join(tmp(), 'm.tar.gz');
    await bundleModel(EXAMPLES.cleanCnn, file);
    bundle = readFileSync(file);
  });
  afterAll(() => gh?.close());

  /** An in-memory cache that counts what it was asked. */
  function memoryCache(): ModelCache & { saved: string[] } {
    const store = new Map<string, string>();
    const saved: string[] = [];
    return { saved, find: (sha) => store.get(sha), save: async (dir, sha) => (saved.push(sha), store.set(sha, dir), dir) };
  }

  it('an asset without a digest is downloaded every time but unpacked and cached once', async () => {
    gh.addRelease('nodigest', [{ name: 'm.tar.gz', data: bundle, withDigest: false }]);
    const { downloadTool } = await import('@actions/tool-cache');
    const cache = memoryCache();
    const temp = tmp();
    process.env.RUNNER_TEMP ??= temp;
    const deps = { ctx, octokit: createOctokit(ctx), cache, tc: { downloadTool }, logger: new MemoryLogger(), tempDir: temp, limits: RESOURCE_LIMITS };
    const first = await resolveModel('release:nodigest/m.tar.gz', deps);
    const second = await resolveModel('release:nodigest/m.tar.gz', deps);
    expect(first.location).toBe(second.location);
    expect(cache.saved).toHaveLength(1);
    expect(gh.storageRequests.filter((r) => r.path.startsWith('/assets/'))).toHaveLength(2);
    expect(deps.logger.lines.some((l) => l.includes('tool-cache hit'))).toBe(true);
    expect(readFileSync(path.join(first.location, 'model.json'), 'utf8')).toBe(readFileSync(path.join(EXAMPLES.cleanCnn, 'model.json'), 'utf8'));
    expect(gh.violations).toEqual([]);
  });

  it('a bare .onnx release asset is verified, cached as model.onnx and read as ONNX', async () => {
    const onnx = readFileSync(path.resolve('test/fixtures/onnx/vit-mnist/model.onnx'));
    gh.addRelease('onnx', [{ name: 'vit.onnx', data: onnx }]);
    const { downloadTool } = await import('@actions/tool-cache');
    const cache = memoryCache();
    const deps = { ctx, octokit: createOctokit(ctx), cache, tc: { downloadTool }, logger: new MemoryLogger(), tempDir: tmp(), limits: RESOURCE_LIMITS };
    const resolved = await resolveModel('release:onnx/vit.onnx', deps);
    expect(readFileSync(path.join(resolved.location, 'model.onnx')).equals(onnx)).toBe(true);
    expect(cache.saved).toEqual([resolved.bundleSha256]);
    expect(readLocalModel(resolved.location, DEFAULT_LIMITS).format).toBe('onnx');
    expect(gh.violations).toEqual([]);
  });

  it('a bundle URL is fetched without the token, verified against model-sha256 and cached', async () => {
    gh.addRelease('url', [{ name: 'url-model.tar.gz', data: bundle }]);
    const asset = gh.releases.at(-1)!.assets[0];
    const url = `${gh.storageUrl}/download/${asset.id}/url-model.tar.gz`;
    const { downloadTool } = await import('@actions/tool-cache');
    const cache = memoryCache();
    const deps = { ctx, octokit: createOctokit(ctx), cache, tc: { downloadTool }, logger: new MemoryLogger(), tempDir: tmp(), limits: RESOURCE_LIMITS };
    const resolved = await resolveModel(url, { ...deps, expectedSha256: asset.digest!.slice(7) });
    expect(resolved).toMatchObject({ source: 'url', cacheHit: false, bundleSha256: asset.digest!.slice(7) });
    expect(gh.storageRequests.filter((r) => r.path.startsWith('/download/')).every((r) => r.authorization === undefined)).toBe(true);
    const again = await resolveModel(url, { ...deps, expectedSha256: asset.digest!.slice(7) });
    expect(again).toMatchObject({ cacheHit: true, location: resolved.location });
    await expect(resolveModel(url, { ...deps, cache: undefined, expectedSha256: 'f'.repeat(64) })).rejects.toThrow(/does not match model-sha256 f{64}/);
  });

  it('the CLI leaves nothing in the temp directory, for a local model or a downloaded bundle', async () => {
    gh.addRelease('scratch', [{ name: 'scratch-model.tar.gz', data: bundle }]);
    const asset = gh.releases.at(-1)!.assets[0];
    const url = `${gh.storageUrl}/download/${asset.id}/scratch-model.tar.gz`;
    for (const model of [EXAMPLES.cleanCnn, url]) {
      const temp = tmp();
      const report = path.join(tmp(), 'r.json');
      const result = await runCli(['scan', model, '--report', report, '--max-probe-images', '8', '--scans', 'none'], { TMPDIR: temp });
      // The model was read (its digest is the bundle's files'), and the scan ran no detector: unassessed.
      expect(JSON.parse(readFileSync(report, 'utf8')).model.digest).toMatch(/^sha256:[0-9a-f]{64}$/);
      expect(result.code).toBe(2);
      expect(readdirSync(temp)).toEqual([]);
    }
  });

  it('downloads over the download limit are refused: a release asset before it is fetched, a bundle URL while streaming', async () => {
    gh.addRelease('big', [{ name: 'big.tar.gz', data: bundle }]);
    const asset = gh.releases.at(-1)!.assets[0];
    const small = { ...RESOURCE_LIMITS, maxDownloadBytes: 1000 };
    const fetched = gh.storageRequests.length;
    const deps = { ctx, octokit: createOctokit(ctx), tc: { downloadTool: async () => '' }, logger: new MemoryLogger(), tempDir: tmp(), limits: small };
    await expect(resolveModel('release:big/big.tar.gz', deps)).rejects.toThrow(
      new RegExp(`release:big/big\\.tar\\.gz: is ${bundle.length} bytes, above the download limit of 1000`),
    );
    expect(gh.storageRequests.length).toBe(fetched);
    await expect(resolveModel(`${gh.storageUrl}/download/${asset.id}/big.tar.gz`, deps)).rejects.toThrow(
      /above the download limit of 1000|exceeds the download limit of 1000 bytes/,
    );
  });

  it('a model committed with Git LFS but checked out without it says how to fix it', () => {
    const dir = tmp();
    writeFileSync(
      path.join(dir, 'model.json'),
      'version https://git-lfs.github.com/spec/v1\noid sha256:4d7a214614ab2935c943f9e0ff69d22eadbb8f32b1258daaa5e2ca24d17e2393\nsize 12345\n',
    );
    expect(() => readLocalModel(dir, DEFAULT_LIMITS)).toThrow(/model\.json: is a Git LFS pointer, not the model; check out with `lfs: true`/);
  });

  it('publishes a cleaned model as an artifact of this run through the uploader, linking its page', async () => {
    const uploads: { name: string; files: string[]; root: string }[] = [];
    const artifacts = { upload: async (name: string, files: string[], root: string) => (uploads.push({ name, files, root }), { id: 31 }) };
    const published = await publishModel({ kind: 'artifact' }, EXAMPLES.cleanCnn, 'cnn-cleaned.tar.gz', false, undefined, {
      ctx,
      artifacts,
      logger: new MemoryLogger(),
      tempDir: tmp(),
    });
    expect(published.url).toBe('https://github.com/acme/models/actions/runs/9/artifacts/31');
    expect(uploads[0].name).toBe('cnn-cleaned');
    expect(uploads[0].root).toBe(EXAMPLES.cleanCnn);
    expect(uploads[0].files.map((f) => path.relative(uploads[0].root, f))).toEqual(['gate.json', 'group1-shard1of1.bin', 'model.json', 'zoo-card.json']);
  });

  it('a missing asset or tag is a clear error naming what exists', async () => {
    const deps = {
      ctx,
      octokit: createOctokit(ctx),
      tc: { downloadTool: async () => '' },
      logger: new MemoryLogger(),
      tempDir: tmp(),
      limits: RESOURCE_LIMITS,
    };
    await expect(resolveModel('release:nodigest/other.tar.gz', deps)).rejects.toThrow(/release nodigest has no asset 'other\.tar\.gz' \(it has: m\.tar\.gz\)/);
    await expect(resolveModel('release:v9/m.tar.gz', deps)).rejects.toThrow(/no published release with tag 'v9' in acme\/models/);
  });

  it('publishes a cleaned model as a release asset, and replaces an existing one only with publish-overwrite', async () => {
    gh.addRelease('v3', [{ name: 'cnn-cleaned.tar.gz', data: Buffer.from('old') }]);
    const deps = { ctx, octokit: createOctokit(ctx), logger: new MemoryLogger(), tempDir: tmp() };
    await expect(publishModel({ kind: 'release', tag: 'v3' }, EXAMPLES.cleanCnn, 'cnn-cleaned.tar.gz', false, undefined, deps)).rejects.toThrow(
      /release v3: already has an asset 'cnn-cleaned\.tar\.gz'; set publish-overwrite: true/,
    );
    const published = await publishModel({ kind: 'release', tag: 'v3' }, EXAMPLES.cleanCnn, 'cnn-cleaned.tar.gz', true, undefined, { ...deps, tempDir: tmp() });
    expect(published.replaced).toBe(true);
    const assets = gh.releases.find((r) => r.tag === 'v3')!.assets;
    expect(assets.map((a) => a.name)).toEqual(['cnn-cleaned.tar.gz']);
    // The uploaded bundle unpacks to the same model, byte for byte.
    const out = tmp();
    const file = path.join(out, 'up.tar.gz');
    writeFileSync(file, assets[0].data);
    await unpackArchive(file, 'tar.gz', path.join(out, 'x'), LIMITS);
    expect(readFileSync(path.join(out, 'x', 'model.json'))).toEqual(readFileSync(path.join(EXAMPLES.cleanCnn, 'model.json')));
    expect(published.url).toMatch(/\/download\/\d+\/cnn-cleaned\.tar\.gz$/);
    expect(gh.operations()).toEqual(
      expect.arrayContaining(['DELETE /repos/{owner}/{repo}/releases/assets/{asset_id}', 'POST /repos/{owner}/{repo}/releases/{release_id}/assets']),
    );
    expect(gh.violations).toEqual([]);
  });

  it('a check run opened before the run broke is closed as failed, not left in progress', async () => {
    const settings = {
      token: 'ghs_x',
      checkRun: true,
      checkName: 'Gate',
      comment: 'never' as const,
      sarifPath: '',
      uploadImages: false,
      publishOverwrite: false,
    };
    const reporter = new GitHubReporter({ ctx: { ...ctx, headSha: 'c'.repeat(40) }, settings, octokit: createOctokit(ctx), logger: new MemoryLogger() });
    await reporter.begin();
    expect(gh.checkRuns.at(-1)).toMatchObject({ name: 'Gate', status: 'in_progress', conclusion: null });
    await reporter.abort('Backdoor Gate could not run: internal error: <boom>');
    expect(gh.checkRuns.at(-1)).toMatchObject({
      status: 'completed',
      conclusion: 'failure',
      output: { title: '❌ could not run', summary: 'Backdoor Gate could not run: internal error: &#60;boom&#62;' },
    });
    expect(gh.violations).toEqual([]);
  });

  it('bundles deterministically: the same model gives the same bytes', async () => {
    const a = path.join(tmp(), 'a.tar.gz');
    const b = path.join(tmp(), 'b.tar.gz');
    await bundleModel(EXAMPLES.cleanCnn, a);
    await bundleModel(EXAMPLES.cleanCnn, b);
    expect(readFileSync(a)).toEqual(readFileSync(b));
  });
});
