// Issue 12, finding 1: a database connection dropped while storeop has it checked out (the backend
// terminated with pg_terminate_backend, the MariaDB session ended with KILL) must fail that one operation
// with the typed, retryable ConnectionLost error and leave the process up, so that the next call works.
// Checked from outside, in real OS processes: an app embedding a ConnectionManager, the `storeop
// provision` CLI, and the `storeop api` server, against the local PostgreSQL and MariaDB.
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { pathToFileURL } from 'node:url';
import { sql } from 'kysely';
import mysql from 'mysql2/promise';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { isConnectionLost } from '../../src/engines/driver-errors.js';
import { adminLockKey } from '../../src/engines/postgres.js';
import { isStoreopError, Keyring } from '../../src/index.js';
import { type MasterDatabase, openMaster } from '../../src/master/database.js';
import { provision } from '../../src/provisioning/pipeline.js';
import { provisionStore } from '../../src/stores/provision-store.js';
import { type CliRun, killRunningCli, runStoreop } from '../support/cli.js';
import { createPostgresDatabase, POSTGRES_URL, postgresRows, type TempDatabase } from '../support/databases.js';
import { freePort } from '../support/operator.js';
import { nodeBinary, repoRoot, storeopArgs } from '../support/paths.js';
import {
  HISTORY_TABLE,
  holdPostgresAdminLock,
  mysqlCreateTarget,
  mysqlEndpoint,
  postgresAdmin,
  postgresCreateTarget,
  STORE_TABLES,
  StoreCleanup,
} from '../support/store-db.js';

const crsSlug = (what: string) => `crs-${what}-${randomBytes(4).toString('hex')}`;
const tsxLoader = pathToFileURL(join(repoRoot, 'node_modules/tsx/dist/loader.mjs')).href;

/** Waits until `check` holds, polling; fails naming `what` after `timeoutMs`. */
async function until<T>(what: string, check: () => Promise<T | undefined> | T | undefined, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(50);
  }
}

/** Environment for a child storeop process: nothing inherited that points it at another master or keys. */
function childEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const name of [
    'STOREOP_MASTER_DATABASE_URL',
    'STOREOP_ENCRYPTION_KEYS',
    'STOREOP_HOME',
    'STOREOP_API_TOKEN_HASHES',
    'STOREOP_DEBUG',
  ])
    delete env[name];
  return { ...env, ...extra };
}

const alive = (child: ChildProcess) => child.exitCode === null && child.signalCode === null;

/** Terminates a PostgreSQL backend and waits until it is gone from pg_stat_activity. */
async function terminatePostgresBackend(pid: number): Promise<void> {
  await postgresAdmin(async (client) => {
    const { rows } = await client.query<{ done: boolean }>('select pg_terminate_backend($1) as done', [pid]);
    expect(rows[0]?.done, `pg_terminate_backend(${pid})`).toBe(true);
    await until(
      `backend ${pid} to end`,
      async () => (await client.query('select 1 from pg_stat_activity where pid = $1', [pid])).rowCount === 0,
    );
  });
}

async function withMysqlAdmin<T>(fn: (conn: mysql.Connection) => Promise<T>): Promise<T> {
  const conn = await mysql.createConnection(mysqlEndpoint());
  try {
    return await fn(conn);
  } finally {
    await conn.end();
  }
}

/** Ends a MariaDB session with KILL and waits until it is gone from the process list. */
async function killMysqlSession(id: number): Promise<void> {
  await withMysqlAdmin(async (conn) => {
    await conn.query(`KILL ${Number(id)}`);
    await until(`session ${id} to end`, async () => {
      const [rows] = await conn.query<mysql.RowDataPacket[]>('select 1 from information_schema.processlist where id = ?', [id]);
      return rows.length === 0;
    });
  });
}

/** Stack trace lines, which a user-facing error must not print. */
const STACK_LINE = /^\s+at .+\(.*:\d+:\d+\)|^\s+at .+:\d+:\d+$/m;

// ---------------------------------------------------------------------------------------------------

