// Server-side request forgery through the provisioning API (issue 12, finding 6). Before the fix, a job
// pointed at a loopback port or at 169.254.169.254 failed with an error that told refused, timed out,
// "answered in another protocol" and "is a database" apart: a port scanner run by any API caller.
// Reproduced against real `storeop api` processes and the real PostgreSQL: every unreachable or refused
// destination now reads the same generic error, link-local and metadata addresses are refused without a
// connection, the resolved addresses of a name are what is checked, allow/deny lists are configurable by
// flag and environment, and the server log keeps the detail.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cidrList, EgressPolicy, GENERIC_CONNECTION_ERROR } from '../../src/engines/egress.js';
import { type ApiProcess, killApiProcesses, sha256, startApiProcess, storeopFreeEnv } from '../support/api-process.js';
import { createPostgresDatabase, POSTGRES_URL, type TempDatabase, withDatabase, withPostgres } from '../support/databases.js';
import { runCli } from '../support/master.js';
import { freePort } from '../support/operator.js';
import {
  dropStoreLeftovers,
  mysqlEndpoint,
  openMysql,
  postgresAdmin,
  postgresEndpoint,
  STORE_TABLES,
  storeName,
  withStoreDb,
} from '../support/store-db.js';

const TOKEN = randomBytes(24).toString('hex');
const ADMIN_PASSWORD = `egr-pw-${randomBytes(12).toString('hex')}`; // trust auth: never checked, must never show up
const ENCRYPTION_KEYS = `egr:${randomBytes(32).toString('base64')}`;
const server = postgresEndpoint();
const mysqlServer = mysqlEndpoint();
const egrSlug = () => `egr-${randomBytes(5).toString('hex')}`;

// ---------------------------------------------------------------------------------------------------
// A storeop api process

/** `storeop api` on `masterUrl`, accepting TOKEN. */
function startApi(masterUrl: string, args: string[], env: Record<string, string> = {}): Promise<ApiProcess> {
  return startApiProcess({
    args: ['--master-database-url', masterUrl, ...args],
    env: storeopFreeEnv({ STOREOP_ENCRYPTION_KEYS: ENCRYPTION_KEYS, STOREOP_API_TOKEN_HASHES: sha256(TOKEN), ...env }),
  });
}

type JobStatus = { status: string; step: string | null; progress: number; message: string | null; error: string | null };

/** Submits a create job (PostgreSQL unless told) for host:port and polls it to its end. */
async function provision(
  api: ApiProcess,
  slug: string,
  host: string,
  port: number,
  engine: 'postgresql' | 'mysql' = 'postgresql',
): Promise<JobStatus> {
  const admin =
    engine === 'postgresql'
      ? { username: server.user || 'postgres', password: ADMIN_PASSWORD }
      : { username: mysqlServer.user, password: mysqlServer.password ?? '' };
  const response = await fetch(`${api.url}/v1/provision`, {
    method: 'POST',
    headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify({
      store: { slug, displayName: `Shop ${slug}`, owner: `${slug}@example.com`, plan: 'starter' },
      database: { engine, mode: 'create', server: { host, port, adminSecretRef: { name: 'admin' } } },
      secrets: { admin },
    }),
  });
  const accepted = (await response.json()) as { jobId: string };
  expect(response.status, JSON.stringify(accepted)).toBe(202);
  const deadline = Date.now() + 180_000;
  for (;;) {
    const status = (await (
      await fetch(`${api.url}/v1/provision/${accepted.jobId}/status`, { headers: { authorization: `Bearer ${TOKEN}` } })
    ).json()) as JobStatus;
    if (status.status === 'succeeded' || status.status === 'failed') return status;
    if (Date.now() > deadline) throw new Error(`job for ${host}:${port} still ${status.status}:\n${api.logs().slice(-3000)}`);
    await sleep(100);
  }
}

/** What a caller can compare between two failed jobs: everything but the timestamps. */
const visible = (s: JobStatus) => ({ status: s.status, step: s.step, progress: s.progress, message: s.message, error: s.error });

async function waitForLog(api: ApiProcess, pattern: RegExp): Promise<string> {
  const deadline = Date.now() + 30_000;
  while (!pattern.test(api.logs())) {
    if (Date.now() > deadline) throw new Error(`log never matched ${pattern}:\n${api.logs().slice(-3000)}`);
    await sleep(100);
  }
  return api.logs();
}

