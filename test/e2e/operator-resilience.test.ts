// The operator under stress, end to end: a SIGKILL in the middle of provisioning, two replicas with
// leader election (SIGKILL and SIGTERM of the leader), 20 Stores applied at once, and no reachable
// cluster. Real kube-apiserver, real PostgreSQL; every operator runs as a user bound only to manifests/ RBAC.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { type AddressInfo, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { KubeConfig } from '@kubernetes/client-node';
import { afterEach, describe, expect, it } from 'vitest';
import { runStoreop } from '../support/cli.js';
import { POSTGRES_URL, withPostgres } from '../support/databases.js';
import {
  freePort,
  kubectl,
  type OperatorEnvironment,
  type OperatorProcess,
  operatorEnvironment,
  TEST_ENCRYPTION_KEYS,
  userKubeconfig,
} from '../support/operator.js';
import { repoRoot } from '../support/paths.js';
import { type AdminLockHold, dropStoreLeftovers, holdPostgresAdminLock, STORE_TABLES, storeName, uniqueSlug } from '../support/store-db.js';

const pgUrl = new URL(POSTGRES_URL);
const pgAdmin = { host: pgUrl.hostname, port: Number(pgUrl.port || 5432), user: decodeURIComponent(pgUrl.username || 'postgres') };
/** Where the test RBAC binds the operator users' leader-election Role (manifests/base/rbac.yaml). */
const LEASE_NAMESPACE = 'storeop-system';
const LEASE_DURATION_MS = 15_000;

// ---------------------------------------------------------------------------------------------------
// Per-test resources, released in afterEach whatever happened: operator environments first (operators,
// then namespaces, master DBs and homes), then the held locks, store databases and roles, leases and folders.

interface Resources {
  environments: OperatorEnvironment[];
  slugs: string[];
  leases: string[];
  dirs: string[];
  locks: AdminLockHold[];
}

const fresh = (): Resources => ({ environments: [], slugs: [], leases: [], dirs: [], locks: [] });
let res = fresh();

async function releaseAll(): Promise<void> {
  const r = res;
  res = fresh();
  await Promise.all(r.environments.map((e) => e.tearDown().catch(() => {})));
  for (const lock of r.locks) await lock.close().catch(() => {});
  for (const slug of r.slugs) await dropStoreLeftovers('postgresql', slug).catch(() => {});
  for (const lease of r.leases) await kubectl(['-n', LEASE_NAMESPACE, 'delete', 'lease', lease, '--ignore-not-found']).catch(() => {});
  for (const dir of r.dirs) rmSync(dir, { recursive: true, force: true });
}

async function setUp(prefix: string): Promise<OperatorEnvironment> {
  const environment = await operatorEnvironment(prefix);
  res.environments.push(environment);
  await environment.apply({
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name: 'pg-admin' },
    stringData: { username: pgAdmin.user, password: 'trust-auth-ignores-it' },
  });
  return environment;
}

// ---------------------------------------------------------------------------------------------------

/** A Store with an inline PostgreSQL create-mode database that is dropped when the Store is deleted. */
function storeManifest(slug: string): Record<string, unknown> {
  res.slugs.push(slug);
  return {
    apiVersion: 'storeop.dev/v1alpha1',
    kind: 'Store',
    metadata: { name: slug },
    spec: {
      displayName: `Store ${slug}`,
      owner: `${slug}@example.com`,
      plan: 'starter',
      database: {
        engine: 'postgresql',
        mode: 'create',
        server: { host: pgAdmin.host, port: pgAdmin.port, adminSecretRef: { name: 'pg-admin' } },
        writeConnectionSecretToRef: { name: `${slug}-conn` },
        deletionPolicy: 'Delete',
      },
    },
  };
}

async function applyStores(namespace: string, slugs: string[]): Promise<void> {
  const list = { apiVersion: 'v1', kind: 'List', items: slugs.map(storeManifest) };
  await kubectl(['-n', namespace, 'apply', '-f', '-'], JSON.stringify(list));
}

async function waitReady(namespace: string, what: string[], timeoutMs: number, ...operators: OperatorProcess[]): Promise<void> {
  const seconds = Math.max(1, Math.ceil(timeoutMs / 1000));
  await kubectl(['-n', namespace, 'wait', '--for=condition=Ready', `--timeout=${seconds}s`, ...what]).catch((error: Error) => {
    throw new Error(`${error.message}\n${operators.map((o) => o.logs().slice(-3000)).join('\n---\n')}`);
  });
}

