// engine: supabase without a cluster: `storeop apply` and the standalone `storeop api` prepare the project
// through the engine's staged contract (created once, polled until healthy) against the Management API
// stand-in (test/support/supabase-standin.ts), then provision the tables in the project's (real, local)
// database, as the operator does (test/e2e/operator-supabase.test.ts).
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { killApiProcesses, sha256, startApiProcess, storeopFreeEnv } from '../support/api-process.js';
import { POSTGRES_URL, postgresRows, withDatabase } from '../support/databases.js';
import { postgresMaster, runCli, type TestMaster } from '../support/master.js';
import { STORE_TABLES } from '../support/store-db.js';
import { type StandinProject, SupabaseStandin } from '../support/supabase-standin.js';

const TOKEN = `sbp_${randomBytes(20).toString('hex')}`;
const ORG = 'job-org';
const API_TOKEN = randomBytes(24).toString('hex');
const pgUrl = new URL(POSTGRES_URL);
const TIMEOUT = 240_000;

/** The database part of a supabase spec that reaches the stand-in's project databases on the local server. */
function supabaseDatabase(standin: SupabaseStandin, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    engine: 'supabase',
    mode: 'create',
    supabase: {
      apiUrl: standin.url,
      accessTokenSecretRef: { name: 'supabase-token' },
      organizationSlug: ORG,
      regionGroup: 'emea',
      database: { host: pgUrl.hostname, port: Number(pgUrl.port || 5432), user: 'postgres', name: 'sb_{ref}', tls: false },
      projectUrl: `${standin.url}/p/{ref}`,
      ...extra,
    },
  };
}

async function projectTables(project: StandinProject): Promise<string[]> {
  const rows = await postgresRows<{ table_name: string }>(
    withDatabase(POSTGRES_URL, project.database),
    "select table_name from information_schema.tables where table_schema = 'public' and table_type = 'BASE TABLE'",
  );
  return rows.map((r) => r.table_name);
}

