// Where a model comes from: `release:<tag>/<asset>`, `artifact:<name>[@<run-id>]`, an http(s) URL,
// or a path in the repository. Downloads are verified against GitHub's sha256 digest (or the
// `model-sha256` input), unpacked safely, and kept in the runner's tool cache under their sha256,
// so a re-run on the same model downloads nothing.
import { createHash, randomUUID } from 'node:crypto';
import { copyFileSync, createReadStream, createWriteStream, existsSync, mkdirSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { ConfigurationError, InputError } from '../errors.js';
import type { Logger } from '../logger.js';
import { archiveKind, findModelDirectory, unpackArchive } from '../model/archive.js';
import { unpackedLimit, type ResourceLimits } from '../model/limits.js';
import { fetchCapped, isOnnxPath, isUrl, ONNX_FILE } from '../model/read.js';
import type { GitHubContext } from './context.js';
import type { Octokit } from './octokit.js';

export type ModelSourceSpec =
  | { kind: 'release'; tag: string; asset: string }
  | { kind: 'artifact'; name: string; runId?: number }
  | { kind: 'url'; url: string }
  | { kind: 'path'; path: string };

export function parseModelSource(spec: string): ModelSourceSpec {
  const text = spec.trim();
  if (text.startsWith('release:')) {
    const rest = text.slice('release:'.length);
    const slash = rest.lastIndexOf('/');
    if (slash <= 0 || slash === rest.length - 1)
      throw new ConfigurationError(`model: '${spec}' must be release:<tag>/<asset name>, e.g. release:v1.2.0/model.tar.gz`);
    return { kind: 'release', tag: rest.slice(0, slash), asset: rest.slice(slash + 1) };
  }
  if (text.startsWith('artifact:')) {
    const m = /^artifact:([^@]+)(?:@(\d+))?$/.exec(text);
    if (!m) throw new ConfigurationError(`model: '${spec}' must be artifact:<name> or artifact:<name>@<run id>`);
    return { kind: 'artifact', name: m[1], runId: m[2] ? Number(m[2]) : undefined };
  }
  if (isUrl(text)) return { kind: 'url', url: text };
  return { kind: 'path', path: text };
}

/** Content-addressed model store (the runner's tool cache in the action). */
export interface ModelCache {
  /** The cached model directory for a bundle's sha256, if present. */
  find(sha256: string): string | undefined;
  /** Copies `dir` into the cache under `sha256`; returns the cached directory. */
  save(dir: string, sha256: string): Promise<string>;
}

export const CACHE_TOOL_NAME = 'backdoor-gate-model';
/** tool-cache only finds semver-valid versions: `0.0.0-sha256-<hex>` is one. */
export const cacheVersion = (sha256: string) => `0.0.0-sha256-${sha256}`;

export interface ToolCacheApi {
  find(tool: string, version: string): string;
  cacheDir(dir: string, tool: string, version: string): Promise<string>;
  downloadTool(url: string, dest?: string, auth?: string, headers?: Record<string, string>): Promise<string>;
}

export function toolCacheStore(tc: ToolCacheApi): ModelCache {
  return {
    find: (sha256) => tc.find(CACHE_TOOL_NAME, cacheVersion(sha256)) || undefined,
    save: (dir, sha256) => tc.cacheDir(dir, CACHE_TOOL_NAME, cacheVersion(sha256)),
  };
}

/** Workflow artifacts of a run (@actions/artifact in the action). */
export interface ArtifactStore {
  find(name: string, runId: number): Promise<{ id: number; digest?: string; size: number }>;
  /** Downloads and unzips artifact `id` into `dest`; throws when its sha256 is not `digest`. */
  download(id: number, runId: number, dest: string, digest?: string): Promise<void>;
}

export interface SourceDeps {
  ctx: GitHubContext;
  octokit?: Octokit;
  cache?: ModelCache;
  tc: Pick<ToolCacheApi, 'downloadTool'>;
  artifacts?: ArtifactStore;
  logger: Logger;
  /** Scratch space for downloads (RUNNER_TEMP in the action). */
  tempDir: string;
  limits: ResourceLimits;
  /** Expected sha256 of the downloaded bundle (the `model-sha256` input). */
  expectedSha256?: string;
}

export interface ResolvedModel {
  /** What the scan reads: a local directory, a model.json path or a model.json URL. */
  location: string;
  /** The spec as given, for reports. */
  spec: string;
  source: ModelSourceSpec['kind'];
  cacheHit: boolean;
  /** sha256 of the downloaded bundle, when there was one. */
  bundleSha256?: string;
  /** The release the model came from (cleaned models can be published back to it). */
  release?: { id: number; tag: string; uploadUrl: string };
}

export async function sha256File(file: string): Promise<string> {
  const hash = createHash('sha256');
  await pipeline(createReadStream(file), hash);
  return hash.digest('hex');
}

const hexOf = (digest: string | null | undefined) => (digest && /^sha256:[0-9a-f]{64}$/i.test(digest) ? digest.slice(7).toLowerCase() : undefined);

function needsGitHub(deps: SourceDeps, spec: string): { octokit: Octokit; owner: string; repo: string } {
  const { ctx, octokit } = deps;
  if (!octokit || !ctx.owner || !ctx.repo)
    throw new ConfigurationError(`model: ${spec} needs the GitHub API: set github-token and run inside a workflow (GITHUB_REPOSITORY)`);
  return { octokit, owner: ctx.owner, repo: ctx.repo };
}

function checkSize(what: string, bytes: number, limits: ResourceLimits) {
  if (bytes > limits.maxDownloadBytes)
    throw new InputError(what, `is ${bytes} bytes, above the download limit of ${limits.maxDownloadBytes} (policy limits.download-mb)`);
}

/** Streams `url` to `dest` without credentials, stopping at the download cap. */
async function downloadCapped(url: string, dest: string, limits: ResourceLimits): Promise<void> {
  const cap = limits.maxDownloadBytes;
  const tooBig = (declared?: number) =>
    (declared === undefined ? `exceeds the download limit of ${cap} bytes` : `is ${declared} bytes, above the download limit of ${cap}`) +
    ' (policy limits.download-mb)';
  await pipeline(Readable.from(fetchCapped(new URL(url), cap, tooBig)), createWriteStream(dest, { flags: 'wx' }));
}

function checkDigest(what: string, actual: string, expected: string | undefined, source: string) {
  if (expected && actual !== expected.toLowerCase())
    throw new InputError(what, `sha256 ${actual} does not match ${source} ${expected}; refusing to scan a model that changed in transit`);
}

/** Unpacks a verified bundle and stores it in the cache; returns the model directory. */
async function storeBundle(file: string, name: string, sha256: string, deps: SourceDeps): Promise<string> {
  const kind = archiveKind(name);
  if (!kind && !isOnnxPath(name))
    throw new InputError(
      name,
      'is not a model bundle: a downloaded model must be a .zip, .tar.gz, .tgz or .tar of model.json and its weight shards (or of model.onnx), or one .onnx file',
    );
  const unpacked = path.join(deps.tempDir, `backdoor-gate-${randomUUID()}`);
  // A bare .onnx file is a one-file bundle (its gate.json, if any, must travel in a real bundle).
  if (kind) await unpackArchive(file, kind, unpacked, unpackedLimit(deps.limits));
  else {
    mkdirSync(unpacked, { recursive: true });
    copyFileSync(file, path.join(unpacked, ONNX_FILE));
  }
  const modelDir = findModelDirectory(unpacked, name);
  if (!deps.cache) return modelDir;
  const cached = await deps.cache.save(modelDir, sha256);
  deps.logger.info(`cached ${name} in the tool cache as ${CACHE_TOOL_NAME} ${cacheVersion(sha256)}`);
  return cached;
}

function cacheHit(deps: SourceDeps, sha256: string | undefined, spec: string): string | undefined {
  if (!sha256 || !deps.cache) return undefined;
  const hit = deps.cache.find(sha256);
  if (hit) deps.logger.info(`tool-cache hit for ${spec} (sha256:${sha256}): ${hit}; nothing downloaded`);
  return hit;
}

/**
 * A bundle on disk: size capped, sha256 checked against what GitHub recorded and `model-sha256`,
 * then taken from the cache or unpacked into it. Returns the model directory and the sha256.
 */
async function verifiedBundle(
  spec: string,
  file: string,
  name: string,
  deps: SourceDeps,
  recorded?: { digest?: string; source: string },
): Promise<{ location: string; sha256: string }> {
  checkSize(spec, statSync(file).size, deps.limits);
  const sha256 = await sha256File(file);
  if (recorded) checkDigest(spec, sha256, recorded.digest, recorded.source);
  checkDigest(spec, sha256, deps.expectedSha256, 'model-sha256');
  return { location: cacheHit(deps, sha256, spec) ?? (await storeBundle(file, name, sha256, deps)), sha256 };
}

async function fromRelease(spec: string, src: { tag: string; asset: string }, deps: SourceDeps): Promise<ResolvedModel> {
  const { octokit, owner, repo } = needsGitHub(deps, spec);
  let release;
  try {
    release = (await octokit.rest.repos.getReleaseByTag({ owner, repo, tag: src.tag })).data;
  } catch (err) {
    if ((err as { status?: number }).status === 404)
      throw new InputError(spec, `no published release with tag '${src.tag}' in ${owner}/${repo} (drafts cannot be read by tag)`);
    throw err;
  }
  const releaseInfo = { id: release.id, tag: release.tag_name, uploadUrl: release.upload_url };
  const asset = release.assets.find((a) => a.name === src.asset);
  if (!asset) throw new InputError(spec, `release ${src.tag} has no asset '${src.asset}' (it has: ${release.assets.map((a) => a.name).join(', ') || 'none'})`);
  checkSize(spec, asset.size, deps.limits);
  const expected = deps.expectedSha256 ?? hexOf(asset.digest);
  const hit = cacheHit(deps, expected, spec);
  if (hit) return { location: hit, spec, source: 'release', cacheHit: true, bundleSha256: expected, release: releaseInfo };
  deps.logger.info(`downloading release asset ${src.asset} (${asset.size} bytes) from ${owner}/${repo}@${src.tag}`);
  // The asset API URL with Accept: octet-stream redirects to storage; @actions/http-client drops
  // the Authorization header when a redirect leaves the API host.
  const file = await deps.tc.downloadTool(asset.url, path.join(deps.tempDir, `${randomUUID()}-${src.asset}`), `Bearer ${deps.ctx.token}`, {
    accept: 'application/octet-stream',
  });
  const { location, sha256 } = await verifiedBundle(spec, file, src.asset, deps, { digest: hexOf(asset.digest), source: "the release asset's digest" });
  return { location, spec, source: 'release', cacheHit: false, bundleSha256: sha256, release: releaseInfo };
}

async function fromArtifact(spec: string, src: { name: string; runId?: number }, deps: SourceDeps): Promise<ResolvedModel> {
  needsGitHub(deps, spec);
  const runId = src.runId ?? deps.ctx.runId;
  if (!runId) throw new ConfigurationError(`model: ${spec} names no run and GITHUB_RUN_ID is not set; use artifact:<name>@<run id>`);
  if (!deps.artifacts) throw new ConfigurationError(`model: ${spec}: artifact downloads are not available here`);
  const found = await deps.artifacts.find(src.name, runId);
  checkSize(spec, found.size, deps.limits);
  const digest = hexOf(found.digest);
  if (digest) checkDigest(spec, digest, deps.expectedSha256, 'model-sha256');
  const expected = deps.expectedSha256 ?? digest;
  const hit = cacheHit(deps, expected, spec);
  if (hit) return { location: hit, spec, source: 'artifact', cacheHit: true, bundleSha256: expected };
  const dest = path.join(deps.tempDir, `backdoor-gate-artifact-${randomUUID()}`);
  deps.logger.info(`downloading artifact ${src.name} (id ${found.id}) from run ${runId}`);
  await deps.artifacts.download(found.id, runId, dest, digest && `sha256:${digest}`);
  // An artifact holds either the model's files or one bundle of them.
  const entries = existsSync(dest) ? readdirSync(dest) : [];
  if (entries.length === 1 && archiveKind(entries[0])) {
    const bundle = path.join(dest, entries[0]);
    // Keyed by the artifact's digest when it has one, so the next run finds it before downloading.
    const key = digest ?? (await sha256File(bundle));
    const location = await storeBundle(bundle, entries[0], key, deps);
    return { location, spec, source: 'artifact', cacheHit: false, bundleSha256: key };
  }
  const modelDir = findModelDirectory(dest, spec);
  const location = digest && deps.cache ? await deps.cache.save(modelDir, digest) : modelDir;
  if (!digest) deps.logger.notice(`artifact ${src.name} has no digest (uploaded before upload-artifact v4); it was not verified or cached`);
  return { location, spec, source: 'artifact', cacheHit: false, bundleSha256: digest };
}

async function fromUrl(spec: string, url: string, deps: SourceDeps): Promise<ResolvedModel> {
  const name = decodeURIComponent(new URL(url).pathname.split('/').pop() ?? '');
  if (!archiveKind(name)) {
    // A model.json URL: read in place (shards fetched beside it), capped, never cached.
    return { location: url, spec, source: 'url', cacheHit: false };
  }
  const hit = cacheHit(deps, deps.expectedSha256, spec);
  if (hit) return { location: hit, spec, source: 'url', cacheHit: true, bundleSha256: deps.expectedSha256 };
  // No token: it must never reach a host that is not GitHub.
  const file = path.join(deps.tempDir, `${randomUUID()}-${name}`);
  await downloadCapped(url, file, deps.limits);
  const { location, sha256 } = await verifiedBundle(spec, file, name, deps);
  return { location, spec, source: 'url', cacheHit: false, bundleSha256: sha256 };
}

async function fromPath(spec: string, file: string, deps: SourceDeps): Promise<ResolvedModel> {
  if (existsSync(file) && statSync(file).isFile() && archiveKind(file)) {
    const { location, sha256 } = await verifiedBundle(spec, file, path.basename(file), deps);
    return { location, spec, source: 'path', cacheHit: false, bundleSha256: sha256 };
  }
  return { location: file, spec, source: 'path', cacheHit: false };
}

/** Turns the `model` input into something the scan can read. */
export function resolveModel(spec: string, deps: SourceDeps): Promise<ResolvedModel> {
  const src = parseModelSource(spec);
  switch (src.kind) {
    case 'release':
      return fromRelease(spec, src, deps);
    case 'artifact':
      return fromArtifact(spec, src, deps);
    case 'url':
      return fromUrl(spec, src.url, deps);
    case 'path':
      return fromPath(spec, src.path, deps);
  }
}
