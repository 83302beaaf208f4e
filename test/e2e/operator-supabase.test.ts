// engine: supabase end to end: the operator creates a Supabase project through the Management API
// (a loopback stand-in that follows Supabase's published contract, see test/support/supabase-standin.ts),
// waits for it without blocking a worker, provisions the tables in the project's (real, local) database,
// creates the media bucket, and writes the Secret and the master DB rows.
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { POSTGRES_URL, postgresRows, type TempDatabase, withDatabase } from '../support/databases.js';
import { kubectl, type OperatorEnvironment, type OperatorProcess, operatorEnvironment } from '../support/operator.js';
import { SupabaseStandin } from '../support/supabase-standin.js';

const TOKEN = 'sbp_0123456789abcdef0123456789abcdef01234567';
const ORG = 'acme-org';
const pgUrl = new URL(POSTGRES_URL);

describe('Supabase engine', () => {
  let env: OperatorEnvironment;
  let namespace: string;
  let master: TempDatabase;
  let standin: SupabaseStandin;
  let operator: OperatorProcess;

  const start = () => env.start({ args: ['--supabase-api-url', standin.url, '--supabase-poll-interval', '500ms'] });

  function store(name: string, extra: Record<string, unknown> = {}, supabase: Record<string, unknown> = {}): string {
    return JSON.stringify({
      apiVersion: 'storeop.dev/v1alpha1',
      kind: 'Store',
      metadata: { name },
      spec: {
        displayName: `Supabase ${name}`,
        plan: 'starter',
        database: {
          engine: 'supabase',
          mode: 'create',
          supabase: {
            accessTokenSecretRef: { name: 'supabase-token' },
            organizationSlug: ORG,
            regionGroup: 'emea',
            database: { host: pgUrl.hostname, port: Number(pgUrl.port || 5432), user: 'postgres', name: 'sb_{ref}', tls: false },
            projectUrl: `${standin.url}/p/{ref}`,
            ...supabase,
          },
          writeConnectionSecretToRef: { name: `${name}-conn` },
          ...extra,
        },
      },
    });
  }

  async function waitReady(name: string): Promise<void> {
    await kubectl(['-n', namespace, 'wait', '--for=condition=Ready', '--timeout=90s', `store/${name}`]).catch((error: Error) => {
      throw new Error(`${error.message}\n${operator.logs().slice(-3000)}`);
    });
  }

  async function storeDatabase(name: string): Promise<{
    status: Record<string, unknown> & { conditions?: Array<{ type: string; status: string; reason: string; message: string }> };
  }> {
    return JSON.parse((await kubectl(['-n', namespace, 'get', 'storedatabase', name, '-o', 'json'])).stdout);
  }

  beforeAll(async () => {
    env = await operatorEnvironment('sb');
    ({ namespace, master } = env);
    standin = new SupabaseStandin({ token: TOKEN, organizationSlug: ORG });
    await standin.start();
    await kubectl(
      ['-n', namespace, 'apply', '-f', '-'],
      JSON.stringify({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'supabase-token' }, stringData: { 'access-token': TOKEN } }),
    );
    operator = await start();
  });

  afterAll(async () => {
    try {
      await env?.tearDown();
    } finally {
      await standin?.stop();
    }
  });

  it('creates the project once, provisions its database, creates the media bucket and records it all', async () => {
    await kubectl(['-n', namespace, 'apply', '-f', '-'], store('sb-shop'));
    await waitReady('sb-shop');
    const projects = standin.byName('storeop-sb-shop');
    expect(projects).toHaveLength(1);
    const project = projects[0] as NonNullable<(typeof projects)[0]>;
    expect(project.region).toBe('us-east-1'); // smartGroup: the stand-in picks a region
    expect(project.dbPass).toMatch(/^[A-Za-z0-9]{32}$/);

    const tables = await postgresRows<{ table_name: string }>(
      withDatabase(POSTGRES_URL, project.database),
      "select table_name from information_schema.tables where table_schema = 'public'",
    );
    expect(tables.map((t) => t.table_name)).toEqual(
      expect.arrayContaining(['products', 'orders', 'order_items', 'media_library', 'seo_settings']),
    );
    expect(project.buckets.has('media')).toBe(true);

    const sdb = await storeDatabase('sb-shop');
    expect(sdb.status.supabaseProjectRef).toBe(project.ref);
    const secret = JSON.parse((await kubectl(['-n', namespace, 'get', 'secret', 'sb-shop-conn', '-o', 'json'])).stdout).data as Record<
      string,
      string
    >;
    const decoded = Object.fromEntries(Object.entries(secret).map(([k, v]) => [k, Buffer.from(v, 'base64').toString()]));
    expect(decoded.supabaseUrl).toBe(`${standin.url}/p/${project.ref}`);
    expect(decoded.anonKey).toBe(project.anonKey);
    expect(decoded.serviceRoleKey).toBeUndefined();
    expect(decoded.password).toBe(project.dbPass);
    expect(decoded.url).toContain(`/sb_${project.ref}`);

    const [row] = await postgresRows<{
      database_type: string;
      database_name: string;
      storage_type: string;
      storage_status: string;
      integration_type: string;
      config: string;
    }>(
      master.url,
      `select s.database_type, s.database_name, s.storage_type, s.storage_status, c.integration_type, c.config_data::text as config
       from stores s join integration_configs c on c.store_id = s.id and c.is_active where s.slug = 'sb-shop'`,
    );
    expect(row).toMatchObject({
      database_type: 'supabase',
      database_name: `sb_${project.ref}`,
      storage_type: 'supabase-storage',
      storage_status: 'active',
      integration_type: 'supabase-database',
    });
    expect(row?.config).not.toContain(project.dbPass);
    expect(row?.config).not.toContain(project.serviceRoleKey);
    expect(row?.config).not.toContain(project.anonKey);
    expect(operator.logs()).not.toContain(TOKEN);
    expect(operator.logs()).not.toContain(project.dbPass);
  });

  it('never creates a second project when the operator dies between "created" and "recorded"', async () => {
    standin.createDelayMs = 4000;
    const before = standin.createCalls;
    await kubectl(['-n', namespace, 'apply', '-f', '-'], store('sb-crash'));
    for (let i = 0; i < 100 && standin.createCalls === before; i++) await sleep(100);
    expect(standin.createCalls).toBe(before + 1);
    await operator.stop('SIGKILL');
    standin.createDelayMs = 0;
    operator = await start();
    await waitReady('sb-crash');
    expect(standin.byName('storeop-sb-crash')).toHaveLength(1);
    expect(standin.createCalls).toBe(before + 1);
  });

  it('retries after 429 responses, honouring Retry-After', async () => {
    standin.rateLimitNext = 2;
    const limitedBefore = standin.rateLimited;
    await kubectl(['-n', namespace, 'apply', '-f', '-'], store('sb-limited'));
    await waitReady('sb-limited');
    expect(standin.rateLimited - limitedBefore).toBe(2);
    expect(standin.byName('storeop-sb-limited')).toHaveLength(1);
  });

  it('reports a project that fails to initialise as Ready=False with a clear reason', async () => {
    standin.options.finalStatus = 'INIT_FAILED';
    try {
      await kubectl(['-n', namespace, 'apply', '-f', '-'], store('sb-failed'));
      let ready: { status: string; reason: string; message: string } | undefined;
      for (let i = 0; i < 120; i++) {
        ready = (await storeDatabase('sb-failed').catch(() => undefined))?.status?.conditions?.find((c) => c.type === 'Ready');
        if (ready?.reason === 'ProvisioningFailed') break;
        await sleep(250);
      }
      expect(ready).toMatchObject({ status: 'False', reason: 'ProvisioningFailed' });
      expect(ready?.message).toContain('INIT_FAILED');
    } finally {
      standin.options.finalStatus = 'ACTIVE_HEALTHY';
    }
  });

  it('answers a bad token with AuthenticationFailed and never echoes it', async () => {
    const badToken = 'sbp_bad_token_that_must_not_leak_42';
    await kubectl(
      ['-n', namespace, 'apply', '-f', '-'],
      JSON.stringify({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'bad-token' }, stringData: { 'access-token': badToken } }),
    );
    await kubectl(['-n', namespace, 'apply', '-f', '-'], store('sb-badtoken', {}, { accessTokenSecretRef: { name: 'bad-token' } }));
    let ready: { status: string; reason: string; message: string } | undefined;
    for (let i = 0; i < 120; i++) {
      ready = (await storeDatabase('sb-badtoken').catch(() => undefined))?.status?.conditions?.find((c) => c.type === 'Ready');
      if (ready?.reason === 'AuthenticationFailed') break;
      await sleep(250);
    }
    expect(ready).toMatchObject({ status: 'False', reason: 'AuthenticationFailed' });
    const { stdout: events } = await kubectl(['-n', namespace, 'get', 'events', '-o', 'json']);
    const everything = `${JSON.stringify(await storeDatabase('sb-badtoken'))}${events}${operator.logs()}`;
    expect(everything).not.toContain(badToken);
    await kubectl(['-n', namespace, 'delete', 'store', 'sb-badtoken', '--wait=true', '--timeout=60s']);
  });

  it('deletes the project with deletionPolicy Delete and keeps it with Retain', async () => {
    await kubectl(
      ['-n', namespace, 'apply', '-f', '-'],
      `${store('sb-delete', { deletionPolicy: 'Delete' })}\n${store('sb-retain', { deletionPolicy: 'Retain' })}`,
    );
    await waitReady('sb-delete');
    await waitReady('sb-retain');
    await kubectl(['-n', namespace, 'delete', 'store', 'sb-delete', 'sb-retain', '--wait=true', '--timeout=60s']);
    expect(standin.byName('storeop-sb-delete')[0]?.status).toBe('REMOVED');
    expect(standin.byName('storeop-sb-retain')[0]?.status).toBe('ACTIVE_HEALTHY');
    const [retained] = await postgresRows<{ database_status: string }>(
      master.url,
      "select database_status from stores where slug = 'sb-retain'",
    );
    expect(retained?.database_status).toBe('detached');
  });
});