describe('Supabase through storeop apply and storeop api', () => {
  let standin: SupabaseStandin;
  let master: TestMaster;
  let dir: string;

  beforeAll(async () => {
    standin = new SupabaseStandin({ token: TOKEN, organizationSlug: ORG });
    await standin.start();
    master = await postgresMaster.create();
    dir = mkdtempSync(join(tmpdir(), 'storeop-job-sb-'));
  });

  afterEach(killApiProcesses);

  afterAll(async () => {
    try {
      await standin?.stop();
    } finally {
      await master?.destroy();
      if (dir) rmSync(dir, { recursive: true, force: true });
    }
  });

  const env = () => ({ STOREOP_HOME: master.home, STOREOP_ENCRYPTION_KEYS: master.keysSpec });

  function manifests(name: string, database: Record<string, unknown>, secrets: Record<string, Record<string, string>>): string {
    const docs: unknown[] = Object.entries(secrets).map(([secret, stringData]) => ({
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: secret },
      stringData,
    }));
    docs.push({
      apiVersion: 'storeop.dev/v1alpha1',
      kind: 'Store',
      metadata: { name },
      spec: { displayName: `Supabase ${name}`, plan: 'starter', database },
    });
    const file = join(dir, `${name}.yaml`);
    writeFileSync(file, docs.map((d) => JSON.stringify(d)).join('\n---\n'));
    return file;
  }

  const apply = (file: string) =>
    runCli(['apply', '-f', file, '--master-database-url', master.url, '--supabase-poll-interval', '100ms'], env(), 180_000);

  it(
    'storeop apply creates the project once, waits for it to come up and provisions its database; a second apply creates nothing',
    async () => {
      const file = manifests('job-sb-apply', supabaseDatabase(standin), { 'supabase-token': { 'access-token': TOKEN } });
      const first = await apply(file);
      expect(first.code, `${first.stdout}\n${first.stderr}`).toBe(0);
      const projects = standin.byName('storeop-job-sb-apply');
      expect(projects).toHaveLength(1);
      const project = projects[0] as StandinProject;
      expect(project.status).toBe('ACTIVE_HEALTHY');
      // It waited for the project: the stand-in answers COMING_UP to the first status reads.
      expect(standin.requests.filter((r) => r.method === 'GET' && r.path === `/v1/projects/${project.ref}`).length).toBeGreaterThanOrEqual(
        3,
      );
      expect(first.stderr).toContain(`waiting for Supabase project ${project.ref} (COMING_UP)`);
      expect(await projectTables(project)).toEqual(expect.arrayContaining(STORE_TABLES));

      const [row] = await master.sql(
        `select s.database_type, s.database_status, c.integration_type, c.config_data::text as config
         from stores s join integration_configs c on c.store_id = s.id and c.is_active where s.slug = 'job-sb-apply'`,
      );
      expect(row).toMatchObject({ database_type: 'supabase', database_status: 'active', integration_type: 'supabase-database' });
      expect(String(row?.config)).not.toContain(project.dbPass);
      const jobs = await master.sql(
        `select j.status, j.attempts, j.error from provisioning_jobs j join stores s on s.id = j.store_id where s.slug = 'job-sb-apply'`,
      );
      expect(jobs).toEqual([{ status: 'succeeded', attempts: 1, error: null }]);
      const everything = `${first.stdout}${first.stderr}${JSON.stringify(await master.sql('select * from provisioning_jobs'))}`;
      expect(everything).not.toContain(TOKEN);
      expect(everything).not.toContain(project.dbPass);

      // Again: the project recorded in the master DB is reused, with the password kept there.
      const creates = standin.createCalls;
      const second = await apply(file);
      expect(second.code, `${second.stdout}\n${second.stderr}`).toBe(0);
      expect(second.stdout.trimEnd().split('\n').at(-1)).toBe('1 store(s) ready; no changes');
      expect(standin.createCalls).toBe(creates);
      expect(standin.byName('storeop-job-sb-apply')).toHaveLength(1);
    },
    TIMEOUT,
  );

  it(
    'storeop apply connects to an existing project (connect mode) with its database password from a Secret',
    async () => {
      const existing = await standin.precreate('job-existing-project');
      const creates = standin.createCalls;
      const file = manifests(
        'job-sb-connect',
        {
          ...supabaseDatabase(standin, {
            organizationSlug: undefined,
            regionGroup: undefined,
            projectRef: existing.ref,
            databasePasswordSecretRef: { name: 'supabase-db' },
          }),
          mode: 'connect',
        },
        { 'supabase-token': { 'access-token': TOKEN }, 'supabase-db': { password: existing.dbPass } },
      );
      const run = await apply(file);
      expect(run.code, `${run.stdout}\n${run.stderr}`).toBe(0);
      expect(standin.createCalls).toBe(creates);
      expect(await projectTables(existing)).toEqual(expect.arrayContaining(STORE_TABLES));
      const [row] = await master.sql(
        `select s.database_type, c.integration_type from stores s join integration_configs c on c.store_id = s.id and c.is_active
         where s.slug = 'job-sb-connect'`,
      );
      expect(row).toMatchObject({ database_type: 'supabase', integration_type: 'supabase-database' });
      expect(`${run.stdout}${run.stderr}`).not.toContain(existing.dbPass);
    },
    TIMEOUT,
  );

  it(
    'storeop api provisions Supabase stores in create mode (the job waits for the project) and connect mode; no secret is echoed',
    async () => {
      const api = await startApiProcess({
        args: ['--master-database-url', master.url, '--supabase-poll-interval', '100ms'],
        env: storeopFreeEnv({ ...env(), STOREOP_API_TOKEN_HASHES: sha256(API_TOKEN) }),
      });
      const call = (path: string, init: RequestInit = {}) =>
        fetch(`${api.url}${path}`, {
          ...init,
          headers: { authorization: `Bearer ${API_TOKEN}`, 'content-type': 'application/json' },
        });

      /** Submits a store and polls its job to the end, the way a client does. */
      async function provision(slug: string, database: Record<string, unknown>, secrets: Record<string, Record<string, string>>) {
        const response = await call('/v1/provision', {
          method: 'POST',
          body: JSON.stringify({
            store: { slug, displayName: `Supabase ${slug}`, owner: 'job-owner@example.com', plan: 'starter' },
            database,
            secrets,
          }),
        });
        expect(response.status, await response.clone().text()).toBe(202);
        const accepted = (await response.json()) as { jobId: string };
        const seen: Array<{ status: string; message: string | null; error: string | null }> = [];
        const doneBy = Date.now() + 180_000;
        for (;;) {
          const status = (await (await call(`/v1/provision/${accepted.jobId}/status`)).json()) as (typeof seen)[number];
          seen.push(status);
          if (status.status === 'succeeded' || status.status === 'failed') break;
          if (Date.now() > doneBy) throw new Error(`job still ${status.status}:\n${api.logs()}`);
          await sleep(100);
        }
        return seen;
      }

      // Create mode: the job waits for the new project, then provisions it.
      const created = await provision('job-sb-api', supabaseDatabase(standin), { 'supabase-token': { 'access-token': TOKEN } });
      expect(created.at(-1), api.logs()).toMatchObject({ status: 'succeeded', error: null });
      const project = standin.byName('storeop-job-sb-api')[0] as StandinProject;
      expect(standin.byName('storeop-job-sb-api')).toHaveLength(1);
      // It waited for the project: the stand-in answers COMING_UP to the first status reads.
      expect(standin.requests.filter((r) => r.method === 'GET' && r.path === `/v1/projects/${project.ref}`).length).toBeGreaterThanOrEqual(
        3,
      );
      expect(await projectTables(project)).toEqual(expect.arrayContaining(STORE_TABLES));
      const [store] = await master.sql(`select database_type, database_status from stores where slug = 'job-sb-api'`);
      expect(store).toMatchObject({ database_type: 'supabase', database_status: 'active' });

      // Connect mode: an existing project, its database password sent as a Secret value.
      const existing = await standin.precreate('job-existing-for-api');
      const creates = standin.createCalls;
      const connected = await provision(
        'job-sb-api-connect',
        {
          ...supabaseDatabase(standin, {
            organizationSlug: undefined,
            regionGroup: undefined,
            projectRef: existing.ref,
            databasePasswordSecretRef: { name: 'supabase-db' },
          }),
          mode: 'connect',
        },
        { 'supabase-token': { 'access-token': TOKEN }, 'supabase-db': { password: existing.dbPass } },
      );
      expect(connected.at(-1), api.logs()).toMatchObject({ status: 'succeeded', error: null });
      expect(standin.createCalls).toBe(creates);
      expect(await projectTables(existing)).toEqual(expect.arrayContaining(STORE_TABLES));

      const everything = `${api.logs()}${JSON.stringify(created)}${JSON.stringify(connected)}`;
      for (const secret of [TOKEN, project.dbPass, existing.dbPass]) expect(everything).not.toContain(secret);
      api.child.kill('SIGTERM');
    },
    TIMEOUT,
  );
});