// ---------------------------------------------------------------------------------------------------
// Local destinations that are not databases: what a port scanner tells apart

const servers: Server[] = [];
const sockets = new Set<Socket>();

async function tcpServer(onConnection: (socket: Socket) => void): Promise<number> {
  const s = createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => {});
    onConnection(socket);
  });
  servers.push(s);
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  return (s.address() as { port: number }).port;
}

/** A port nothing listens on (freePort closes the listener it found the port with). */
const closedPort = () => freePort();

// ---------------------------------------------------------------------------------------------------

let master: TempDatabase;
let open: ApiProcess; // default policy
let noLoopback: ApiProcess; // --egress-deny 127.0.0.0/8,::1
let allowOnly: ApiProcess; // STOREOP_EGRESS_ALLOW=127.0.0.1/32
const createdStores: Array<['postgresql' | 'mysql', string]> = [];

beforeAll(async () => {
  master = await createPostgresDatabase('egr_master');
  // One master for all three: the slugs differ, and starting them one after another migrates it once.
  open = await startApi(master.url, []);
  [noLoopback, allowOnly] = await Promise.all([
    startApi(master.url, ['--egress-deny', '127.0.0.0/8, ::1']),
    startApi(master.url, [], { STOREOP_EGRESS_ALLOW: '127.0.0.1/32' }),
  ]);
});

afterAll(async () => {
  await Promise.all([open, noLoopback, allowOnly].filter(Boolean).map((a) => a.stop().catch(() => {})));
  killApiProcesses();
  for (const socket of sockets) socket.destroy();
  await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
  try {
    for (const [engine, slug] of createdStores) await dropStoreLeftovers(engine, slug);
  } finally {
    await master?.drop();
  }
});

describe('storeop api with its default egress policy', () => {
  it('gives the same generic error for a closed port, a silent port, a port speaking another protocol and metadata addresses', async () => {
    const closed = await closedPort();
    const banner = await tcpServer((socket) => socket.end('SSH-2.0-OpenSSH_9.6\r\n'));
    const silent = await tcpServer(() => {}); // accepts and never answers: the connect timeout ends the job
    const destinations: Array<[string, number]> = [
      ['127.0.0.1', closed],
      ['127.0.0.1', banner],
      ['127.0.0.1', silent],
      ['169.254.169.254', 80], // cloud metadata (link-local)
      ['::ffff:169.254.169.254', 80], // the same, IPv4-mapped
      ['fe80::1', 5432], // IPv6 link-local
      ['100.100.100.200', 80], // Alibaba Cloud metadata
      ['0.0.0.0', server.port], // "this host": would reach the local PostgreSQL
    ];
    const outcomes = await Promise.all(destinations.map(([host, port]) => provision(open, egrSlug(), host, port)));
    for (const [i, outcome] of outcomes.entries()) {
      expect(visible(outcome), destinations[i]?.join(' port ')).toEqual(visible(outcomes[0] as JobStatus));
    }
    expect(outcomes[0]).toMatchObject({ status: 'failed', error: GENERIC_CONNECTION_ERROR });

    // The server log keeps what happened, for the operator (and never the admin password).
    const logs = await waitForLog(open, /refuses host 0\.0\.0\.0/);
    for (const host of ['169.254.169.254', '::ffff:169.254.169.254', 'fe80::1', '100.100.100.200']) {
      expect(logs).toContain(`egress policy refuses host ${host}: its address ${host} is in a denied network`);
    }
    expect(logs).toMatch(/ECONNREFUSED/);
    expect(logs).not.toContain(ADMIN_PASSWORD);
  });

  it('still provisions on a loopback database (loopback is allowed unless denied)', async () => {
    const slug = egrSlug();
    createdStores.push(['postgresql', slug]);
    const done = await provision(open, slug, '127.0.0.1', server.port);
    expect(done, open.logs().slice(-3000)).toMatchObject({ status: 'succeeded', error: null });
  });
});

