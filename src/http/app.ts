// The provisioning HTTP API (Hono): start a job, poll its progress, read stores. Bearer-token auth, a rate
// limit per token, zod-validated bodies, a body limit, and every request logged to api_usage_logs with the
// token's name and without its body.
import type { HttpBindings } from '@hono/node-server';
import { type Context, Hono } from 'hono';
import { fieldIssues, protoKeyPaths } from '../api/common.js';
import { isStoreopError, StoreopError } from '../errors.js';
import type { Logger } from '../log.js';
import { apiActor, recordAudit } from '../master/audit.js';
import { getJob } from '../master/jobs.js';
import { findStore, listStoresPage, type StoreRow } from '../master/stores.js';
import type { MasterContext } from '../stores/provision-store.js';
import type { TokenVerifier } from './auth.js';
import { createConsole } from './console/console.js';
import { publicJobError } from './job-errors.js';
import { openApiDocument } from './openapi.js';
import { type ApiProbes, mountProbes } from './probes.js';
import { allowedMethods, problem } from './problem.js';
import type { Provisioner } from './provisioner.js';
import { RateLimiter, TooManyRequests } from './rate-limit.js';
import { readBodyWithin } from './read-body.js';
import { deleteRequest, provisionRequest, storesQuery } from './schemas.js';
import { addUsageRoutes } from './usage-routes.js';

export interface ApiOptions {
  master: MasterContext;
  tokens: TokenVerifier;
  provisioner: Provisioner;
  log: Logger;
  bodyLimitBytes?: number;
  /** Requests a minute per API token (and per address for requests without a valid token). */
  rateLimitPerMinute?: number;
  /** /healthz, /readyz and /metrics (the standalone API; the operator serves them on ports of its own). */
  probes?: ApiProbes;
}

export const DEFAULT_RATE_LIMIT_PER_MINUTE = 600;

type Env = { Bindings: HttpBindings; Variables: { tokenName?: string; storeId?: string } };
function storeView(s: StoreRow) {
  return {
    id: s.id,
    slug: s.slug,
    name: s.name,
    plan: s.subscription_plan,
    databaseType: s.database_type,
    databaseHost: s.database_host,
    databaseName: s.database_name,
    databaseStatus: s.database_status,
    isActive: s.is_active,
    createdAt: new Date(s.created_at).toISOString(),
    updatedAt: new Date(s.updated_at).toISOString(),
  };
}

const iso = (d: Date | null) => (d ? new Date(d).toISOString() : null);

/** 429 with Retry-After (RFC 6585): the client may try again after that many seconds. */
function tooMany(c: Context, error: string, retryAfterSeconds: number) {
  c.header('Retry-After', String(retryAfterSeconds));
  return problem(c, 429, error);
}

