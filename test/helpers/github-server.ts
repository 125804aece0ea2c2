// A loopback GitHub: the REST routes the action uses, each request validated against GitHub's
// OpenAPI description (path, query, headers, body) and each answer checked against the documented
// response schema. A second host ("storage", reached as `localhost` while the API is `127.0.0.1`)
// serves the redirect targets, so a leaked Authorization header would be seen there.
import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { GitHubOpenApi, type Violation } from './openapi.js';

type Json = any;

export interface RecordedRequest {
  method: string;
  path: string;
  operation?: string;
  authorized: boolean;
  body?: Json;
}

interface Reply {
  status: number;
  body?: Json;
  headers?: Record<string, string>;
  raw?: Buffer;
}

interface Asset {
  id: number;
  name: string;
  data: Buffer;
  digest: string | null;
}

interface CheckRun {
  id: number;
  name: string;
  head_sha: string;
  status: string;
  conclusion: string | null;
  output: { title?: string; summary?: string };
  annotations: Json[];
}

let openApi: GitHubOpenApi | undefined;
const sha256 = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

function listen(server: Server): Promise<number> {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port)));
}

export class FakeGitHub {
  readonly api: GitHubOpenApi;
  readonly requests: RecordedRequest[] = [];
  readonly violations: Violation[] = [];
  readonly storageRequests: { path: string; authorization?: string }[] = [];
  /** Answer every write with 403, as GitHub does for a read-only (fork PR) token. */
  denyWrites = false;
  readonly owner = 'acme';
  readonly repo = 'models';
  readonly releases: { id: number; tag: string; assets: Asset[] }[] = [];
  readonly artifacts: { id: number; runId: number; name: string; zip: Buffer; digest: string | null }[] = [];
  readonly checkRuns: CheckRun[] = [];
  readonly comments: { id: number; body: string; login: string }[] = [];
  /**
   * The token's user. Undefined: the GITHUB_TOKEN (an installation token; GET /user answers 403
   * and comments are written by github-actions[bot]). A login: a personal access token.
   */
  tokenLogin?: string;
  readonly pulls: { number: number; headSha: string; headRef: string; headOwner: string }[] = [];
  private nextId = 100;
  private apiServer?: Server;
  private storageServer?: Server;
  url = '';
  storageUrl = '';

  constructor() {
    openApi ??= new GitHubOpenApi();
    this.api = openApi;
  }

  async start(): Promise<this> {
    this.apiServer = createServer((req, res) => void this.handleApi(req, res));
    this.storageServer = createServer((req, res) => this.handleStorage(req, res));
    this.url = `http://127.0.0.1:${await listen(this.apiServer)}`;
    this.storageUrl = `http://localhost:${await listen(this.storageServer)}`;
    return this;
  }

  async close(): Promise<void> {
    await Promise.all([this.apiServer, this.storageServer].map((s) => new Promise((r) => (s ? s.close(r) : r(undefined)))));
  }

  addRelease(tag: string, assets: { name: string; data: Buffer; withDigest?: boolean }[]): number {
    const id = this.nextId++;
    this.releases.push({
      id,
      tag,
      assets: assets.map((a) => ({ id: this.nextId++, name: a.name, data: a.data, digest: a.withDigest === false ? null : sha256(a.data) })),
    });
    return id;
  }

  addArtifact(runId: number, name: string, zip: Buffer): number {
    const id = this.nextId++;
    this.artifacts.push({ id, runId, name, zip, digest: sha256(zip) });
    return id;
  }

  /** Requests to operations, as `METHOD /template` strings. */
  operations(): string[] {
    return this.requests.map((r) => r.operation ?? `${r.method} ${r.path}`);
  }

  private user(login = 'github-actions[bot]') {
    const bot = login.endsWith('[bot]');
    return this.api.sample('simple-user', { login, id: bot ? 41898282 : 7, type: bot ? 'Bot' : 'User' });
  }

  /** Comments written by the token's user. */
  get author(): string {
    return this.tokenLogin ?? 'github-actions[bot]';
  }

  private assetJson(a: Asset) {
    return this.api.sample('release-asset', {
      id: a.id,
      name: a.name,
      size: a.data.length,
      digest: a.digest,
      state: 'uploaded',
      content_type: 'application/gzip',
      url: `${this.url}/repos/${this.owner}/${this.repo}/releases/assets/${a.id}`,
      browser_download_url: `${this.storageUrl}/download/${a.id}/${a.name}`,
      uploader: this.user(),
      label: null,
    });
  }