async function getJson<T = Record<string, unknown>>(namespace: string, ref: string): Promise<T> {
  return JSON.parse((await kubectl(['-n', namespace, 'get', ref, '-o', 'json'])).stdout) as T;
}

async function waitFor<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined | false>, logs?: () => string): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe().catch(() => undefined);
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${logs ? `\n${logs().slice(-4000)}` : ''}`);
    await sleep(250);
  }
}

/** Sum of the samples of a Prometheus metric whose labels include `labels` (undefined when there is none). */
function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  let total: number | undefined;
  for (const line of text.split('\n')) {
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!match || match[1] !== name) continue;
    const have = Object.fromEntries([...(match[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((m) => [m[1], m[2]]));
    if (Object.entries(labels).every(([k, v]) => have[k] === v)) total = (total ?? 0) + Number(match[3]);
  }
  return total;
}

async function metrics(op: OperatorProcess): Promise<string> {
  const response = await fetch(op.metricsUrl);
  if (!response.ok) throw new Error(`GET ${op.metricsUrl}: ${response.status}`);
  return response.text();
}

async function leaderStatus(op: OperatorProcess, lease: string): Promise<number | undefined> {
  return sample(await metrics(op), 'leader_election_master_status', { name: lease });
}

/** The operator's JSON log lines. */
function logLines(op: OperatorProcess): Array<Record<string, unknown>> {
  return op
    .logs()
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .flatMap((l) => {
      try {
        return [JSON.parse(l) as Record<string, unknown>];
      } catch {
        return [];
      }
    });
}

function identityOf(op: OperatorProcess): string {
  const line = logLines(op).find((l) => l.msg === 'waiting for the leader lease');
  if (typeof line?.identity !== 'string') throw new Error(`no lease identity in the logs:\n${op.logs().slice(-2000)}`);
  return line.identity;
}

async function leaseHolder(lease: string): Promise<string | undefined> {
  const object = await getJson<{ spec?: { holderIdentity?: string } }>(LEASE_NAMESPACE, `lease/${lease}`);
  return object.spec?.holderIdentity || undefined;
}

/** What the servers and the master DB hold for a slug, counted with the test's own SQL. */
async function footprint(masterUrl: string, slug: string) {
  const name = storeName(slug);
  const server = await withPostgres(POSTGRES_URL, async (c) => ({
    databases: (await c.query('SELECT datname FROM pg_database WHERE datname LIKE $1', [`${name}%`])).rows.map((r) => r.datname),
    roles: (await c.query('SELECT rolname FROM pg_roles WHERE rolname LIKE $1', [`${name}%`])).rows.map((r) => r.rolname),
  }));
  const master = await withPostgres(masterUrl, async (c) => {
    const stores = (await c.query('SELECT id, database_status FROM stores WHERE slug = $1', [slug])).rows;
    const ids = stores.map((s) => s.id);
    const configs = (await c.query('SELECT is_active FROM integration_configs WHERE store_id = ANY($1)', [ids])).rows;
    const jobs = (await c.query('SELECT id, status FROM provisioning_jobs WHERE store_id = ANY($1)', [ids])).rows;
    return { stores, configs, jobs };
  });
  return { ...server, ...master };
}

// ---------------------------------------------------------------------------------------------------

describe('operator resilience', () => {
  afterEach(async () => {
    await releaseAll();
  }, 180_000);

  it('converges after a SIGKILL in the middle of provisioning: one database, one role, one store row, one active config, no job left running', async () => {
    const environment = await setUp('kill');
    const { namespace, master } = environment;
    const slug = uniqueSlug();
    const database = storeName(slug);

    // Hold the PostgreSQL engine's per-database admin lock, so the operator stops inside createDatabase.
    const lock = await holdPostgresAdminLock(database);
    res.locks.push(lock);

    const first = await environment.start();
    await applyStores(namespace, [slug]);

    // Mid-pipeline: the status says Provisioning, the job row is running, and an operator session waits on our lock.
    await waitFor(
      'the operator to block inside provisioning',
      90_000,
      async () => {
        const sdb = await getJson<{ status?: { phase?: string; jobId?: string } }>(namespace, `storedatabase/${slug}`);
        if (sdb.status?.phase !== 'Provisioning' || !sdb.status.jobId) return false;
        const job = await withPostgres(master.url, (c) =>
          c.query('SELECT status FROM provisioning_jobs WHERE id = $1', [sdb.status?.jobId]),
        );
        if (job.rows[0]?.status !== 'running') return false;
        return (await lock.waiters()) > 0;
      },
      first.logs,
    );
    const before = await footprint(master.url, slug);
    expect(before.databases).toEqual([]); // the kill really comes before the database exists
    expect(before.jobs.map((j) => j.status)).toEqual(['running']);

    await first.stop('SIGKILL');
    expect(first.child.signalCode).toBe('SIGKILL');
    await lock.release();

    const second = await environment.start();
    await waitReady(namespace, [`store/${slug}`], 150_000, second);

    const after = await footprint(master.url, slug);
    expect(after.databases).toEqual([database]);
    expect(after.roles).toEqual([database]);
    expect(after.stores).toHaveLength(1);
    expect(after.stores[0].database_status).toBe('active');
    expect(after.configs.filter((c) => c.is_active)).toHaveLength(1);
    expect(after.configs).toHaveLength(1); // the pending password row was consumed, not duplicated
    expect(after.jobs.filter((j) => ['queued', 'running'].includes(j.status))).toEqual([]);
    const sdb = await getJson<{ status: { jobId: string } }>(namespace, `storedatabase/${slug}`);
    expect(after.jobs.find((j) => j.id === sdb.status.jobId)?.status).toBe('succeeded');

    // The connection Secret logs in as the store role and sees the whole schema.
    const secret = await getJson<{ data: Record<string, string> }>(namespace, `secret/${slug}-conn`);
    const url = Buffer.from(secret.data.url as string, 'base64').toString();
    const tables = await withPostgres(url, async (c) => {
      expect((await c.query('SELECT current_user AS u')).rows[0].u).toBe(database);
      const rows = await c.query("SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' ORDER BY 1");
      return rows.rows.map((r) => r.table_name as string);
    });
    expect(tables).toEqual(expect.arrayContaining(STORE_TABLES));

    // deletionPolicy Delete: deleting the Store drops the database and the role.
    await kubectl(['-n', namespace, 'delete', 'store', slug, '--timeout=120s']);
    const gone = await footprint(master.url, slug);
    expect(gone.databases).toEqual([]);
    expect(gone.roles).toEqual([]);
  }, 300_000);

  it('two operators with --leader-elect: only the leader reconciles; a SIGKILLed leader is replaced within the lease time, a SIGTERMed one releases the lease', async () => {
    const environment = await setUp('lead');
    const { namespace, master } = environment;
    const lease = `storeop-test-${randomBytes(4).toString('hex')}`;
    res.leases.push(lease);
    const args = ['--leader-elect', '--leader-election-namespace', LEASE_NAMESPACE, '--leader-election-id', lease];
    const a = await environment.start({ args, user: 'storeop-operator' });
    const b = await environment.start({ args, user: 'storeop-operator-2' });
    const logs = () => `--- a\n${a.logs().slice(-2000)}\n--- b\n${b.logs().slice(-2000)}`;

    const [leader, follower] = await waitFor(
      'one leader and one follower',
      60_000,
      async () => {
        const [sa, sb] = [await leaderStatus(a, lease), await leaderStatus(b, lease)];
        if (sa === 1 && sb === 0) return [a, b] as const;
        if (sb === 1 && sa === 0) return [b, a] as const;
        return undefined;
      },
      logs,
    );
    expect(await leaseHolder(lease)).toBe(identityOf(leader));

    const [s1, s2, s3] = [uniqueSlug(), uniqueSlug(), uniqueSlug()];
    await applyStores(namespace, [s1]);
    await waitReady(namespace, [`store/${s1}`], 120_000, leader, follower);
    const leaderMetrics = await metrics(leader);
    expect(sample(leaderMetrics, 'controller_runtime_reconcile_total', { controller: 'store' })).toBeGreaterThan(0);
    expect(sample(leaderMetrics, 'controller_runtime_reconcile_total', { controller: 'storedatabase' })).toBeGreaterThan(0);
    // The follower has not reconciled anything: no reconcile counted, no controllers started.
    const followerMetrics = await metrics(follower);
    expect(sample(followerMetrics, 'controller_runtime_reconcile_total') ?? 0).toBe(0);
    expect(sample(followerMetrics, 'controller_runtime_reconcile_time_seconds_count') ?? 0).toBe(0);
    expect(logLines(follower).filter((l) => l.msg === 'controllers started')).toEqual([]);

    // SIGKILL the leader: no release, so the follower must wait for the lease to expire, then take over.
    await leader.stop('SIGKILL');
    const killedAt = Date.now();
    await applyStores(namespace, [s2]);
    await waitFor(
      'the follower to take the lease',
      LEASE_DURATION_MS + 30_000,
      async () => (await leaderStatus(follower, lease)) === 1,
      logs,
    );
    expect(await leaseHolder(lease)).toBe(identityOf(follower));
    await waitReady(namespace, [`store/${s2}`], LEASE_DURATION_MS + 75_000 - (Date.now() - killedAt), follower);

    // A third replica waits as follower; SIGTERM the current leader: it releases the lease on the way out.
    const c = await environment.start({ args, user: 'storeop-operator' });
    await waitFor('the new replica to report itself as follower', 60_000, async () => (await leaderStatus(c, lease)) === 0, c.logs);
    expect(await follower.stop('SIGTERM')).toBe(0);
    const holderAfterExit = await leaseHolder(lease);
    expect(holderAfterExit).not.toBe(identityOf(follower)); // released (empty), or already taken by c
    expect(logLines(follower).some((l) => l.msg === 'could not release the leader lease')).toBe(false);
    await waitFor('the third replica to take the released lease', 30_000, async () => (await leaderStatus(c, lease)) === 1, c.logs);
    expect(await leaseHolder(lease)).toBe(identityOf(c));
    await applyStores(namespace, [s3]);
    await waitReady(namespace, [`store/${s3}`], 120_000, c);

    // The new leader also serves the Delete policy for all three.
    await kubectl(['-n', namespace, 'delete', 'store', s1, s2, s3, '--timeout=120s']);
    for (const slug of [s1, s2, s3]) {
      const gone = await footprint(master.url, slug);
      expect(gone.databases).toEqual([]);
      expect(gone.roles).toEqual([]);
    }
  }, 420_000);

  it('makes 20 Stores applied at once Ready, and /metrics shows the reconciles, the queue, the phases and the provisioning runs', async () => {
    const environment = await setUp('many');
    const { namespace, master } = environment;
    const op = await environment.start();
    const slugs = Array.from({ length: 20 }, () => uniqueSlug());
    await applyStores(namespace, slugs);
    await waitReady(namespace, ['--all', 'stores.storeop.dev'], 400_000, op);
    const stores = await getJson<{ items: Array<{ status?: { phase?: string } }> }>(namespace, 'stores.storeop.dev');
    expect(stores.items.map((s) => s.status?.phase)).toEqual(Array(20).fill('Ready'));

    // The phase gauge comes from the informer cache, which may trail kubectl wait by a watch event.
    const text = await waitFor(
      'storeop_stores{phase="Ready"} to reach 20',
      30_000,
      async () => {
        const body = await metrics(op);
        return sample(body, 'storeop_stores', { phase: 'Ready' }) === 20 ? body : undefined;
      },
      op.logs,
    );
    expect(sample(text, 'controller_runtime_reconcile_total', { controller: 'store', result: 'success' })).toBeGreaterThanOrEqual(20);
    expect(sample(text, 'controller_runtime_reconcile_total', { controller: 'storedatabase' })).toBeGreaterThanOrEqual(20);
    expect(sample(text, 'controller_runtime_reconcile_time_seconds_count', { controller: 'storedatabase' })).toBeGreaterThanOrEqual(20);
    expect(sample(text, 'workqueue_depth', { name: 'store' })).toBeGreaterThanOrEqual(0);
    expect(sample(text, 'workqueue_depth', { name: 'storedatabase' })).toBeGreaterThanOrEqual(0);
    expect(sample(text, 'storeop_provisioning_duration_seconds_count', { engine: 'postgresql', result: 'success' })).toBeGreaterThanOrEqual(
      20,
    );

    // Every store has its own database and role, registered once in the master DB.
    const counts = await withPostgres(master.url, (c) =>
      c.query(
        'SELECT count(*)::int AS stores, (SELECT count(*)::int FROM integration_configs WHERE is_active) AS configs FROM stores WHERE slug = ANY($1)',
        [slugs],
      ),
    );
    expect(counts.rows[0]).toEqual({ stores: 20, configs: 20 });
    const server = await withPostgres(POSTGRES_URL, (c) =>
      c.query(
        'SELECT (SELECT count(*)::int FROM pg_database WHERE datname = ANY($1)) AS databases, (SELECT count(*)::int FROM pg_roles WHERE rolname = ANY($1)) AS roles',
        [slugs.map(storeName)],
      ),
    );
    expect(server.rows[0]).toEqual({ databases: 20, roles: 20 });

    await kubectl(['-n', namespace, 'delete', 'stores.storeop.dev', '--all', '--timeout=240s']);
    const left = await withPostgres(POSTGRES_URL, (c) =>
      c.query('SELECT count(*)::int AS n FROM pg_database WHERE datname = ANY($1)', [slugs.map(storeName)]),
    );
    expect(left.rows[0].n).toBe(0);
  }, 600_000);

  it('exits non-zero with one clear error line when no cluster is reachable', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'storeop-nocluster-'));
    res.dirs.push(dir);
    const port = await freePort(); // nothing listens there
    const kc = new KubeConfig();
    kc.loadFromOptions({
      clusters: [{ name: 'gone', server: `https://127.0.0.1:${port}`, skipTLSVerify: true }],
      users: [{ name: 'someone', token: 'not-a-real-token' }],
      contexts: [{ name: 'gone', cluster: 'gone', user: 'someone' }],
      currentContext: 'gone',
    });
    const kubeconfig = join(dir, 'kubeconfig');
    writeFileSync(kubeconfig, kc.exportConfig(), { mode: 0o600 });
    const [metricsPort, healthPort] = [await freePort(), await freePort()];
    // runStoreop fails the test when the process has not exited by itself within the deadline.
    const { code, signal, stdout, stderr } = await runStoreop(
      [
        'run',
        '--kubeconfig',
        kubeconfig,
        '--home',
        dir,
        '--metrics-bind-address',
        `127.0.0.1:${metricsPort}`,
        '--health-probe-bind-address',
        `127.0.0.1:${healthPort}`,
      ],
      { cwd: repoRoot, env: { ...process.env, STOREOP_DEBUG: '' }, timeoutMs: 45_000 },
    );

    expect(signal).toBeNull(); // it exited by itself, not by a signal
    expect(code).not.toBe(0);
    const lines = stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(new RegExp(`^storeop run: .*cannot reach the Kubernetes API at https://127\\.0\\.0\\.1:${port}`));
    expect(stderr).not.toMatch(/\n\s+at /);
    expect(stdout).not.toMatch(/"level":(50|60)|Error:/);
  }, 60_000);

  it('exits non-zero, naming the flag, when its metrics port is taken (it does not linger with its master DB open)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'storeop-taken-port-'));
    res.dirs.push(dir);
    const taken = createServer();
    await new Promise<void>((listening) => taken.listen(0, '127.0.0.1', listening));
    try {
      const { port } = taken.address() as AddressInfo;
      // runStoreop fails the test when the process has not exited by itself within the deadline.
      const { code, signal, stderr } = await runStoreop(
        [
          'run',
          '--kubeconfig',
          userKubeconfig('storeop-operator'),
          '--home',
          dir,
          '--metrics-bind-address',
          `127.0.0.1:${port}`,
          '--health-probe-bind-address',
          `127.0.0.1:${await freePort()}`,
        ],
        { cwd: repoRoot, env: { ...process.env, STOREOP_DEBUG: '', STOREOP_ENCRYPTION_KEYS: TEST_ENCRYPTION_KEYS }, timeoutMs: 90_000 },
      );
      expect(signal).toBeNull();
      expect(code).toBe(1);
      expect(stderr.trim()).toBe(`storeop run: ConnectionFailed: cannot listen on 127.0.0.1:${port} (--metrics-bind-address): EADDRINUSE`);
    } finally {
      taken.close();
    }
  }, 120_000);
});