export function createApi(options: ApiOptions): Hono<Env> {
  const app = new Hono<Env>();
  const db = options.master.master.db;
  const limiter = new RateLimiter(options.rateLimitPerMinute ?? DEFAULT_RATE_LIMIT_PER_MINUTE);

  // Log every request (endpoint, method, status, time, ip, user agent), never its body.
  app.use('*', async (c, next) => {
    const started = performance.now();
    await next();
    options.probes?.requests.inc({ method: c.req.method, code: String(c.res.status) });
    const ip = c.env?.incoming?.socket?.remoteAddress ?? null;
    void db
      .insertInto('api_usage_logs')
      .values({
        endpoint: c.req.path.slice(0, 512),
        method: c.req.method,
        status_code: c.res.status,
        response_time_ms: Math.round(performance.now() - started),
        ip_address: ip,
        user_agent: c.req.header('user-agent')?.slice(0, 512) ?? null,
        error_message: c.res.status >= 400 ? `HTTP ${c.res.status}` : null,
        token_name: c.get('tokenName') ?? null,
        store_id: c.get('storeId') ?? null,
      })
      .execute()
      .catch((error: unknown) => options.log.warn({ err: (error as Error).message }, 'could not log API usage'));
  });

  if (options.probes) mountProbes(app, options.probes);
  app.get('/v1/openapi.json', (c) => c.json(openApiDocument()));

  app.use('/v1/*', async (c, next) => {
    const header = c.req.header('authorization') ?? '';
    const token = /^Bearer\s+(.+)$/i.exec(header)?.[1];
    const tokenName = options.tokens.identify(token);
    if (tokenName) c.set('tokenName', tokenName); // for the usage row, whatever the answer
    // Without a valid token the address is limited instead, which also slows down guessing tokens.
    const wait = limiter.take(tokenName ? `token:${tokenName}` : `address:${c.env?.incoming?.socket?.remoteAddress ?? 'unknown'}`);
    if (wait !== undefined) return tooMany(c, `rate limit exceeded (${limiter.perMinute} requests a minute)`, wait);
    if (!tokenName) {
      c.header('WWW-Authenticate', 'Bearer realm="storeop"'); // a 401 names the scheme it wants (RFC 9110, RFC 6750)
      return problem(c, 401, 'a valid bearer token is required');
    }
    await next();
  });

  const limit = options.bodyLimitBytes ?? 1024 * 1024;
  app.post('/v1/provision', async (c) => {
    const declared = c.req.header('content-length');
    const body = await readBodyWithin(c.req.raw.body, declared === undefined ? undefined : Number(declared), limit);
    if (body.kind === 'too-large') {
      // Only a body that was not read to its end leaves bytes that would be taken for the next request.
      if (!body.drained) c.header('Connection', 'close');
      return problem(c, 413, `request body too large (limit ${limit} bytes)`);
    }
    let raw: unknown;
    try {
      raw = JSON.parse(body.text);
    } catch {
      return problem(c, 400, 'the body must be valid JSON');
    }
    const proto = protoKeyPaths(raw).map((path) => ({ path, message: '"__proto__" is not allowed as a key' }));
    if (proto.length) return problem(c, 400, 'invalid request body', proto);
    const parsed = provisionRequest.safeParse(raw);
    if (!parsed.success) return problem(c, 400, 'invalid request body', fieldIssues(parsed.error));
    try {
      const accepted = await options.provisioner.submit(parsed.data);
      c.set('storeId', accepted.storeId);
      await recordAudit(db, {
        storeId: accepted.storeId,
        actor: apiActor(c.get('tokenName') as string),
        action: 'store.provision.requested',
        targetType: 'store',
        targetId: parsed.data.store.slug,
        details: { jobId: accepted.jobId },
      }).catch((error: unknown) => options.log.warn({ err: (error as Error).message, jobId: accepted.jobId }, 'could not audit a request'));
      c.header('Location', `/v1/provision/${encodeURIComponent(accepted.jobId)}/status`);
      return c.json({ jobId: accepted.jobId, storeId: accepted.storeId, status: 'provisioning' as const }, 202);
    } catch (error) {
      if (error instanceof TooManyRequests) return tooMany(c, error.message, error.retryAfterSeconds);
      if (isStoreopError(error, 'Conflict')) return problem(c, 409, error.message);
      if (isStoreopError(error, 'InvalidSpec')) return problem(c, 400, error.message.replace(/^spec\./, 'database.'));
      throw error;
    }
  });

  app.get('/v1/provision/:jobId/status', async (c) => {
    const job = await getJob(db, c.req.param('jobId'));
    if (!job) return problem(c, 404, 'no such job');
    return c.json({
      status: job.status,
      step: job.step,
      progress: job.progress,
      message: job.message,
      tablesCreated: job.tables_created,
      totalTables: job.total_tables,
      startedAt: iso(job.started_at),
      finishedAt: iso(job.finished_at),
      error: publicJobError(job),
    });
  });

  app.get('/v1/stores', async (c) => {
    const query = storesQuery.safeParse(c.req.query());
    if (!query.success) return problem(c, 400, 'invalid query', fieldIssues(query.error));
    const { limit, cursor } = query.data;
    // The cursor is the last slug of the previous page, base64url: opaque to clients, bound by a parameter.
    const after = cursor === undefined ? undefined : Buffer.from(cursor, 'base64url').toString('utf8');
    const rows = await listStoresPage(db, { after, limit: limit + 1 });
    const page = rows.slice(0, limit);
    const last = page.at(-1);
    const nextCursor = rows.length > limit && last ? Buffer.from(last.slug, 'utf8').toString('base64url') : undefined;
    return c.json({ stores: page.map(storeView), ...(nextCursor ? { nextCursor } : {}) });
  });

  app.get('/v1/stores/:id', async (c) => {
    const store = await findStore(db, c.req.param('id'));
    if (!store) return problem(c, 404, 'no such store');
    c.set('storeId', store.id);
    return c.json(storeView(store));
  });

  addUsageRoutes(app, db, problem as never);

  app.delete('/v1/stores/:id', async (c) => {
    const target = await findStore(db, c.req.param('id'));
    if (target) c.set('storeId', target.id);
    const remove = options.provisioner.remove?.bind(options.provisioner);
    if (!remove) return problem(c, 501, 'in cluster mode, delete the Store object: the controller honours its deletionPolicy');
    const body = await readBodyWithin(c.req.raw.body, undefined, limit);
    if (body.kind === 'too-large') {
      if (!body.drained) c.header('Connection', 'close');
      return problem(c, 413, `request body too large (limit ${limit} bytes)`);
    }
    let raw: unknown = {};
    try {
      if (body.text.trim()) raw = JSON.parse(body.text);
    } catch {
      return problem(c, 400, 'the body must be valid JSON');
    }
    const parsed = deleteRequest.safeParse(raw);
    if (!parsed.success) return problem(c, 400, 'invalid request body', fieldIssues(parsed.error));
    try {
      const done = await remove(c.req.param('id'), parsed.data);
      if (done.outcome === 'absent') return problem(c, 404, 'no such store');
      return c.json({ slug: done.slug, deletionPolicy: done.policy, database: done.outcome });
    } catch (error) {
      if (isStoreopError(error, 'Conflict')) return problem(c, 409, error.message);
      if (isStoreopError(error, 'InvalidSpec')) return problem(c, 400, error.message.replace(/^spec\./, 'database.'));
      throw error;
    }
  });

  app.route('/', createConsole(options)); // the web console: / and its pages; the JSON API stays under /v1

  app.notFound((c) => {
    const allow = allowedMethods(app.routes, c.req.path);
    if (!allow.length) return problem(c, 404, 'no such endpoint');
    c.header('Allow', allow.join(', '));
    return problem(c, 405, `${c.req.method} is not allowed on ${c.req.path}; allowed: ${allow.join(', ')}`);
  });
  app.onError((error, c) => {
    options.log.error(
      { err: error instanceof StoreopError ? error.message : (error as Error).message, path: c.req.path },
      'API request failed',
    );
    return problem(c, 500, 'internal error');
  });
  return app;
}
