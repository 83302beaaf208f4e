// The standalone provisioning HTTP API (`storeop api`) as the platform's app meets it: a real child
// process on a free port, bearer tokens configured as SHA-256 hashes (a token file on the PostgreSQL
// master, the environment on the embedded default), stores provisioned on the local PostgreSQL, and
// everything checked from outside: HTTP answers, the master DB and the PostgreSQL catalogs read with
// the test's own SQL.
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ApiProcess, killApiProcesses, sha256, startApiProcess, storeopFreeEnv } from '../support/api-process.js';
import { createPostgresDatabase, postgresRows, type TempDatabase, uniqueName } from '../support/databases.js';
import { runCli } from '../support/master.js';
import { repoRoot } from '../support/paths.js';
import {
  holdPostgresAdminLock,
  openPgliteFolder,
  postgresAdmin,
  postgresEndpoint,
  STORE_TABLES,
  storeName,
  uniqueSlug,
  withStoreDb,
} from '../support/store-db.js';

const TOKEN = randomBytes(24).toString('hex');
const SECOND_TOKEN = randomBytes(24).toString('base64url');
const ENV_TOKEN = randomBytes(24).toString('hex');
const ADMIN_PASSWORD = `pw-${randomBytes(12).toString('hex')}`; // trust auth here: never checked, but must never be stored or logged
const ENCRYPTION_KEYS = `t1:${randomBytes(32).toString('base64')}`;
const server = postgresEndpoint();

// ---------------------------------------------------------------------------------------------------
// The API process

// These tests poll every 40 ms from up to 50 clients sharing one token, far above the default rate limit
// for a real client; the limit has its own tests (test/security/api-limits.test.ts).
function startApi(options: { cwd: string; args: string[]; env: NodeJS.ProcessEnv }): Promise<ApiProcess> {
  return startApiProcess({ cwd: options.cwd, args: ['--rate-limit', '1000000', ...options.args], env: storeopFreeEnv(options.env) });
}

interface Client {
  call(path: string, init?: RequestInit & { token?: string | null }): Promise<Response>;
  post(body: unknown, init?: RequestInit & { token?: string | null }): Promise<Response>;
}

function clientOf(api: () => ApiProcess, defaultToken: string): Client {
  const call: Client['call'] = (path, init = {}) => {
    const { token = defaultToken, ...rest } = init;
    const headers = new Headers(rest.headers);
    if (token !== null && !headers.has('authorization')) headers.set('authorization', `Bearer ${token}`);
    if (rest.body !== undefined && !headers.has('content-type')) headers.set('content-type', 'application/json');
    return fetch(`${api().url}${path}`, { ...rest, headers });
  };
  return {
    call,
    post: (body, init = {}) =>
      call('/v1/provision', { ...init, method: 'POST', body: typeof body === 'string' ? body : JSON.stringify(body) }),
  };
}

type JobStatus = {
  status: string;
  step: string | null;
  progress: number;
  message: string | null;
  tablesCreated: number;
  totalTables: number;
  startedAt: string | null;
  finishedAt: string | null;
  error: string | null;
};

/** Polls a job the way a client does until it ends; returns every status seen. */
async function pollJob(client: Client, jobId: string, ms = 180_000, logs = () => ''): Promise<JobStatus[]> {
  const seen: JobStatus[] = [];
  const deadline = Date.now() + ms;
  for (;;) {
    const response = await client.call(`/v1/provision/${jobId}/status`);
    expect(response.status, `GET status of job ${jobId}`).toBe(200);
    const status = (await response.json()) as JobStatus;
    seen.push(status);
    if (status.status === 'succeeded' || status.status === 'failed') return seen;
    if (Date.now() > deadline) throw new Error(`job ${jobId} still ${status.status} after ${ms} ms:\n${logs().slice(-4000)}`);
    await sleep(40);
  }
}

/** Progress never falls and the status only moves forward (queued → running → succeeded/failed). */
function expectForwardOnly(seen: readonly JobStatus[]): void {
  const order = ['queued', 'running', 'succeeded', 'failed'];
  for (let i = 1; i < seen.length; i++) {
    const [before, now] = [seen[i - 1] as JobStatus, seen[i] as JobStatus];
    expect(now.progress, `poll ${i}: ${before.progress}% then ${now.progress}%`).toBeGreaterThanOrEqual(before.progress);
    expect(order.indexOf(now.status), `poll ${i}: ${before.status} then ${now.status}`).toBeGreaterThanOrEqual(
      order.indexOf(before.status),
    );
  }
}

// ---------------------------------------------------------------------------------------------------
// OpenAPI: the document's structure, and response bodies checked against the schemas it publishes

type Schema = {
  type?: string;
  nullable?: boolean;
  enum?: unknown[];
  properties?: Record<string, Schema>;
  required?: string[];
  additionalProperties?: boolean | Schema;
  items?: Schema;
  anyOf?: Schema[];
  oneOf?: Schema[];
  allOf?: Schema[];
  pattern?: string;
};

/** Where `value` does not conform to `schema` (the OpenAPI 3.0 subset zod emits). */
function nonConformance(schema: Schema, value: unknown, at = '$'): string[] {
  if (value === null) return schema.nullable || schema.anyOf?.some((s) => s.nullable) ? [] : [`${at}: null is not allowed`];
  if (schema.allOf) return schema.allOf.flatMap((s) => nonConformance(s, value, at));
  const alternatives = schema.anyOf ?? schema.oneOf;
  if (alternatives)
    return alternatives.some((s) => nonConformance(s, value, at).length === 0) ? [] : [`${at}: matches none of the alternatives`];
  if (schema.enum && !schema.enum.includes(value)) return [`${at}: ${JSON.stringify(value)} not in ${JSON.stringify(schema.enum)}`];
  const actual = Array.isArray(value) ? 'array' : Number.isInteger(value) ? 'integer' : typeof value;
  if (schema.type && !(schema.type === actual || (schema.type === 'number' && actual === 'integer')))
    return [`${at}: expected ${schema.type}, got ${actual}`];
  if (schema.pattern && typeof value === 'string' && !new RegExp(schema.pattern).test(value))
    return [`${at}: does not match ${schema.pattern}`];
  if (Array.isArray(value)) return value.flatMap((v, i) => (schema.items ? nonConformance(schema.items, v, `${at}[${i}]`) : []));
  if (typeof value === 'object') {
    const record = value as Record<string, unknown>;
    const problems = (schema.required ?? []).filter((k) => !(k in record)).map((k) => `${at}.${k}: missing`);
    for (const [key, v] of Object.entries(record)) {
      const property = schema.properties?.[key];
      if (property) problems.push(...nonConformance(property, v, `${at}.${key}`));
      else if (schema.additionalProperties === false) problems.push(`${at}.${key}: not in the schema`);
      else if (typeof schema.additionalProperties === 'object')
        problems.push(...nonConformance(schema.additionalProperties, v, `${at}.${key}`));
    }
    return problems;
  }
  return [];
}