describe('storeop api --egress-deny 127.0.0.0/8,::1', () => {
  it('refuses a name by the address it resolves to, before any connection, with the same error as a closed port', async () => {
    const slug = egrSlug();
    const [byName, closed] = await Promise.all([
      provision(noLoopback, slug, 'localhost', server.port), // the real PostgreSQL listens there
      provision(noLoopback, egrSlug(), '127.0.0.1', await closedPort()),
    ]);
    expect(visible(byName)).toEqual(visible(closed));
    expect(byName).toMatchObject({ status: 'failed', error: GENERIC_CONNECTION_ERROR });
    const logs = await waitForLog(noLoopback, /refuses host localhost/);
    expect(logs).toMatch(/egress policy refuses host localhost: its address (127\.0\.0\.1|::1) is in a denied network/);
    // The startup log states the policy in force.
    expect(logs).toMatch(/"egress":\{"allow":"any","deny":\[[^\]]*"169\.254\.0\.0\/16"[^\]]*"127\.0\.0\.0\/8","::1\/128"\]/);
    // Nothing reached the server: no role and no database for the store.
    const found = await postgresAdmin((c) =>
      c.query('SELECT (SELECT count(*) FROM pg_roles WHERE rolname = $1) + (SELECT count(*) FROM pg_database WHERE datname = $1) AS n', [
        storeName(slug),
      ]),
    );
    expect(Number(found.rows[0]?.n)).toBe(0);
  });
});

describe('storeop api --egress-deny 127.0.0.0/8,::1 and a Supabase store', () => {
  it('refuses a Management API URL in a denied network before any request reaches it', async () => {
    let connections = 0;
    const port = await tcpServer((socket) => {
      connections += 1;
      socket.destroy();
    });
    const response = await fetch(`${noLoopback.url}/v1/provision`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({
        store: { slug: egrSlug(), displayName: 'Supabase shop', owner: 'sb@example.com', plan: 'starter' },
        database: {
          engine: 'supabase',
          mode: 'create',
          supabase: { apiUrl: `http://localhost:${port}`, accessTokenSecretRef: { name: 'sb' }, organizationSlug: 'egr-org' },
        },
        secrets: { sb: { 'access-token': 'sbp_egress_test_token' } },
      }),
    });
    const accepted = (await response.json()) as { jobId: string };
    expect(response.status, JSON.stringify(accepted)).toBe(202);
    const deadline = Date.now() + 180_000;
    let status: JobStatus;
    for (;;) {
      status = (await (
        await fetch(`${noLoopback.url}/v1/provision/${accepted.jobId}/status`, { headers: { authorization: `Bearer ${TOKEN}` } })
      ).json()) as JobStatus;
      if (status.status === 'succeeded' || status.status === 'failed') break;
      if (Date.now() > deadline) throw new Error(`supabase job still ${status.status}:\n${noLoopback.logs().slice(-3000)}`);
      await sleep(100);
    }
    expect(status).toMatchObject({ status: 'failed', error: GENERIC_CONNECTION_ERROR });
    expect(connections).toBe(0);
    expect(await waitForLog(noLoopback, /refuses host localhost/)).not.toContain('sbp_egress_test_token');
  });
});

describe('storeop api with STOREOP_EGRESS_ALLOW=127.0.0.1/32', () => {
  it('provisions through a name pinned to its checked address, and refuses an address outside the list', async () => {
    const slug = egrSlug();
    createdStores.push(['postgresql', slug]);
    const [ok, outside] = await Promise.all([
      provision(allowOnly, slug, 'localhost', server.port),
      provision(allowOnly, egrSlug(), '127.0.0.2', server.port),
    ]);
    expect(ok, allowOnly.logs().slice(-3000)).toMatchObject({ status: 'succeeded', error: null });
    const tables = await withPostgres(withDatabase(POSTGRES_URL, storeName(slug)), async (c) => {
      return (await c.query<{ n: string }>("SELECT count(*) AS n FROM pg_tables WHERE schemaname = 'public'")).rows[0]?.n;
    });
    expect(Number(tables)).toBeGreaterThanOrEqual(STORE_TABLES.length);
    expect(outside).toMatchObject({ status: 'failed', error: GENERIC_CONNECTION_ERROR });

    // MySQL too (mysql2 dials the pinned address through its stream option, keeping the name for TLS).
    const mySlug = egrSlug();
    createdStores.push(['mysql', mySlug]);
    const my = await provision(allowOnly, mySlug, 'localhost', mysqlServer.port, 'mysql');
    expect(my, allowOnly.logs().slice(-3000)).toMatchObject({ status: 'succeeded', error: null });
    const myTables = await withStoreDb(openMysql(storeName(mySlug)), (db) =>
      db.query('SELECT count(*) AS n FROM information_schema.tables WHERE table_schema = ?', [storeName(mySlug)]),
    );
    expect(Number(myTables[0]?.n)).toBeGreaterThanOrEqual(STORE_TABLES.length);
    expect(await waitForLog(allowOnly, /refuses host 127\.0\.0\.2/)).toContain(
      'egress policy refuses host 127.0.0.2: its address 127.0.0.2 is not in an allowed network',
    );
  });
});

