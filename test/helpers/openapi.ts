// GitHub's own OpenAPI description (@octokit/openapi) as a request/response validator, and a
// generator of minimal schema-valid response bodies, for the loopback GitHub server.
import { Ajv, type ValidateFunction } from 'ajv';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const addFormats = require('ajv-formats') as typeof import('ajv-formats').default;

type Json = any;

/** OpenAPI 3.0 `nullable: true` → JSON Schema's null type (Ajv speaks JSON Schema). */
function toJsonSchema(node: Json): Json {
  if (Array.isArray(node)) return node.map(toJsonSchema);
  if (!node || typeof node !== 'object') return node;
  const out: Json = {};
  for (const [k, v] of Object.entries(node)) if (k !== 'nullable' && k !== 'example' && k !== 'examples' && k !== 'discriminator') out[k] = toJsonSchema(v);
  if (node.nullable === true) {
    if (typeof out.type === 'string') {
      out.type = [out.type, 'null'];
      if (Array.isArray(out.enum)) out.enum = [...out.enum, null];
      return out;
    }
    return { anyOf: [out, { type: 'null' }] };
  }
  return out;
}

interface Operation {
  method: string;
  template: string;
  regex: RegExp;
  params: string[];
  op: Json;
  pathParams: Json[];
}

export interface Violation {
  request: string;
  problem: string;
}

export class GitHubOpenApi {
  readonly spec: Json;
  private readonly ajv: Ajv;
  private readonly coercing: Ajv;
  private readonly operations: Operation[] = [];
  private readonly compiled = new Map<string, ValidateFunction>();

