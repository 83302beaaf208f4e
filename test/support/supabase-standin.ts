// A stand-in for Supabase's Management API and Storage API, served on loopback for tests (Supabase's
// cloud cannot be reached from here). It follows the published contract as of the Management API OpenAPI
// spec of 2026-05 (api.supabase.com/api/v1-json) and storage-api's bucket routes: paths, request and
// response fields, project status values, `{ message }` error bodies, 401 for a bad token, and 429 with
// Retry-After and X-RateLimit-Reset. Each "project database" is a real database on the local PostgreSQL.
import { randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { serve } from '@hono/node-server';
import { Hono } from 'hono';
import pg from 'pg';
import { POSTGRES_URL } from './databases.js';

export interface StandinProject {
  id: string;
  ref: string;
  name: string;
  organization_id: string;
  organization_slug: string;
  region: string;
  created_at: string;
  status: string;
  dbPass: string;
  database: string;
  anonKey: string;
  serviceRoleKey: string;
  buckets: Map<string, { id: string; name: string; public: boolean }>;
  /** Status reads left before a COMING_UP project turns ACTIVE_HEALTHY (or its final status). */
  pollsUntilReady: number;
  finalStatus: string;
}

export interface StandinOptions {
  token: string;
  organizationSlug: string;
  /** How many GET /v1/projects/{ref} see COMING_UP before the project is ACTIVE_HEALTHY. */
  comingUpPolls?: number;
  /** The status a new project ends in (INIT_FAILED to test failures). */
  finalStatus?: string;
}

export class SupabaseStandin {
  readonly projects = new Map<string, StandinProject>();
  /** Every request, method and path (no headers, no bodies). */
  readonly requests: Array<{ method: string; path: string; status: number }> = [];
  createCalls = 0;
  /** Answer this many further requests with 429 (rate limit). */
  rateLimitNext = 0;
  rateLimited = 0;
  /** Hold the answer to a project creation this long after creating it (to crash a client in between). */
  createDelayMs = 0;
  options: Required<StandinOptions>;
  url = '';
  #server: ReturnType<typeof serve> | undefined;

  constructor(options: StandinOptions) {
    this.options = { comingUpPolls: 2, finalStatus: 'ACTIVE_HEALTHY', ...options };
  }

  /** The database name a project's "postgres" database maps to on the local server. */
  static databaseOf(ref: string): string {
    return `sb_${ref}`;
  }

  async start(): Promise<void> {
    const app = new Hono();
    app.use('*', async (c, next) => {
      await next();
      this.requests.push({ method: c.req.method, path: c.req.path, status: c.res.status });
    });
    app.use('/v1/*', async (c, next) => {
      if (c.req.header('authorization') !== `Bearer ${this.options.token}`) return c.json({ message: 'Unauthorized' }, 401);
      if (this.rateLimitNext > 0) {
        this.rateLimitNext--;
        this.rateLimited++;
        c.header('Retry-After', '1');
        c.header('X-RateLimit-Limit', '120');
        c.header('X-RateLimit-Remaining', '0');
        c.header('X-RateLimit-Reset', '1');
        return c.json({ message: 'Too many requests' }, 429);
      }
      await next();
    });
    const view = (p: StandinProject) => ({
      id: p.id,
      ref: p.ref,
      organization_id: p.organization_id,
      organization_slug: p.organization_slug,
      name: p.name,
      region: p.region,
      created_at: p.created_at,
      status: p.status,
      database: { host: `db.${p.ref}.supabase.co`, version: '15.8.1', postgres_engine: '15', release_channel: 'ga' },
    });

    app.get('/v1/projects', (c) => c.json([...this.projects.values()].filter((p) => p.status !== 'REMOVED').map(view)));

    app.post('/v1/projects', async (c) => {
      this.createCalls++;
      const body = (await c.req.json().catch(() => null)) as Record<string, unknown> | null;
      const missing = ['name', 'db_pass', 'organization_slug', 'region_selection'].filter((k) => !body || body[k] === undefined);
      if (missing.length) return c.json({ message: `Missing required fields: ${missing.join(', ')}` }, 400);
      const b = body as { name: string; db_pass: string; organization_slug: string; region_selection: { type: string; code: string } };
      if (b.organization_slug !== this.options.organizationSlug) return c.json({ message: 'Organization not found' }, 404);
      if (!['specific', 'smartGroup'].includes(b.region_selection?.type)) return c.json({ message: 'Invalid region_selection' }, 400);
      const ref = Array.from(randomBytes(20), (x) => String.fromCharCode(97 + (x % 26))).join('');
      const database = SupabaseStandin.databaseOf(ref);
      const admin = new pg.Client({ connectionString: POSTGRES_URL });
      await admin.connect();
      await admin.query(`CREATE DATABASE "${database}"`);
      await admin.end();
      const project: StandinProject = {
        id: ref,
        ref,
        name: b.name,
        organization_id: `org-${this.options.organizationSlug}`,
        organization_slug: b.organization_slug,
        region: b.region_selection.type === 'specific' ? b.region_selection.code : 'us-east-1',
        created_at: new Date().toISOString(),
        status: 'COMING_UP',
        dbPass: b.db_pass,
        database,
        anonKey: `anon-${randomBytes(16).toString('hex')}`,
        serviceRoleKey: `service-${randomBytes(16).toString('hex')}`,
        buckets: new Map(),
        pollsUntilReady: this.options.comingUpPolls,
        finalStatus: this.options.finalStatus,
      };
      this.projects.set(ref, project);
      if (this.createDelayMs) await sleep(this.createDelayMs);
      return c.json(view(project), 201);
    });

    const project = (ref: string) => {
      const p = this.projects.get(ref);
      return p && p.status !== 'REMOVED' ? p : undefined;
    };

    app.get('/v1/projects/:ref', (c) => {
      const p = project(c.req.param('ref'));
      if (!p) return c.json({ message: 'Project not found' }, 404);
      if (p.status === 'COMING_UP') {
        if (p.pollsUntilReady <= 0) p.status = p.finalStatus;
        else p.pollsUntilReady--;
      }
      return c.json(view(p));
    });

    app.get('/v1/projects/:ref/health', (c) => {
      const p = project(c.req.param('ref'));
      if (!p) return c.json({ message: 'Project not found' }, 404);
      const services = (c.req.query('services') ?? 'db').split(',');
      const healthy = p.status === 'ACTIVE_HEALTHY';
      return c.json(services.map((name) => ({ name, healthy, status: healthy ? 'ACTIVE_HEALTHY' : 'COMING_UP' })));
    });

    app.get('/v1/projects/:ref/api-keys', (c) => {
      const p = project(c.req.param('ref'));
      if (!p) return c.json({ message: 'Project not found' }, 404);
      const reveal = c.req.query('reveal') === 'true';
      const key = (k: string) => (reveal ? k : `${k.slice(0, 8)}••••`);
      return c.json([
        { name: 'anon', api_key: key(p.anonKey), type: 'legacy', id: 'anon', description: null },
        { name: 'service_role', api_key: key(p.serviceRoleKey), type: 'legacy', id: 'service_role', description: null },
      ]);
    });

    app.delete('/v1/projects/:ref', async (c) => {
      const p = project(c.req.param('ref'));
      if (!p) return c.json({ message: 'Project not found' }, 404);
      p.status = 'REMOVED';
      const admin = new pg.Client({ connectionString: POSTGRES_URL });
      await admin.connect();
      await admin.query(`DROP DATABASE IF EXISTS "${p.database}" WITH (FORCE)`);
      await admin.end();
      return c.json({ id: p.id, ref: p.ref, name: p.name });
    });

    // Storage API, under each project's URL: http://127.0.0.1:PORT/p/{ref}
    const storageAuth = (ref: string, header: string | undefined) => {
      const p = project(ref);
      return p && header === `Bearer ${p.serviceRoleKey}` ? p : undefined;
    };
    app.get('/p/:ref/storage/v1/bucket/:id', (c) => {
      const p = storageAuth(c.req.param('ref'), c.req.header('authorization'));
      if (!p) return c.json({ statusCode: '403', error: 'Unauthorized', message: 'invalid signature' }, 403);
      const bucket = p.buckets.get(c.req.param('id'));
      if (!bucket) return c.json({ statusCode: '404', error: 'Bucket not found', message: 'Bucket not found' }, 400);
      return c.json({ ...bucket, owner: '', created_at: p.created_at, updated_at: p.created_at });
    });
    app.post('/p/:ref/storage/v1/bucket', async (c) => {
      const p = storageAuth(c.req.param('ref'), c.req.header('authorization'));
      if (!p) return c.json({ statusCode: '403', error: 'Unauthorized', message: 'invalid signature' }, 403);
      const body = (await c.req.json()) as { id?: string; name?: string; public?: boolean };
      const id = body.id ?? body.name;
      if (!id) return c.json({ statusCode: '400', error: 'Invalid request', message: 'body must have required property name' }, 400);
      if (p.buckets.has(id)) return c.json({ statusCode: '409', error: 'Duplicate', message: 'The resource already exists' }, 409);
      p.buckets.set(id, { id, name: body.name ?? id, public: body.public ?? false });
      return c.json({ name: id });
    });

    await new Promise<void>((resolve) => {
      this.#server = serve({ fetch: app.fetch, hostname: '127.0.0.1', port: 0 }, (info: AddressInfo) => {
        this.url = `http://127.0.0.1:${info.port}`;
        resolve();
      });
    });
  }

  /** A project as if created by an earlier run that crashed before recording it. */
  async precreate(name: string): Promise<StandinProject> {
    const response = await fetch(`${this.url}/v1/projects`, {
      method: 'POST',
      headers: { authorization: `Bearer ${this.options.token}`, 'content-type': 'application/json' },
      body: JSON.stringify({
        name,
        db_pass: 'Precreated-Passw0rd',
        organization_slug: this.options.organizationSlug,
        region_selection: { type: 'smartGroup', code: 'americas' },
      }),
    });
    const { ref } = (await response.json()) as { ref: string };
    return this.projects.get(ref) as StandinProject;
  }

  byName(name: string): StandinProject[] {
    return [...this.projects.values()].filter((p) => p.name === name);
  }

  async stop(): Promise<void> {
    await new Promise<void>((resolve) => (this.#server ? this.#server.close(() => resolve()) : resolve()));
    const admin = new pg.Client({ connectionString: POSTGRES_URL });
    await admin.connect();
    for (const p of this.projects.values()) await admin.query(`DROP DATABASE IF EXISTS "${p.database}" WITH (FORCE)`);
    await admin.end();
  }
}