type Response3 = { description?: unknown; content?: Record<string, { schema?: Schema }> };
type OpenApi = {
  openapi: string;
  info: { title: string; version: string };
  paths: Record<
    string,
    Record<string, { parameters?: Array<{ name: string; in: string; required?: boolean }>; responses: Record<string, Response3> }>
  >;
  components?: { securitySchemes?: Record<string, unknown> };
  security?: Array<Record<string, unknown>>;
};

/** What keeps `document` from being a well-formed OpenAPI 3.0 document. */
function openApiProblems(document: OpenApi): string[] {
  const problems: string[] = [];
  if (!/^3\.0\.\d+$/.test(document.openapi)) problems.push(`openapi: ${document.openapi} is not 3.0.x`);
  if (typeof document.info?.title !== 'string' || typeof document.info?.version !== 'string')
    problems.push('info: title and version are required');
  for (const requirement of document.security ?? [])
    for (const name of Object.keys(requirement))
      if (!document.components?.securitySchemes?.[name]) problems.push(`security: no securityScheme ${name}`);
  const methods = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'];
  for (const [path, item] of Object.entries(document.paths ?? {})) {
    if (!path.startsWith('/')) problems.push(`${path}: paths start with /`);
    const templated = [...path.matchAll(/\{([^}]+)\}/g)].map((m) => m[1]).sort();
    for (const [method, operation] of Object.entries(item)) {
      if (!methods.includes(method)) problems.push(`${path}: ${method} is not an HTTP method`);
      const declared = (operation.parameters ?? []).filter((p) => p.in === 'path');
      if (declared.some((p) => p.required !== true)) problems.push(`${method} ${path}: path parameters must be required`);
      if (JSON.stringify(declared.map((p) => p.name).sort()) !== JSON.stringify(templated))
        problems.push(
          `${method} ${path}: path parameters ${JSON.stringify(declared.map((p) => p.name))} vs template ${JSON.stringify(templated)}`,
        );
      if (!operation.responses || Object.keys(operation.responses).length === 0) problems.push(`${method} ${path}: no responses`);
      for (const [code, response] of Object.entries(operation.responses ?? {})) {
        if (!/^([1-5](\d\d|XX)|default)$/.test(code)) problems.push(`${method} ${path}: response key ${code}`);
        if (typeof response.description !== 'string') problems.push(`${method} ${path} ${code}: description is required`);
      }
    }
  }
  // JSON Schema keywords that OpenAPI 3.0's schema object does not have.
  const foreign = ['const', '$schema', '$defs', 'prefixItems', 'examples', 'unevaluatedProperties', 'dependentRequired'];
  const walk = (node: unknown, at: string): void => {
    if (Array.isArray(node)) {
      for (const [i, n] of node.entries()) walk(n, `${at}[${i}]`);
      return;
    }
    if (!node || typeof node !== 'object') return;
    for (const [key, value] of Object.entries(node)) {
      if (at.endsWith('.properties')) {
        walk(value, `${at}.${key}`); // a property name, not a keyword
        continue;
      }
      if (foreign.includes(key)) problems.push(`${at}: ${key} is not OpenAPI 3.0`);
      if (key === 'type' && typeof value !== 'string' && at.includes('.schema')) problems.push(`${at}: type must be a string`);
      if (key === '$ref' && typeof value === 'string') {
        const target = value
          .replace(/^#\//, '')
          .split('/')
          .reduce<unknown>((n, part) => (n as Record<string, unknown> | undefined)?.[part], document);
        if (target === undefined) problems.push(`${at}: $ref ${value} does not resolve`);
      }
      walk(value, `${at}.${key}`);
    }
  };
  walk(document.paths, 'paths');
  return problems;
}

const schemaOf = (document: OpenApi, path: string, method: string, code: string): Schema =>
  document.paths[path]?.[method]?.responses[code]?.content?.['application/json']?.schema as Schema;

// ---------------------------------------------------------------------------------------------------
// PostgreSQL helpers

/** Drops what the API created on the local PostgreSQL: databases first (with their schemas), then roles. */
async function dropPostgresObjects(databases: Iterable<string>, roles: Iterable<string>): Promise<void> {
  await postgresAdmin(async (c) => {
    for (const database of new Set(databases)) await c.query(`DROP DATABASE IF EXISTS ${pg.escapeIdentifier(database)} WITH (FORCE)`);
    for (const role of new Set(roles)) await c.query(`DROP ROLE IF EXISTS ${pg.escapeIdentifier(role)}`);
  });
}

const pgDatabase = (extra: Record<string, unknown> = {}) => ({
  engine: 'postgresql',
  mode: 'create',
  server: { host: server.host, port: server.port, adminSecretRef: { name: 'pg-admin' } },
  ...extra,
});
const pgSecrets = { 'pg-admin': { username: server.user || 'postgres', password: ADMIN_PASSWORD } };

function pgBody(slug: string, options: { owner?: string | null; database?: Record<string, unknown> } = {}) {
  return {
    store: {
      slug,
      displayName: `Shop ${slug}`,
      ...(options.owner === null ? {} : { owner: options.owner ?? `owner-${slug}@example.com` }),
      plan: 'starter',
      settings: { currency: 'EUR', locale: 'de-DE' },
    },
    database: options.database ?? pgDatabase(),
    secrets: pgSecrets,
  };
}