  private releaseJson(r: { id: number; tag: string; assets: Asset[] }) {
    return this.api.sample('release', {
      id: r.id,
      tag_name: r.tag,
      url: `${this.url}/repos/${this.owner}/${this.repo}/releases/${r.id}`,
      upload_url: `${this.url}/repos/${this.owner}/${this.repo}/releases/${r.id}/assets{?name,label}`,
      author: this.user(),
      assets: r.assets.map((a) => this.assetJson(a)),
    });
  }

  private checkRunJson(c: CheckRun) {
    return this.api.sample('check-run', {
      id: c.id,
      name: c.name,
      head_sha: c.head_sha,
      status: c.status,
      conclusion: c.conclusion,
      html_url: `https://github.com/${this.owner}/${this.repo}/runs/${c.id}`,
      output: {
        title: c.output.title ?? null,
        summary: c.output.summary ?? null,
        text: null,
        annotations_count: c.annotations.length,
        annotations_url: `${this.url}/repos/${this.owner}/${this.repo}/check-runs/${c.id}/annotations`,
      },
    });
  }

  private commentJson(c: { id: number; body: string; login: string }) {
    return this.api.sample('issue-comment', {
      id: c.id,
      body: c.body,
      user: this.user(c.login),
      html_url: `https://github.com/${this.owner}/${this.repo}/pull/1#issuecomment-${c.id}`,
    });
  }

  private route(method: string, template: string, v: Record<string, string>, url: URL, body: Json, raw: Buffer): Reply {
    const notFound: Reply = { status: 404, body: { message: 'Not Found', documentation_url: 'https://docs.github.com/rest' } };
    const write = method !== 'GET';
    if (write && this.denyWrites)
      return { status: 403, body: { message: 'Resource not accessible by integration', documentation_url: 'https://docs.github.com/rest' } };
    switch (`${method} ${template}`) {
      case 'GET /repos/{owner}/{repo}/releases/tags/{tag}': {
        const r = this.releases.find((x) => x.tag === v.tag);
        return r ? { status: 200, body: this.releaseJson(r) } : notFound;
      }
      case 'GET /repos/{owner}/{repo}/releases/assets/{asset_id}': {
        const a = this.releases.flatMap((r) => r.assets).find((x) => x.id === Number(v.asset_id));
        if (!a) return notFound;
        return { status: 302, headers: { location: `${this.storageUrl}/assets/${a.id}` } };
      }
      case 'DELETE /repos/{owner}/{repo}/releases/assets/{asset_id}': {
        for (const r of this.releases) r.assets = r.assets.filter((a) => a.id !== Number(v.asset_id));
        return { status: 204 };
      }
      case 'POST /repos/{owner}/{repo}/releases/{release_id}/assets': {
        const r = this.releases.find((x) => x.id === Number(v.release_id));
        if (!r) return notFound;
        const name = url.searchParams.get('name') ?? '';
        if (r.assets.some((a) => a.name === name))
          return { status: 422, body: { message: 'Validation Failed', documentation_url: 'https://docs.github.com/rest' } };
        const asset = { id: this.nextId++, name, data: raw, digest: sha256(raw) };
        r.assets.push(asset);
        return { status: 201, body: this.assetJson(asset) };
      }
      case 'GET /repos/{owner}/{repo}/actions/runs/{run_id}/artifacts': {
        const name = url.searchParams.get('name');
        const found = this.artifacts.filter((a) => a.runId === Number(v.run_id) && (!name || a.name === name));
        const artifacts = found.map((a) =>
          this.api.sample('artifact', {
            id: a.id,
            name: a.name,
            size_in_bytes: a.zip.length,
            digest: a.digest,
            expired: false,
            archive_download_url: `${this.url}/repos/${this.owner}/${this.repo}/actions/artifacts/${a.id}/zip`,
            workflow_run: null,
          }),
        );
        return { status: 200, body: { total_count: artifacts.length, artifacts } };
      }
      case 'GET /repos/{owner}/{repo}/actions/artifacts/{artifact_id}/{archive_format}': {
        const a = this.artifacts.find((x) => x.id === Number(v.artifact_id));
        return a ? { status: 302, headers: { location: `${this.storageUrl}/artifacts/${a.id}.zip?sig=expires-in-60s` } } : notFound;
      }
      case 'POST /repos/{owner}/{repo}/check-runs': {
        const c: CheckRun = {
          id: this.nextId++,
          name: body.name,
          head_sha: body.head_sha,
          status: body.status ?? 'queued',
          conclusion: body.conclusion ?? null,
          output: body.output ?? {},
          annotations: body.output?.annotations ?? [],
        };
        this.checkRuns.push(c);
        return { status: 201, body: this.checkRunJson(c) };
      }
      case 'PATCH /repos/{owner}/{repo}/check-runs/{check_run_id}': {
        const c = this.checkRuns.find((x) => x.id === Number(v.check_run_id));
        if (!c) return notFound;
        if (body.status) c.status = body.status;
        if (body.conclusion) Object.assign(c, { conclusion: body.conclusion, status: 'completed' });
        if (body.output) {
          c.output = body.output;
          c.annotations.push(...(body.output.annotations ?? []));
        }
        return { status: 200, body: this.checkRunJson(c) };
      }
      case 'GET /repos/{owner}/{repo}/issues/{issue_number}/comments':
        return { status: 200, body: this.comments.map((c) => this.commentJson(c)) };
      case 'GET /user':
        if (!this.tokenLogin)
          return { status: 403, body: { message: 'Resource not accessible by integration', documentation_url: 'https://docs.github.com/rest' } };
        return { status: 200, body: this.api.sample('private-user', { login: this.tokenLogin, id: 7, type: 'User' }) };
      case 'GET /repos/{owner}/{repo}/pulls': {
        const head = url.searchParams.get('head');
        const found = this.pulls.filter((p) => !head || head === `${p.headOwner}:${p.headRef}`);
        return {
          status: 200,
          body: found.map((p) =>
            this.api.sample('pull-request-simple', {
              number: p.number,
              state: 'open',
              head: { ...this.api.sample('pull-request-simple').head, sha: p.headSha, ref: p.headRef, label: `${p.headOwner}:${p.headRef}` },
            }),
          ),
        };
      }
      case 'POST /repos/{owner}/{repo}/issues/{issue_number}/comments': {
        const c = { id: this.nextId++, body: body.body, login: this.author };
        this.comments.push(c);
        return { status: 201, body: this.commentJson(c) };
      }
      case 'PATCH /repos/{owner}/{repo}/issues/comments/{comment_id}': {
        const c = this.comments.find((x) => x.id === Number(v.comment_id));
        if (!c) return notFound;
        c.body = body.body;
        return { status: 200, body: this.commentJson(c) };
      }
      default:
        return { status: 501, body: { message: `the loopback GitHub does not implement ${method} ${template}` } };
    }
  }