describe('storeop apply: the egress policy is opt-in for manifests', () => {
  it('--egress-deny refuses a manifest whose database resolves into the denied network', async () => {
    const slug = egrSlug();
    const dir = mkdtempSync(join(tmpdir(), 'egr-apply-'));
    try {
      writeFileSync(
        join(dir, 'store.yaml'),
        `apiVersion: v1
kind: Secret
metadata: { name: pg-admin }
stringData: { username: ${server.user || 'postgres'}, password: ${ADMIN_PASSWORD} }
---
apiVersion: storeop.dev/v1alpha1
kind: Store
metadata: { name: ${slug} }
spec:
  displayName: Egress
  database: { engine: postgresql, mode: create, server: { host: localhost, port: ${server.port}, adminSecretRef: { name: pg-admin } } }
`,
      );
      const run = await runCli(
        ['apply', '-f', join(dir, 'store.yaml'), '--master-database-url', master.url, '--home', dir, '--egress-deny', '127.0.0.0/8,::1'],
        { STOREOP_ENCRYPTION_KEYS: ENCRYPTION_KEYS },
      );
      expect(run.code, run.stdout + run.stderr).toBe(1);
      // The operator's own manifests: the message keeps the reason.
      expect(run.stderr).toMatch(
        new RegExp(
          `${slug}: failed: ConnectionFailed: egress policy refuses host localhost: its address (127\\.0\\.0\\.1|::1) is in a denied network`,
        ),
      );
      expect(run.stdout + run.stderr).not.toContain(ADMIN_PASSWORD);
      const found = await postgresAdmin((c) => c.query('SELECT 1 FROM pg_roles WHERE rolname = $1', [storeName(slug)]));
      expect(found.rowCount).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('egress policy configuration', () => {
  it('a bad CIDR in a flag or the environment stops storeop api with a message naming it', async () => {
    const env = { STOREOP_ENCRYPTION_KEYS: ENCRYPTION_KEYS, STOREOP_API_TOKEN_HASHES: sha256(TOKEN) };
    const badFlag = await runCli(['api', '--master-database-url', master.url, '--egress-deny', '10.0.0.0/33'], env);
    expect(badFlag.code).not.toBe(0);
    expect(badFlag.stderr).toMatch(/--egress-deny: "10\.0\.0\.0\/33" is not an IPv4 or IPv6 CIDR/);
    const badEnv = await runCli(['api', '--master-database-url', master.url], { ...env, STOREOP_EGRESS_ALLOW: '10.0.0.0/8,intranet' });
    expect(badEnv.code).not.toBe(0);
    expect(badEnv.stderr).toMatch(/STOREOP_EGRESS_ALLOW: "intranet" is not an IPv4 or IPv6 CIDR/);
  });

  it('checks IPv4, IPv6 and IPv4-mapped addresses; a deny wins over an allow', () => {
    const defaults = new EgressPolicy();
    expect(defaults.refusal('169.254.169.254')).toBe('in a denied network');
    expect(defaults.refusal('::ffff:169.254.169.254')).toBe('in a denied network');
    expect(defaults.refusal('fd00:ec2::254')).toBe('in a denied network');
    expect(defaults.refusal('fe80::abcd')).toBe('in a denied network');
    expect(defaults.refusal('::')).toBe('in a denied network');
    expect(defaults.refusal('10.1.2.3')).toBeUndefined();
    expect(defaults.refusal('::1')).toBeUndefined();
    const policy = new EgressPolicy({ allow: cidrList.parse('10.0.0.0/8, fd00::/8'), deny: cidrList.parse('10.9.0.0/16') });
    expect(policy.refusal('10.1.2.3')).toBeUndefined();
    expect(policy.refusal('fd12::1')).toBeUndefined();
    expect(policy.refusal('10.9.1.1')).toBe('in a denied network');
    expect(policy.refusal('192.168.1.1')).toBe('not in an allowed network');
    expect(policy.refusal('::ffff:192.168.1.1')).toBe('not in an allowed network');
    expect(new EgressPolicy({ allow: cidrList.parse('0.0.0.0/0') }).refusal('169.254.169.254')).toBe('in a denied network');
  });
});