// ---------------------------------------------------------------------------------------------------

describe('storeop api on a PostgreSQL master, tokens from a hashes file', () => {
  let master: TempDatabase;
  let home: string;
  let api: ApiProcess;
  const extraApis: ApiProcess[] = [];
  const client = clientOf(() => api, TOKEN);
  const databases = new Set<string>();
  const roles = new Set<string>();
  /** A store with its own database and role (database isolation), to drop at the end. */
  const trackStore = (slug: string) => {
    databases.add(storeName(slug));
    roles.add(storeName(slug));
  };
  const sql = <T extends Record<string, unknown>>(text: string, params: unknown[] = []) => postgresRows<T>(master.url, text, params);
  const apiArgs = () => ['--master-database-url', master.url, '--home', home, '--api-token-hashes-file', join(home, 'api-tokens')];
  const apiEnv = { STOREOP_ENCRYPTION_KEYS: ENCRYPTION_KEYS, STOREOP_API_TOKEN_HASHES: sha256(ENV_TOKEN) };

  beforeAll(async () => {
    master = await createPostgresDatabase('api_master');
    home = mkdtempSync(join(tmpdir(), 'storeop-http-api-'));
    // As an operator writes it: a comment, one hash prefixed and upper-case, one bare, CRLF line ends.
    writeFileSync(
      join(home, 'api-tokens'),
      `# tokens of the platform app\r\nsha256:${sha256(TOKEN).toUpperCase()}\r\n\r\n${sha256(SECOND_TOKEN)}\r\n`,
      { mode: 0o600 },
    );
    api = await startApi({ cwd: home, args: apiArgs(), env: apiEnv });
  });

  afterAll(async () => {
    for (const extra of extraApis) await extra.stop('SIGKILL').catch(() => {});
    await api?.stop().catch(() => {});
    killApiProcesses();
    try {
      await dropPostgresObjects(databases, roles);
    } finally {
      await master?.drop();
      if (home) rmSync(home, { recursive: true, force: true });
    }
  });

  it('provisions a store on the local PostgreSQL: 202, then rising progress to succeeded, the tables in its own database, and the store in /v1/stores', async () => {
    const slug = uniqueSlug();
    trackStore(slug);
    const document = (await (await client.call('/v1/openapi.json', { token: null })).json()) as OpenApi;

    const response = await client.post(pgBody(slug));
    expect(response.status).toBe(202);
    const accepted = (await response.json()) as { jobId: string; storeId: string; status: string };
    expect(accepted).toEqual({
      jobId: expect.stringMatching(/^[0-9a-f-]{36}$/),
      storeId: expect.stringMatching(/^[0-9a-f-]{36}$/),
      status: 'provisioning',
    });
    expect(nonConformance(schemaOf(document, '/v1/provision', 'post', '202'), accepted)).toEqual([]);

    const seen = await pollJob(client, accepted.jobId, 180_000, api.logs);
    expectForwardOnly(seen);
    for (const status of seen) expect(nonConformance(schemaOf(document, '/v1/provision/{jobId}/status', 'get', '200'), status)).toEqual([]);
    const last = seen.at(-1) as JobStatus;
    expect(last).toMatchObject({
      status: 'succeeded',
      step: 'register',
      progress: 100,
      tablesCreated: STORE_TABLES.length,
      totalTables: STORE_TABLES.length,
      error: null,
    });
    const started = Date.parse(last.startedAt as string);
    const finished = Date.parse(last.finishedAt as string);
    expect(Number.isNaN(started) || Number.isNaN(finished)).toBe(false);
    expect(finished).toBeGreaterThanOrEqual(started);

    // The tables are in the store's own database, owned by the store's own role.
    const tables = await postgresAdmin(
      async (c) =>
        (
          await c.query<{ tablename: string; tableowner: string }>(
            "select tablename, tableowner from pg_tables where schemaname = 'public'",
          )
        ).rows,
      storeName(slug),
    );
    expect(tables.map((t) => t.tablename)).toEqual(expect.arrayContaining(STORE_TABLES));
    expect(new Set(tables.map((t) => t.tableowner))).toEqual(new Set([storeName(slug)]));

    const list = await client.call('/v1/stores');
    expect(list.status).toBe(200);
    const stores = (await list.json()) as { stores: Array<Record<string, unknown>> };
    expect(nonConformance(schemaOf(document, '/v1/stores', 'get', '200'), stores)).toEqual([]);
    expect(stores.stores.filter((s) => s.slug === slug)).toEqual([expect.objectContaining({ id: accepted.storeId })]);
    for (const key of [accepted.storeId, slug]) {
      const one = await client.call(`/v1/stores/${key}`);
      expect(one.status, key).toBe(200);
      const store = await one.json();
      expect(nonConformance(schemaOf(document, '/v1/stores/{id}', 'get', '200'), store)).toEqual([]);
      expect(store).toMatchObject({
        id: accepted.storeId,
        slug,
        name: `Shop ${slug}`,
        plan: 'starter',
        databaseType: 'postgresql',
        databaseName: storeName(slug),
        databaseStatus: 'active',
        isActive: true,
      });
    }
    // What the platform reads from the master agrees.
    expect(await sql('select s.id, u.email from stores s join users u on u.id = s.owner_id where s.slug = $1', [slug])).toEqual([
      { id: accepted.storeId, email: `owner-${slug}@example.com` },
    ]);
  });

  it('publishes a well-formed OpenAPI 3.0 document of its routes, without a token', async () => {
    const response = await client.call('/v1/openapi.json', { token: null });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^application\/json/);
    const document = (await response.json()) as OpenApi;
    expect(openApiProblems(document)).toEqual([]);
    expect(Object.keys(document.paths).sort()).toEqual([
      '/v1/provision',
      '/v1/provision/{jobId}/status',
      '/v1/stores',
      '/v1/stores/{id}',
      '/v1/stores/{id}/usage',
      '/v1/usage/summary',
    ]);
    expect(Object.keys(document.paths['/v1/provision'] ?? {})).toEqual(['post']);
    expect(Object.keys(document.paths['/v1/provision']?.post?.responses ?? {})).toEqual(
      expect.arrayContaining(['202', '400', '401', '409', '413']),
    );
    expect(Object.keys(document.paths['/v1/provision/{jobId}/status']?.get?.responses ?? {})).toEqual(
      expect.arrayContaining(['200', '401', '404']),
    );
    // The request schema is the one the server validates with: a body it rejects does not conform either.
    const post = document.paths['/v1/provision']?.post as unknown as { requestBody: { content: Record<string, { schema: Schema }> } };
    const request = post.requestBody.content['application/json']?.schema as Schema;
    expect(nonConformance(request, pgBody('doc-shop'))).toEqual([]);
    expect(nonConformance(request, { ...pgBody('doc-shop'), database: pgDatabase({ engine: 'oracle' }) })).not.toEqual([]);
  });

  it('answers 401 without a token, with a bad one and with a malformed Authorization header, never echoing what was sent, and changes nothing', async () => {
    const slug = uniqueSlug();
    const wrong = randomBytes(24).toString('hex');
    const headers: Array<[string, string | null]> = [
      ['no Authorization header', null],
      ['a wrong token', `Bearer ${wrong}`],
      ['the token hash instead of the token', `Bearer ${sha256(TOKEN)}`],
      ['the env token, which a hashes file replaces', `Bearer ${ENV_TOKEN}`],
      ['the scheme alone', 'Bearer'],
      ['the scheme and blanks', 'Bearer    '],
      ['the token without a scheme', TOKEN],
      ['another scheme', `Token ${TOKEN}`],
      ['Basic credentials', `Basic ${Buffer.from(`api:${TOKEN}`).toString('base64')}`],
      ['the token with something after it', `Bearer ${TOKEN} ${wrong}`],
      ['the token glued to the scheme', `Bearer${TOKEN}`],
    ];
    const requests: Array<[string, string, unknown?]> = [
      ['POST', '/v1/provision', pgBody(slug)],
      ['GET', '/v1/stores'],
      ['GET', `/v1/stores/${slug}`],
      ['GET', `/v1/provision/${randomUUID()}/status`],
    ];
    for (const [what, authorization] of headers) {
      for (const [method, path, body] of requests) {
        const response = await client.call(path, {
          method,
          token: null,
          headers: authorization === null ? {} : { authorization },
          ...(body ? { body: JSON.stringify(body) } : {}),
        });
        expect(response.status, `${what}: ${method} ${path}`).toBe(401);
        expect(response.headers.get('www-authenticate'), `${what}: ${method} ${path}`).toMatch(/^Bearer\b/);
        const text = await response.text();
        expect(JSON.parse(text)).toMatchObject({ error: expect.any(String) });
        for (const secret of [TOKEN, wrong, ENV_TOKEN, sha256(TOKEN), ADMIN_PASSWORD]) expect(text).not.toContain(secret);
      }
    }
    // Both configured tokens work, also with the scheme in another letter case.
    for (const authorization of [`Bearer ${TOKEN}`, `bearer ${SECOND_TOKEN}`]) {
      expect((await client.call('/v1/stores', { token: null, headers: { authorization } })).status, authorization.slice(0, 7)).toBe(200);
    }
    expect(await sql('select 1 from stores where slug = $1', [slug])).toEqual([]);
    expect(api.logs()).not.toContain(TOKEN);
  });

  it('answers 400 for malformed JSON and for bodies that fail validation, naming the field paths, and 413 over the body limit; nothing is created', async () => {
    const slug = uniqueSlug();
    for (const malformed of ['{"store": {"slug": ', '', 'store=x', '{"store":{}}}']) {
      const response = await client.post(malformed);
      expect(response.status, JSON.stringify(malformed)).toBe(400);
      expect(await response.json(), JSON.stringify(malformed)).toMatchObject({ error: expect.stringMatching(/JSON/) });
    }
    for (const notAnObject of ['[]', 'null', '"shop"', '42']) {
      const response = await client.post(notAnObject);
      expect(response.status, notAnObject).toBe(400);
      expect(((await response.json()) as { issues: unknown[] }).issues.length, notAnObject).toBeGreaterThan(0);
    }

    const valid = pgBody(slug);
    const cases: Array<[string, unknown, string]> = [
      ['a slug with capitals and blanks', { ...valid, store: { ...valid.store, slug: 'Bad Slug!' } }, 'store.slug'],
      ['a slug starting with a digit', { ...valid, store: { ...valid.store, slug: '1shop' } }, 'store.slug'],
      ['an unknown engine', { ...valid, database: pgDatabase({ engine: 'oracle' }) }, 'database.engine'],
      ['an unknown plan', { ...valid, store: { ...valid.store, plan: 'platinum' } }, 'store.plan'],
      ['no displayName', { ...valid, store: { ...valid.store, displayName: undefined } }, 'store.displayName'],
      ['no slug', { ...valid, store: { ...valid.store, slug: undefined } }, 'store.slug'],
      ['no database', { store: valid.store }, 'database'],
      ['no store', { database: valid.database }, 'store'],
      [
        'a port that is text',
        { ...valid, database: pgDatabase({ server: { ...pgDatabase().server, port: 'five' } }) },
        'database.server.port',
      ],
      ['an owner that is no email', { ...valid, store: { ...valid.store, owner: 'not-an-email' } }, 'store.owner'],
      [
        'a secret value that is not a string',
        { ...valid, secrets: { 'pg-admin': { username: 'postgres', password: 42 } } },
        'secrets.pg-admin.password',
      ],
    ];
    for (const [what, body, field] of cases) {
      const response = await client.post(body);
      expect(response.status, what).toBe(400);
      const problem = (await response.json()) as { error: string; issues: Array<{ path: string; message: string }> };
      expect(
        problem.issues.map((i) => i.path),
        what,
      ).toContain(field);
      for (const issue of problem.issues) expect(issue.message, what).toEqual(expect.any(String));
    }

    // Credentials need the operator's status and Secrets: refused by the API without a cluster, never ignored.
    const credentials = await client.post({ ...valid, database: pgDatabase({ credentials: { rotationPeriod: '720h' } }) });
    expect(credentials.status).toBe(400);
    expect(((await credentials.json()) as { error: string }).error).toMatch(/^database\.credentials: is handled by the operator/);

    // A Secret the database spec references but the body does not bring: 400 naming the field.
    const missingSecret = await client.post({ ...valid, secrets: {} });
    expect(missingSecret.status).toBe(400);
    expect(((await missingSecret.json()) as { error: string }).error).toMatch(/database\.server\.adminSecretRef/);

    // Over the limit (1 MiB), with a Content-Length and streamed without one.
    const padding = 'x'.repeat(1024 * 1024 + 1);
    const sized = await client.post({ ...valid, padding });
    expect(sized.status).toBe(413);
    expect(await sized.json()).toMatchObject({ error: expect.any(String) });
    const chunks = [JSON.stringify({ ...valid, padding }).slice(0, -1), ', "more": 1}'];
    // The server reads an oversized body to its end before it answers, so a client still sending sees the
    // 413 rather than a broken pipe; repeated, because a server that closes early fails only some of the time.
    for (let attempt = 0; attempt < 5; attempt++) {
      const streamed = await client.call('/v1/provision', {
        method: 'POST',
        body: new ReadableStream({
          start(controller) {
            for (const chunk of chunks) controller.enqueue(new TextEncoder().encode(chunk));
            controller.close();
          },
        }),
        duplex: 'half',
      } as RequestInit);
      expect(streamed.status, `attempt ${attempt}`).toBe(413);
      expect(await streamed.json()).toMatchObject({ error: expect.stringContaining('too large') });
    }
    // A body just under the limit is read and judged on its content.
    const under = await client.post({ ...valid, store: { ...valid.store, slug: 'Bad Slug!' }, padding: 'x'.repeat(512 * 1024) });
    expect(under.status).toBe(400);

    expect(await sql('select 1 from stores where slug = $1', [slug])).toEqual([]);
    expect(await postgresAdmin(async (c) => (await c.query('select 1 from pg_roles where rolname = $1', [storeName(slug)])).rows)).toEqual(
      [],
    );
    // And the server still serves.
    expect((await client.call('/v1/stores')).status).toBe(200);
  });

  it('answers 404 for an unknown job, a valid UUID or not, and for an unknown store', async () => {
    for (const id of [randomUUID(), '00000000-0000-0000-0000-000000000000', 'not-a-job', "1' or '1'='1", '12345']) {
      const response = await client.call(`/v1/provision/${encodeURIComponent(id)}/status`);
      expect(response.status, id).toBe(404);
      expect(await response.json(), id).toMatchObject({ error: expect.any(String) });
    }
    for (const id of [randomUUID(), uniqueSlug()]) expect((await client.call(`/v1/stores/${id}`)).status, id).toBe(404);
    expect((await client.call('/v1/no-such-endpoint')).status).toBe(404);
  });

  it('answers 409 when the slug belongs to another store: another owner, another database, or a store `storeop apply` declared; the store is left as it was', async () => {
    const slug = uniqueSlug();
    trackStore(slug);
    const first = await client.post(pgBody(slug, { owner: 'first@example.com' }));
    expect(first.status).toBe(202);
    const accepted = (await first.json()) as { jobId: string; storeId: string };
    expect((await pollJob(client, accepted.jobId, 180_000, api.logs)).at(-1)?.status).toBe('succeeded');
    const jobsBefore = await sql('select id from provisioning_jobs where store_id = $1', [accepted.storeId]);

    const otherOwner = await client.post(pgBody(slug, { owner: 'second@example.com' }));
    expect(otherOwner.status).toBe(409);
    expect(((await otherOwner.json()) as { error: string }).error).toMatch(new RegExp(`${slug}.*(owner|another)`));

    // The same owner pointing the slug at another database (here: an embedded PGlite one) would leave the
    // store's PostgreSQL database behind and hand its apps another database: that is another store.
    const otherDatabase = await client.post({
      store: pgBody(slug, { owner: 'first@example.com' }).store,
      database: { engine: 'pglite' },
    });
    expect(otherDatabase.status).toBe(409);
    expect(((await otherDatabase.json()) as { error: string }).error).toContain(slug);
    const otherName = await client.post(
      pgBody(slug, { owner: 'first@example.com', database: pgDatabase({ databaseName: `${storeName(slug)}_b` }) }),
    );
    expect(otherName.status).toBe(409);

    expect(await sql('select id from provisioning_jobs where store_id = $1', [accepted.storeId])).toEqual(jobsBefore);
    expect(await client.call(`/v1/stores/${accepted.storeId}`).then((r) => r.json())).toMatchObject({
      databaseType: 'postgresql',
      databaseName: storeName(slug),
      databaseStatus: 'active',
    });
    expect(await sql('select u.email from stores s join users u on u.id = s.owner_id where s.slug = $1', [slug])).toEqual([
      { email: 'first@example.com' },
    ]);
    // The owner asking again for the same database is the same store: accepted, and it stays Ready.
    const again = await client.post(pgBody(slug, { owner: 'FIRST@example.com' }));
    expect(again.status).toBe(202);
    const againJob = (await again.json()) as { jobId: string; storeId: string };
    expect(againJob.storeId).toBe(accepted.storeId);
    expect((await pollJob(client, againJob.jobId, 180_000, api.logs)).at(-1)?.status).toBe('succeeded');

    // A store declared by `storeop apply` on the same master belongs to apply, not to the API.
    const applied = uniqueSlug();
    const manifest = join(home, `${applied}.yaml`);
    writeFileSync(
      manifest,
      `apiVersion: storeop.dev/v1alpha1\nkind: Store\nmetadata:\n  name: ${applied}\nspec:\n  displayName: Applied shop\n  database:\n    engine: pglite\n`,
    );
    const apply = await runCli(['apply', '-f', manifest, '--master-database-url', master.url, '--home', home], {
      STOREOP_ENCRYPTION_KEYS: ENCRYPTION_KEYS,
    });
    expect(apply.code, apply.stdout + apply.stderr).toBe(0);
    const claimed = await client.post({ store: { slug: applied, displayName: 'Mine now' }, database: { engine: 'pglite' } });
    expect(claimed.status).toBe(409);
    expect(await sql('select name, source from stores where slug = $1', [applied])).toEqual([{ name: 'Applied shop', source: 'apply' }]);
  }, 240_000);

  it('finishes 50 concurrent POSTs for distinct stores (schema isolation), each store in its own schema', async () => {
    const shared = uniqueName('api_shared');
    const slugs = Array.from({ length: 50 }, () => uniqueSlug());
    for (const slug of slugs) roles.add(storeName(slug));
    databases.add(shared);
    try {
      const database = pgDatabase({ isolation: 'schema', databaseName: shared });
      const responses = await Promise.all(slugs.map((slug) => client.post(pgBody(slug, { database }))));
      expect(responses.map((r) => r.status)).toEqual(slugs.map(() => 202));
      const accepted = (await Promise.all(responses.map((r) => r.json()))) as Array<{ jobId: string; storeId: string }>;
      expect(new Set(accepted.map((a) => a.storeId)).size).toBe(50);
      expect(new Set(accepted.map((a) => a.jobId)).size).toBe(50);
      const finals = await Promise.all(accepted.map(async (a) => (await pollJob(client, a.jobId, 480_000, api.logs)).at(-1)));
      expect(finals.map((f) => f?.status)).toEqual(slugs.map(() => 'succeeded'));
      expect(finals.every((f) => f?.tablesCreated === STORE_TABLES.length && f.totalTables === STORE_TABLES.length)).toBe(true);

      const perSchema = await postgresAdmin(
        async (c) =>
          (
            await c.query<{ schema: string; tables: number; owners: string[] }>(
              `select schemaname as schema, count(*)::int as tables, array_agg(distinct tableowner::text) as owners
               from pg_tables where schemaname = any($1) group by schemaname`,
              [slugs.map(storeName)],
            )
          ).rows,
        shared,
      );
      expect(perSchema.length).toBe(50);
      for (const row of perSchema) {
        expect(row.tables, row.schema).toBeGreaterThanOrEqual(STORE_TABLES.length);
        expect(row.owners, row.schema).toEqual([row.schema]);
      }
      const rows = await sql<{ slug: string; database_status: string }>('select slug, database_status from stores where slug = any($1)', [
        slugs,
      ]);
      expect(rows.length).toBe(50);
      expect(new Set(rows.map((r) => r.database_status))).toEqual(new Set(['active']));
    } finally {
      await dropPostgresObjects([shared], slugs.map(storeName));
    }
  }, 600_000);

  it('makes exactly one store of 10 concurrent POSTs for the same slug: 202 with one job, one stores row, one database', async () => {
    const slug = uniqueSlug();
    trackStore(slug);
    const responses = await Promise.all(Array.from({ length: 10 }, () => client.post(pgBody(slug))));
    expect(responses.map((r) => r.status)).toEqual(responses.map(() => 202));
    const accepted = (await Promise.all(responses.map((r) => r.json()))) as Array<{ jobId: string; storeId: string; status: string }>;
    expect(new Set(accepted.map((a) => a.storeId)).size).toBe(1);
    expect(new Set(accepted.map((a) => a.jobId)).size).toBe(1);
    expect((await pollJob(client, accepted[0]?.jobId as string, 180_000, api.logs)).at(-1)?.status).toBe('succeeded');
    expect(await sql('select id from stores where slug = $1', [slug])).toEqual([{ id: accepted[0]?.storeId }]);
    expect(await sql('select status from provisioning_jobs where store_id = $1', [accepted[0]?.storeId])).toEqual([
      { status: 'succeeded' },
    ]);
    expect(
      await postgresAdmin(
        async (c) => (await c.query('select datname from pg_database where datname like $1', [`${storeName(slug)}%`])).rows,
      ),
    ).toEqual([{ datname: storeName(slug) }]);
  });

  it('makes exactly one store of 10 concurrent POSTs for the same slug by two owners: one owner gets 202s, the other a clear 409', async () => {
    const slug = uniqueSlug();
    trackStore(slug);
    const owners = Array.from({ length: 10 }, (_, i) => (i % 2 ? 'alice@example.com' : 'bob@example.com'));
    const responses = await Promise.all(owners.map((owner) => client.post(pgBody(slug, { owner }))));
    const bodies = (await Promise.all(responses.map((r) => r.json()))) as Array<{ jobId?: string; storeId?: string; error?: string }>;
    const winners = new Set(owners.filter((_, i) => responses[i]?.status === 202));
    expect(winners.size).toBe(1);
    const winner = [...winners][0] as string;
    for (const [i, response] of responses.entries()) {
      if (owners[i] === winner) {
        expect(response.status, `${owners[i]} #${i}`).toBe(202);
      } else {
        expect(response.status, `${owners[i]} #${i}`).toBe(409);
        expect(bodies[i]?.error).toMatch(new RegExp(`${slug}.*owner`));
      }
    }
    const accepted = bodies.filter((b) => b.jobId);
    expect(accepted.length).toBe(5);
    expect(new Set(accepted.map((a) => a.storeId)).size).toBe(1);
    for (const jobId of new Set(accepted.map((a) => a.jobId as string)))
      expect((await pollJob(client, jobId, 180_000, api.logs)).at(-1)?.status).toBe('succeeded');
    expect(await sql('select s.id, u.email from stores s join users u on u.id = s.owner_id where s.slug = $1', [slug])).toEqual([
      { id: accepted[0]?.storeId, email: winner },
    ]);
    expect(
      await postgresAdmin(
        async (c) => (await c.query('select count(*)::int as n from pg_database where datname = $1', [storeName(slug)])).rows,
      ),
    ).toEqual([{ n: 1 }]);
  });

  it('logs each request to api_usage_logs (endpoint, method, status, response time, ip, user agent) and never a body or token', async () => {
    const agent = `platform-app/${randomBytes(4).toString('hex')}`;
    const slug = uniqueSlug();
    const marker = `marker-${randomBytes(6).toString('hex')}`;
    const headers = { 'user-agent': agent };
    const sent: Array<[string, string, number]> = [];
    const record = async (method: string, endpoint: string, response: Promise<Response>) => {
      const r = await response;
      await r.arrayBuffer();
      sent.push([method, endpoint, r.status]);
    };
    await record('GET', '/v1/stores', client.call('/v1/stores', { headers }));
    await record('GET', '/v1/stores', client.call('/v1/stores', { headers, token: `${marker}-token` }));
    await record('POST', '/v1/provision', client.post(`{"store": {"slug": "${marker}"`, { headers }));
    await record(
      'POST',
      '/v1/provision',
      client.post({ ...pgBody(slug), store: { ...pgBody(slug).store, displayName: marker, slug: 'Nope!' } }, { headers }),
    );
    await record('POST', '/v1/provision', client.post({ ...pgBody(slug), padding: `${marker}${'x'.repeat(1024 * 1024)}` }, { headers }));
    const unknownJob = randomUUID();
    await record(
      'GET',
      `/v1/provision/${unknownJob}/status`,
      client.call(`/v1/provision/${unknownJob}/status?token=${TOKEN}&note=${marker}`, { headers }),
    );
    await record('GET', '/v1/openapi.json', client.call('/v1/openapi.json', { headers, token: null }));
    expect(sent.map((s) => s[2])).toEqual([200, 401, 400, 400, 413, 404, 200]);

    let rows: Array<Record<string, unknown>> = [];
    const deadline = Date.now() + 30_000;
    while (rows.length < sent.length && Date.now() < deadline) {
      rows = await sql('select * from api_usage_logs where user_agent = $1', [agent]);
      if (rows.length < sent.length) await sleep(200);
    }
    const key = (r: [unknown, unknown, unknown]) => r.join(' ');
    expect(rows.map((r) => key([r.method, r.endpoint, r.status_code])).sort()).toEqual(sent.map(key).sort());
    for (const row of rows) {
      expect(String(row.ip_address)).toMatch(/^(::ffff:)?127\.0\.0\.1$/);
      expect(row.user_agent).toBe(agent);
      expect(Number(row.response_time_ms)).toBeGreaterThanOrEqual(0);
      expect(Number.isInteger(Number(row.response_time_ms))).toBe(true);
    }
    // Nothing sent in a body, a header or a query string is in any column of any row.
    const everything = (await sql('select * from api_usage_logs')).map((row) => JSON.stringify(row));
    for (const secret of [TOKEN, SECOND_TOKEN, sha256(TOKEN), ADMIN_PASSWORD, marker, 'displayName', 'pg-admin', 'Bearer'])
      expect(
        everything.filter((row) => row.includes(secret)),
        `rows of api_usage_logs with ${secret.slice(0, 12)}`,
      ).toEqual([]);
  });

  /**
   * A server of its own that runs one job at a time: its first job held inside the PostgreSQL engine by
   * the admin lock (until `lock.release()`), its second waiting in the queue. The caller closes `lock`.
   */
  async function oneJobHeldOneQueued() {
    const own = await startApi({ cwd: home, args: [...apiArgs(), '--max-concurrent-jobs', '1'], env: apiEnv });
    extraApis.push(own);
    const ownClient = clientOf(() => own, TOKEN);
    const [blocked, queued] = [uniqueSlug(), uniqueSlug()];
    trackStore(blocked);
    trackStore(queued);
    const lock = await holdPostgresAdminLock(storeName(blocked));
    try {
      const running = (await (await ownClient.post(pgBody(blocked))).json()) as { jobId: string; storeId: string };
      const waiting = (await (await ownClient.post(pgBody(queued))).json()) as { jobId: string; storeId: string };
      const deadline = Date.now() + 90_000;
      while (!(await lock.waiters())) {
        if (Date.now() > deadline) throw new Error(`the job never reached the lock:\n${own.logs().slice(-4000)}`);
        await sleep(100);
      }
      return { own, ownClient, blocked, queued, lock, running, waiting };
    } catch (error) {
      await lock.close();
      throw error;
    }
  }

  it('never leaves a job running after a SIGKILL mid-job: the restarted server marks the running and the queued job failed with a reason, and a new POST provisions', async () => {
    const { own, blocked, queued, lock, running, waiting } = await oneJobHeldOneQueued();
    let restarted: ApiProcess | undefined;
    try {
      expect(
        await sql('select id, status from provisioning_jobs where id = any($1) order by status', [[running.jobId, waiting.jobId]]),
      ).toEqual([
        { id: waiting.jobId, status: 'queued' },
        { id: running.jobId, status: 'running' },
      ]);
      expect(await own.stop('SIGKILL')).toBeNull();

      restarted = await startApi({ cwd: home, args: apiArgs(), env: apiEnv });
      extraApis.push(restarted);
      const restartedClient = clientOf(() => restarted as ApiProcess, TOKEN);
      for (const job of [running, waiting]) {
        const seen = await pollJob(restartedClient, job.jobId, 60_000, (restarted as ApiProcess).logs);
        const final = seen.at(-1) as JobStatus;
        expect(final.status, job.jobId).toBe('failed');
        expect(final.error, job.jobId).toMatch(/interrupted/);
        expect(final.finishedAt, job.jobId).not.toBeNull();
        // The store does not claim a database in provisioning by a job that is gone.
        const store = (await (await restartedClient.call(`/v1/stores/${job.storeId}`)).json()) as { databaseStatus: string };
        expect(store.databaseStatus, job.jobId).toBe('failed');
      }
      expect(await sql("select count(*)::int as n from provisioning_jobs where status in ('queued', 'running')")).toEqual([{ n: 0 }]);

      // Released, the client asks again and both stores are provisioned by new jobs.
      await lock.release();
      for (const slug of [blocked, queued]) {
        const retried = await restartedClient.post(pgBody(slug));
        expect(retried.status).toBe(202);
        const { jobId } = (await retried.json()) as { jobId: string };
        expect([running.jobId, waiting.jobId]).not.toContain(jobId);
        expect((await pollJob(restartedClient, jobId, 180_000, (restarted as ApiProcess).logs)).at(-1)).toMatchObject({
          status: 'succeeded',
          tablesCreated: STORE_TABLES.length,
        });
      }
    } finally {
      await lock.close();
      await restarted?.stop();
    }
  }, 420_000);

  it("leaves a live server's queued job alone when a second server starts on the same master (a rolling restart)", async () => {
    const { own, ownClient, lock, running, waiting } = await oneJobHeldOneQueued();
    let second: ApiProcess | undefined;
    try {
      // Another server comes up next to the first, as in a rolling restart, and starts sweeping abandoned jobs.
      second = await startApi({ cwd: home, args: apiArgs(), env: apiEnv });
      extraApis.push(second);
      expect(
        await sql('select id, status from provisioning_jobs where id = any($1) order by status', [[running.jobId, waiting.jobId]]),
      ).toEqual([
        { id: waiting.jobId, status: 'queued' },
        { id: running.jobId, status: 'running' },
      ]);
      await lock.release();
      // Both jobs end as the first server runs them; a client never saw either fail on the way.
      for (const jobId of [running.jobId, waiting.jobId]) {
        const seen = await pollJob(ownClient, jobId, 180_000, own.logs);
        expectForwardOnly(seen);
        expect(seen.map((s) => s.status)).not.toContain('failed');
        expect(seen.at(-1)?.status).toBe('succeeded');
      }
    } finally {
      await lock.close();
      await second?.stop();
      await own.stop();
    }
  }, 420_000);

  it('wrote no token and no admin password to its own log', () => {
    for (const secret of [TOKEN, SECOND_TOKEN, ADMIN_PASSWORD]) expect(api.logs()).not.toContain(secret);
  });
});