describe('an app process embedding a ConnectionManager', () => {
  type Message = Record<string, unknown> & { id?: number };
  let masterDb: TempDatabase;
  let master: MasterDatabase;
  let home: string;
  let host: ChildProcess;
  let hostOutput = '';
  const messages: Message[] = [];
  const cleanup = new StoreCleanup();
  const stores: Record<'postgres' | 'mysql', string> = { postgres: '', mysql: '' };
  let nextId = 1;

  function send(command: Record<string, unknown>): void {
    host.stdin?.write(`${JSON.stringify(command)}\n`);
  }

  function message(what: string, match: (m: Message) => boolean, timeoutMs = 120_000): Promise<Message> {
    return until(
      what,
      () => {
        if (!alive(host))
          throw new Error(`the app process ended (${host.exitCode ?? host.signalCode}) while waiting for ${what}:\n${hostOutput}`);
        return messages.find(match);
      },
      timeoutMs,
    );
  }

  /** Sends a command and waits for its answer (a message with `ok`). */
  async function request(command: Record<string, unknown>): Promise<Message> {
    const id = nextId++;
    send({ ...command, id });
    return message(`the answer to ${JSON.stringify(command)}`, (m) => m.id === id && 'ok' in m);
  }

  beforeAll(async () => {
    masterDb = await createPostgresDatabase('crs_master');
    home = mkdtempSync(join(tmpdir(), 'storeop-crs-'));
    const keysSpec = Keyring.generateSpec('crs');
    const keyring = Keyring.parse(keysSpec);
    master = await openMaster({ url: masterDb.url, home });
    const ctx = { master, keyring, actor: 'test' };
    for (const [dialect, target] of [
      ['postgres', postgresCreateTarget()],
      ['mysql', mysqlCreateTarget()],
    ] as const) {
      const slug = crsSlug(`cm-${dialect === 'postgres' ? 'pg' : 'my'}`);
      const { store } = await provisionStore(ctx, { slug, name: `Shop ${slug}` }, { target: cleanup.track(target, slug), seed: false });
      stores[dialect] = store.id;
    }
    host = spawn(nodeBinary, ['--import', tsxLoader, join(import.meta.dirname, 'dropped-connections.host.ts')], {
      cwd: home,
      env: childEnv({ CRS_MASTER_URL: masterDb.url, CRS_KEYS: keysSpec, CRS_HOME: home }),
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let pending = '';
    host.stdout?.on('data', (d: Buffer) => {
      hostOutput += d.toString();
      pending += d.toString();
      const lines = pending.split('\n');
      pending = lines.pop() ?? '';
      for (const line of lines) if (line.trim()) messages.push(JSON.parse(line) as Message);
    });
    host.stderr?.on('data', (d: Buffer) => {
      hostOutput += d.toString();
    });
    await message('the app process to start', (m) => m.ready === true);
  });

  afterAll(async () => {
    if (host && alive(host)) {
      host.stdin?.end();
      host.kill('SIGKILL');
    }
    try {
      await cleanup.run();
    } finally {
      await master?.close();
      await masterDb?.drop();
      if (home) rmSync(home, { recursive: true, force: true });
    }
  });

  describe.each([
    { engine: 'PostgreSQL', dialect: 'postgres', kill: 'pg_terminate_backend' },
    { engine: 'MariaDB', dialect: 'mysql', kill: 'KILL' },
  ] as const)('on $engine', ({ dialect }) => {
    const kill = (session: number) => (dialect === 'postgres' ? terminatePostgresBackend(session) : killMysqlSession(session));

    /** Whether the session runs the held transaction's long query now. */
    async function runningSleep(session: number): Promise<boolean> {
      if (dialect === 'postgres') {
        const rows = await postgresRows(
          POSTGRES_URL,
          "select 1 from pg_stat_activity where pid = $1 and state = 'active' and query like '%pg_sleep%'",
          [session],
        );
        return rows.length > 0;
      }
      return withMysqlAdmin(async (conn) => {
        const [rows] = await conn.query<mysql.RowDataPacket[]>(
          "select 1 from information_schema.processlist where id = ? and info like '%sleep%'",
          [session],
        );
        return rows.length > 0;
      });
    }

    it.each([
      { when: 'while a query of the withStore() transaction runs', busy: true },
      { when: 'while the withStore() transaction is open between two statements', busy: false },
    ])('a session killed $when: withStore() rejects with ConnectionLost, the app stays up, the next call works', async ({ busy }) => {
      const store = stores[dialect];
      const id = nextId++;
      send({ id, op: 'hold', store, dialect, busy });
      const { session } = (await message('the held transaction to report its session', (m) => m.id === id && 'session' in m)) as {
        session: number;
      };
      expect(session).toBeGreaterThan(0);
      if (busy) await until(`session ${session} to run its long query`, () => runningSleep(session));

      await kill(session);
      if (!busy) {
        expect(alive(host), `the app process is up after the kill:\n${hostOutput}`).toBe(true);
        expect(await request({ op: 'continue', hold: id })).toMatchObject({ ok: true });
      }

      const answer = await message('the held call to end', (m) => m.id === id && 'ok' in m);
      expect(answer).toMatchObject({ ok: false, storeopError: true, code: 'ConnectionLost', retryable: true });
      expect(String(answer.message)).toContain(store);
      expect(alive(host), `the app process is up:\n${hostOutput}`).toBe(true);

      // The dead connection was discarded: the next call on the same store gets a working one.
      expect(await request({ op: 'query', store, text: 'select 1 as one' })).toMatchObject({ ok: true, rows: [{ one: 1 }] });
      expect(alive(host)).toBe(true);
      expect(hostOutput).not.toMatch(STACK_LINE);
    });
  });
});

// ---------------------------------------------------------------------------------------------------

/**
 * Makes the store's first CREATE TABLE in `database` wait: a transaction of the test's own creates every
 * store table uncommitted, so a provisioning run's CREATE TABLE of the same name waits on it.
 */
async function blockCreateTable(databaseUrl: string): Promise<{ release(): Promise<void> }> {
  const client = new pg.Client({ connectionString: databaseUrl });
  client.on('error', () => {});
  await client.connect();
  await client.query('begin');
  for (const table of [...STORE_TABLES, HISTORY_TABLE]) await client.query(`create table ${pg.escapeIdentifier(table)} (crs_blocker int)`);
  return {
    async release() {
      await client.query('rollback').catch(() => {});
      await client.end().catch(() => {});
    },
  };
}

/** The pid of the backend in `database` whose CREATE TABLE waits for a lock. */
function waitingCreateTable(database: string): Promise<number> {
  return until(
    `a CREATE TABLE waiting in ${database}`,
    async () => {
      const rows = await postgresRows<{ pid: number }>(
        POSTGRES_URL,
        "select pid from pg_stat_activity where datname = $1 and wait_event_type = 'Lock' and query ilike '%create table%'",
        [database],
      );
      return rows[0]?.pid;
    },
    150_000,
  );
}

describe('storeop provision', () => {
  let database: TempDatabase;
  let cwd: string;

  beforeAll(async () => {
    database = await createPostgresDatabase('crs_cli');
    cwd = mkdtempSync(join(tmpdir(), 'storeop-crs-cli-'));
  });

  afterEach(() => killRunningCli());

  afterAll(async () => {
    await database?.drop();
    if (cwd) rmSync(cwd, { recursive: true, force: true });
  });

  it('whose backend is terminated mid-CREATE TABLE exits with one line naming ConnectionLost, no stack trace; the next run succeeds', async () => {
    const slug = crsSlug('cli');
    const args = ['provision', '--database-url', database.url, '--store', slug, '--no-seed'];
    const env = childEnv({ STOREOP_HOME: join(cwd, '.storeop') });
    const blocker = await blockCreateTable(database.url);
    let run: CliRun;
    try {
      const running = runStoreop(args, { cwd, env, timeoutMs: 180_000 });
      const pid = await waitingCreateTable(database.name);
      await terminatePostgresBackend(pid);
      run = await running;
    } finally {
      await blocker.release();
    }
    expect(run.signal).toBeNull();
    expect(run.code).toBe(1);
    // Progress lines go to stderr too; the error is one line of its own, the last one.
    const lines = run.stderr.split('\n').filter((line) => line.trim());
    expect(
      lines.filter((line) => line.startsWith('storeop provision:')),
      run.stderr,
    ).toEqual([lines.at(-1)]);
    expect(lines.at(-1)).toMatch(/^storeop provision: ConnectionLost: .*terminating connection due to administrator command/);
    expect(run.stderr).not.toMatch(STACK_LINE);

    const again = await runStoreop(args, { cwd, env, timeoutMs: 180_000 });
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toContain(`store ${slug} is ready`);
    const tables = await postgresRows<{ tablename: string }>(database.url, "select tablename from pg_tables where schemaname = 'public'");
    expect(tables.map((t) => t.tablename)).toEqual(expect.arrayContaining(STORE_TABLES));
  });
});

// ---------------------------------------------------------------------------------------------------

describe('storeop api', () => {
  const TOKEN = randomBytes(24).toString('hex');
  let master: TempDatabase;
  let storeDb: TempDatabase;
  let home: string;
  let api: ChildProcess;
  let apiUrl: string;
  let output = '';

  const call = (path: string, init: RequestInit = {}) =>
    fetch(`${apiUrl}${path}`, {
      ...init,
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json', ...(init.headers ?? {}) },
    });

  /** A store whose tables go into the test's existing database (connect mode). */
  const body = (slug: string) => ({
    store: { slug, displayName: `Shop ${slug}`, owner: `${slug}@example.com`, plan: 'starter' },
    database: {
      engine: 'postgresql',
      mode: 'connect',
      seed: false,
      connection: { host: '127.0.0.1', port: 5432, database: storeDb.name, credentialsSecretRef: { name: 'pg' } },
    },
    secrets: { pg: { username: 'postgres', password: 'crs-unused' } },
  });

  async function job(jobId: string): Promise<{ status: string; error: string | null }> {
    return until(
      `job ${jobId} to end`,
      async () => {
        const response = await call(`/v1/provision/${jobId}/status`);
        expect(response.status).toBe(200);
        const status = (await response.json()) as { status: string; error: string | null };
        return status.status === 'succeeded' || status.status === 'failed' ? status : undefined;
      },
      240_000,
    );
  }

  beforeAll(async () => {
    master = await createPostgresDatabase('crs_api_master');
    storeDb = await createPostgresDatabase('crs_api_store');
    home = mkdtempSync(join(tmpdir(), 'storeop-crs-api-'));
    const port = await freePort();
    apiUrl = `http://127.0.0.1:${port}`;
    const { createHash } = await import('node:crypto');
    api = spawn(
      nodeBinary,
      storeopArgs(['api', '--bind-address', `127.0.0.1:${port}`, '--master-database-url', master.url, '--home', home]),
      {
        cwd: home,
        env: childEnv({
          STOREOP_ENCRYPTION_KEYS: Keyring.generateSpec('crs'),
          STOREOP_API_TOKEN_HASHES: createHash('sha256').update(TOKEN).digest('hex'),
        }),
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    for (const stream of [api.stdout, api.stderr]) stream?.on('data', (d: Buffer) => (output += d.toString()));
    await until(
      'storeop api to answer',
      async () => {
        if (!alive(api)) throw new Error(`storeop api exited:\n${output}`);
        return fetch(`${apiUrl}/v1/openapi.json`).then(
          (r) => r.ok || undefined,
          () => undefined,
        );
      },
      120_000,
    );
  });

  afterAll(async () => {
    if (api && alive(api)) api.kill('SIGKILL');
    await storeDb?.drop();
    await master?.drop();
    if (home) rmSync(home, { recursive: true, force: true });
  });

  it('a job whose backend is terminated mid-CREATE TABLE fails with ConnectionLost; the server stays up and the next job succeeds', async () => {
    const slug = crsSlug('api');
    const blocker = await blockCreateTable(storeDb.url);
    let failed: { status: string; error: string | null };
    try {
      const accepted = await call('/v1/provision', { method: 'POST', body: JSON.stringify(body(slug)) });
      expect(accepted.status, await accepted.clone().text()).toBe(202);
      const { jobId } = (await accepted.json()) as { jobId: string };
      const pid = await waitingCreateTable(storeDb.name);
      await terminatePostgresBackend(pid);
      failed = await job(jobId);
    } finally {
      await blocker.release();
    }
    expect(failed.status).toBe('failed');
    expect(failed.error).toMatch(/connection was lost|terminat/i);
    const [row] = await postgresRows<{ error_code: string }>(
      master.url,
      'select j.error_code from provisioning_jobs j join stores s on s.id = j.store_id where s.slug = $1',
      [slug],
    );
    expect(row?.error_code).toBe('ConnectionLost');

    expect(alive(api), output).toBe(true);
    expect((await fetch(`${apiUrl}/v1/openapi.json`)).status).toBe(200);

    // The same store again: a new job on fresh connections succeeds.
    const again = await call('/v1/provision', { method: 'POST', body: JSON.stringify(body(slug)) });
    expect(again.status, await again.clone().text()).toBe(202);
    const next = await job(((await again.json()) as { jobId: string }).jobId);
    expect(next, output.slice(-4000)).toMatchObject({ status: 'succeeded', error: null });
    expect(alive(api)).toBe(true);
    expect(output).not.toMatch(STACK_LINE);
  });
});

// ---------------------------------------------------------------------------------------------------

describe('in this process: the master pool and the admin session', () => {
  const uncaught: unknown[] = [];
  const onUncaught = (error: unknown) => uncaught.push(error);
  const cleanup = new StoreCleanup();
  let masterDb: TempDatabase;
  let home: string;

  beforeAll(async () => {
    process.on('uncaughtException', onUncaught);
    masterDb = await createPostgresDatabase('crs_master_pool');
    home = mkdtempSync(join(tmpdir(), 'storeop-crs-master-'));
  });

  beforeEach(() => {
    uncaught.length = 0;
  });

  afterAll(async () => {
    process.off('uncaughtException', onUncaught);
    try {
      await cleanup.run();
    } finally {
      await masterDb?.drop();
      if (home) rmSync(home, { recursive: true, force: true });
    }
  });

  it('a PostgreSQL master session terminated inside a transaction fails that transaction only; the next query works', async () => {
    const master = await openMaster({ url: masterDb.url, home });
    try {
      const error = await master.db
        .transaction()
        .execute(async (trx) => {
          const { rows } = await sql<{ pid: number }>`select pg_backend_pid() as pid`.execute(trx);
          await terminatePostgresBackend(Number(rows[0]?.pid));
          await sql`select 1`.execute(trx);
        })
        .then(
          () => undefined,
          (e: unknown) => e,
        );
      expect(isConnectionLost(error), String(error)).toBe(true);
      expect(uncaught).toEqual([]);
      const { rows } = await sql<{ one: number }>`select 1 as one`.execute(master.db);
      expect(rows).toEqual([{ one: 1 }]);
    } finally {
      await master.close();
    }
  });

  it('an admin session terminated while it waits for the admin lock fails the run with ConnectionLost; the next run succeeds', async () => {
    const slug = crsSlug('admin');
    const target = cleanup.track(postgresCreateTarget(), slug);
    const database = `store_${slug.replaceAll('-', '_')}`;
    const hold = await holdPostgresAdminLock(database);
    let error: unknown;
    try {
      const running = provision({ slug, target, password: `crs-${randomBytes(8).toString('hex')}`, seed: false });
      const failed = running.then(
        () => undefined,
        (e: unknown) => e,
      );
      const pid = await until('the run to wait for the admin lock', async () => {
        // The session waiting for this store's admin lock key (a bigint advisory lock: classid is its high half).
        const rows = await postgresRows<{ pid: number }>(
          POSTGRES_URL,
          `select pid from pg_locks where locktype = 'advisory' and not granted and objsubid = 1
             and ((classid::bigint << 32) | objid::bigint) = hashtextextended($1, 0)`,
          [adminLockKey(database)],
        );
        return rows[0]?.pid;
      });
      await terminatePostgresBackend(pid);
      error = await failed;
    } finally {
      await hold.close();
    }
    expect(isStoreopError(error, 'ConnectionLost'), String(error)).toBe(true);
    expect((error as { retryable: boolean }).retryable).toBe(true);
    expect(uncaught).toEqual([]);
    const result = await provision({ slug, target, password: `crs-${randomBytes(8).toString('hex')}`, seed: false });
    expect(result.tablesCreated).toBe(STORE_TABLES.length);
  });
});