  constructor() {
    this.spec = JSON.parse(readFileSync(require.resolve('@octokit/openapi/generated/api.github.com.json'), 'utf8'));
    const schemaDoc = { $id: 'gh', components: toJsonSchema(this.spec.components) };
    const make = (coerceTypes: boolean) => {
      const ajv = new Ajv({ strict: false, validateSchema: false, allErrors: false, logger: false, coerceTypes });
      addFormats(ajv);
      ajv.addSchema(schemaDoc);
      return ajv;
    };
    this.ajv = make(false);
    this.coercing = make(true);
    for (const [template, item] of Object.entries<Json>(this.spec.paths)) {
      const params = [...template.matchAll(/\{([^}]+)\}/g)].map((m) => m[1]);
      const regex = new RegExp(`^${template.replace(/[.*+?^$()|[\]\\]/g, '\\$&').replace(/\{[^}]+\}/g, '([^/]+)')}$`);
      for (const method of ['get', 'post', 'put', 'patch', 'delete']) {
        if (item[method]) this.operations.push({ method: method.toUpperCase(), template, regex, params, op: item[method], pathParams: item.parameters ?? [] });
      }
    }
    // Literal segments win over parameters (/releases/latest before /releases/{release_id}).
    this.operations.sort((a, b) => a.params.length - b.params.length);
  }

  private deref(node: Json): Json {
    let n = node;
    while (n && n.$ref)
      n = n.$ref
        .split('/')
        .slice(1)
        .reduce((o: Json, k: string) => o[k.replace(/~1/g, '/').replace(/~0/g, '~')], this.spec);
    return n;
  }

  /** Compiles a schema (with refs into the spec's components) once per key. */
  private validator(key: string, schema: Json, coerce = false): ValidateFunction {
    const id = `${coerce ? 'c:' : ''}${key}`;
    let v = this.compiled.get(id);
    if (!v) {
      const rewritten = JSON.parse(JSON.stringify(toJsonSchema(schema)).replace(/"#\/components\//g, '"gh#/components/'));
      v = (coerce ? this.coercing : this.ajv).compile(rewritten);
      this.compiled.set(id, v);
    }
    return v;
  }

  match(method: string, pathname: string): { operation: Operation; values: Record<string, string> } | undefined {
    for (const operation of this.operations) {
      if (operation.method !== method) continue;
      const m = operation.regex.exec(pathname);
      if (!m) continue;
      return { operation, values: Object.fromEntries(operation.params.map((p, i) => [p, decodeURIComponent(m[i + 1])])) };
    }
    return undefined;
  }

  /** Checks path, query, content type and JSON body of a request against the operation. */
  validateRequest(
    method: string,
    url: URL,
    headers: Record<string, string | string[] | undefined>,
    body: Buffer,
  ): { operation?: Operation; values: Record<string, string>; problems: string[] } {
    const found = this.match(method, url.pathname);
    if (!found) return { values: {}, problems: [`no ${method} ${url.pathname} in GitHub's OpenAPI description`] };
    const { operation, values } = found;
    const problems: string[] = [];
    const params = [...operation.pathParams, ...(operation.op.parameters ?? [])].map((p: Json) => this.deref(p));
    for (const p of params) {
      const key = `${operation.method} ${operation.template} ${p.in}:${p.name}`;
      if (p.in === 'path') {
        const v = this.validator(key, { type: 'object', properties: { v: p.schema } }, true);
        if (!v({ v: values[p.name] })) problems.push(`path parameter ${p.name}='${values[p.name]}': ${this.ajv.errorsText(v.errors)}`);
      } else if (p.in === 'query') {
        const raw = url.searchParams.get(p.name);
        if (raw === null) {
          if (p.required) problems.push(`missing required query parameter ${p.name}`);
          continue;
        }
        const v = this.validator(key, { type: 'object', properties: { v: p.schema } }, true);
        if (!v({ v: raw })) problems.push(`query parameter ${p.name}='${raw}': ${this.ajv.errorsText(v.errors)}`);
      } else if (p.in === 'header' && p.required && headers[p.name.toLowerCase()] === undefined) problems.push(`missing required header ${p.name}`);
    }
    const declared = new Set(params.filter((p: Json) => p.in === 'query').map((p: Json) => p.name));
    for (const name of url.searchParams.keys()) if (!declared.has(name)) problems.push(`undeclared query parameter ${name}`);
    const requestBody = this.deref(operation.op.requestBody);
    if (requestBody) {
      const types = Object.keys(requestBody.content ?? {});
      const sent = String(headers['content-type'] ?? '')
        .split(';')[0]
        .trim();
      if (!body.length && requestBody.required) problems.push('missing required request body');
      if (body.length) {
        if (types.includes('application/json')) {
          if (sent !== 'application/json') problems.push(`content-type ${sent || '(none)'} where application/json is required`);
          let parsed: Json;
          try {
            parsed = JSON.parse(body.toString('utf8'));
          } catch {
            problems.push('request body is not JSON');
          }
          const v = this.validator(`${operation.method} ${operation.template} body`, requestBody.content['application/json'].schema);
          if (parsed !== undefined && !v(parsed)) problems.push(`request body: ${this.ajv.errorsText(v.errors)}`);
        } else if (!sent) problems.push(`no content-type for a ${types.join('/')} body`);
        if (headers['content-length'] !== undefined && Number(headers['content-length']) !== body.length)
          problems.push(`content-length ${headers['content-length']} but ${body.length} bytes sent`);
      }
    } else if (body.length) problems.push('a body was sent to an operation that takes none');
    return { operation, values, problems };
  }

  private responseSchema(operation: Operation, status: number): Json | undefined | null {
    const response = this.deref(operation.op.responses?.[String(status)]);
    if (!response) return null;
    return response.content?.['application/json']?.schema;
  }

  /** Checks that `status` is a documented response of the operation and `body` matches its schema. */
  validateResponse(operation: Operation, status: number, body: Json): string[] {
    const schema = this.responseSchema(operation, status);
    if (schema === null) return [`status ${status} is not a documented response of ${operation.method} ${operation.template}`];
    if (schema === undefined) return body === undefined ? [] : [`status ${status} of ${operation.method} ${operation.template} has no JSON body`];
    const v = this.validator(`${operation.method} ${operation.template} ${status}`, schema);
    return v(body) ? [] : [`response ${status}: ${this.ajv.errorsText(v.errors)}`];
  }

  /** Checks `body` against `components/schemas/<name>`. */
  validateSchema(name: string, body: Json): string[] {
    const v = this.validator(`schema ${name}`, { $ref: `#/components/schemas/${name}` });
    return v(body) ? [] : [`${name}: ${this.ajv.errorsText(v.errors)}`];
  }

  /** A minimal body valid against `components/schemas/<name>`: required fields only, from examples where given. */
  sample(name: string, overrides: Json = {}): Json {
    return { ...this.generate(this.spec.components.schemas[name]), ...overrides };
  }

  private generate(node: Json, depth = 0): Json {
    const s = this.deref(node);
    if (!s || depth > 12) return null;
    if (s.allOf) return Object.assign({}, ...s.allOf.map((x: Json) => this.generate(x, depth + 1)));
    if (s.anyOf || s.oneOf) return this.generate((s.anyOf ?? s.oneOf)[0], depth + 1);
    if (s.nullable && s.type === 'object' && depth > 0) return null;
    if (s.enum) return s.enum[0];
    const type = s.type ?? (s.properties ? 'object' : undefined);
    switch (type) {
      case 'object': {
        const out: Json = {};
        for (const key of s.required ?? []) out[key] = this.generate(s.properties?.[key] ?? {}, depth + 1);
        return out;
      }
      case 'array':
        return [];
      case 'integer':
      case 'number':
        return typeof s.example === 'number' ? s.example : (s.minimum ?? 1);
      case 'boolean':
        return typeof s.example === 'boolean' ? s.example : false;
      case 'string':
        if (typeof s.example === 'string') return s.example;
        if (s.format === 'date-time') return '2026-11-23T00:00:00Z';
        if (s.format === 'uri') return 'https://api.github.com/';
        if (s.format === 'email') return 'octocat@github.com';
        return s.nullable ? null : 'x';
      default:
        return s.nullable ? null : {};
    }
  }
}