  private async handleApi(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', this.url);
    const raw = await readBody(req);
    const method = req.method ?? 'GET';
    const where = `${method} ${url.pathname}${url.search}`;
    const checked = this.api.validateRequest(method, url, req.headers, raw);
    for (const problem of checked.problems) this.violations.push({ request: where, problem });
    const authorized = /^(token|bearer) \S+/i.test(String(req.headers.authorization ?? ''));
    if (!authorized) this.violations.push({ request: where, problem: 'no Authorization header' });
    const contentType = String(req.headers['content-type'] ?? '');
    const body = contentType.startsWith('application/json') && raw.length ? JSON.parse(raw.toString('utf8')) : undefined;
    const template = checked.operation?.template;
    this.requests.push({ method, path: url.pathname, operation: template && `${method} ${template}`, authorized, body });
    const reply: Reply = template ? this.route(method, template, checked.values, url, body, raw) : { status: 404, body: { message: 'Not Found' } };
    // GitHub answers a read-only token's write with 403 even where the description lists no 403.
    const problems =
      reply.status === 403
        ? this.api.validateSchema('basic-error', reply.body)
        : checked.operation && reply.status !== 501
          ? this.api.validateResponse(checked.operation, reply.status, reply.body)
          : [];
    for (const problem of problems) this.violations.push({ request: where, problem });
    if (reply.status === 501) this.violations.push({ request: where, problem: reply.body.message });
    res.writeHead(reply.status, { ...(reply.body !== undefined ? { 'content-type': 'application/json; charset=utf-8' } : {}), ...reply.headers });
    res.end(reply.body !== undefined ? JSON.stringify(reply.body) : undefined);
  }

  private handleStorage(req: IncomingMessage, res: ServerResponse): void {
    const url = new URL(req.url ?? '/', this.storageUrl);
    this.storageRequests.push({ path: url.pathname, authorization: req.headers.authorization });
    // /assets/<id>: the API's redirect target; /download/<id>/<name>: browser_download_url.
    const asset = /^\/(?:assets|download)\/(\d+)(?:\/[^/]+)?$/.exec(url.pathname);
    const artifact = /^\/artifacts\/(\d+)\.zip$/.exec(url.pathname);
    const data = asset
      ? this.releases.flatMap((r) => r.assets).find((a) => a.id === Number(asset[1]))?.data
      : artifact
        ? this.artifacts.find((a) => a.id === Number(artifact[1]))?.zip
        : undefined;
    if (!data) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'content-type': artifact ? 'application/zip' : 'application/octet-stream', 'content-length': data.length }).end(data);
  }
}