describe('storeop api on the embedded default, in a fresh folder, token hashes from the environment', () => {
  let cwd: string;
  let api: ApiProcess | undefined;
  const client = clientOf(() => api as ApiProcess, TOKEN);

  beforeAll(() => {
    cwd = mkdtempSync(join(tmpdir(), 'storeop-http-api-embedded-'));
  });

  afterAll(async () => {
    await api?.stop('SIGKILL').catch(() => {});
    rmSync(cwd, { recursive: true, force: true });
  });

  it("provisions the README's PGlite store, keeps everything in ./.storeop, and logs every request before a SIGTERM shutdown", async () => {
    // Two hashes, comma-separated, with blanks, as a shell export might have them.
    api = await startApi({ cwd, args: [], env: { STOREOP_API_TOKEN_HASHES: ` ${sha256(SECOND_TOKEN)} , ${sha256(TOKEN)} ` } });
    const agent = `embedded-test/${randomBytes(4).toString('hex')}`;
    // The body of the README's curl session, read from the README so that the session cannot rot.
    const readme = readFileSync(join(repoRoot, 'README.md'), 'utf8');
    const readmeBody = /curl -s -X POST localhost:8090\/v1\/provision [^\n]*\n\s*-d '([^']+)'/.exec(readme)?.[1];
    expect(readmeBody, 'the README shows a POST /v1/provision with -d').toBeDefined();
    const body = JSON.parse(readmeBody as string) as { store: { slug: string }; database: { engine: string } };
    expect(body.database.engine).toBe('pglite');
    const { slug } = body.store;
    const response = await client.post(body, { headers: { 'user-agent': agent } });
    expect(response.status).toBe(202);
    const { jobId, storeId } = (await response.json()) as { jobId: string; storeId: string };
    const seen = await pollJob(client, jobId, 180_000, api.logs);
    expectForwardOnly(seen);
    expect(seen.at(-1)).toMatchObject({ status: 'succeeded', progress: 100, tablesCreated: 13, totalTables: 13 });
    expect((await client.call(`/v1/stores/${storeId}`, { headers: { 'user-agent': agent } })).status).toBe(200);
    expect((await client.call('/v1/stores', { headers: { 'user-agent': agent }, token: ENV_TOKEN })).status).toBe(401);
    const last = await client.call('/v1/stores', { headers: { 'user-agent': agent }, token: SECOND_TOKEN });
    expect(last.status).toBe(200);
    expect(((await last.json()) as { stores: Array<{ slug: string }> }).stores.map((s) => s.slug)).toEqual([slug]);

    // A graceful stop right after the last answer: exit 0, and the PGlite master is released.
    expect(await api.stop('SIGTERM'), api.logs()).toBe(0);
    expect(statSync(join(cwd, '.storeop', 'encryption.key')).mode & 0o077).toBe(0);
    await withStoreDb(openPgliteFolder(join(cwd, '.storeop', 'stores', slug)), async (db) => {
      const tables = await db.query("select table_name from information_schema.tables where table_schema = 'public'");
      expect(tables.map((t) => t.table_name)).toEqual(expect.arrayContaining(STORE_TABLES));
    });
    await withStoreDb(openPgliteFolder(join(cwd, '.storeop', 'master')), async (db) => {
      const logged = await db.query('select method, endpoint, status_code from api_usage_logs where user_agent = $1', [agent]);
      expect(logged.map((r) => `${r.method} ${r.endpoint} ${r.status_code}`).sort()).toEqual(
        ['POST /v1/provision 202', `GET /v1/stores/${storeId} 200`, 'GET /v1/stores 401', 'GET /v1/stores 200'].sort(),
      );
      const everything = JSON.stringify(await db.query('select * from api_usage_logs'));
      expect(everything).not.toContain(TOKEN);
      expect(everything).not.toContain(SECOND_TOKEN);
      expect(await db.query("select status from provisioning_jobs where status in ('queued', 'running')")).toEqual([]);
    });
  }, 300_000);
});
