// The periodic check's fast path (issue 19): verifyStore() of a store nothing changed costs one login as the
// store's role and one read-only query, counted on the wire by a relay the store's public host/port point at;
// any drift (a dropped table, a changed column, a lost history row, a login that no longer works) is found,
// and the full pipeline that follows repairs it and records a fingerprint the next check accepts.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DatabaseTarget } from '../../src/engines/target.js';
import { provision } from '../../src/provisioning/pipeline.js';
import { verifyStore } from '../../src/provisioning/verify.js';
import { runEveryStep } from '../support/cleanup.js';
import { uniqueName } from '../support/databases.js';
import {
  dropPostgresDatabase,
  mysqlAdmin,
  mysqlCreateTarget,
  mysqlEndpoint,
  openMysql,
  openPgliteFolder,
  openPostgres,
  postgresAdmin,
  postgresCreateTarget,
  postgresEndpoint,
  StoreCleanup,
  type StoreDb,
  storeName,
  uniqueSlug,
  withStoreDb,
} from '../support/store-db.js';
import { startWireCounter, type WireCounter, type WireProtocol } from '../support/wire-counter.js';

const PASSWORD = 'Fast-Path-Pass-1';
const SEED = {};
/** Statements that change something: none may reach the server during a check. */
const WRITES = /\b(insert|update|delete|alter|create|drop|grant|revoke|comment|truncate|set)\b/i;

interface FastPathCase {
  name: string;
  protocol: WireProtocol;
  server: { host: string; port: number };
  target(slug: string, publicPort: number): DatabaseTarget;
  /** The store's tables, opened as the server admin. */
  open(slug: string): Promise<StoreDb>;
  /** Makes the store role's login fail (PostgreSQL: NOLOGIN; MariaDB: the account locked). */
  disableLogin(slug: string): Promise<void>;
  cleanup?(): Promise<void>;
}

const sharedDatabase = uniqueName('fastpath_shared');

const CASES: FastPathCase[] = [
  {
    name: 'PostgreSQL (database isolation)',
    protocol: 'postgres',
    server: postgresEndpoint(),
    target: (_slug, publicPort) => postgresCreateTarget({ publicHost: '127.0.0.1', publicPort }),
    open: (slug) => openPostgres(storeName(slug)),
    disableLogin: (slug) => postgresAdmin((c) => c.query(`alter role "${storeName(slug)}" nologin`)).then(() => {}),
  },
  {
    name: 'PostgreSQL (schema isolation)',
    protocol: 'postgres',
    server: postgresEndpoint(),
    target: (_slug, publicPort) =>
      postgresCreateTarget({ isolation: 'schema', databaseName: sharedDatabase, publicHost: '127.0.0.1', publicPort }),
    open: (slug) => openPostgres(sharedDatabase, storeName(slug)),
    disableLogin: (slug) => postgresAdmin((c) => c.query(`alter role "${storeName(slug)}" nologin`)).then(() => {}),
    cleanup: () => dropPostgresDatabase(sharedDatabase),
  },
  {
    name: 'MariaDB',
    protocol: 'mysql',
    server: mysqlEndpoint(),
    target: (_slug, publicPort) => mysqlCreateTarget({ publicHost: '127.0.0.1', publicPort }),
    open: (slug) => openMysql(storeName(slug)),
    disableLogin: (slug) => mysqlAdmin([`alter user '${storeName(slug)}'@'%' account lock`]),
  },
];

/** Each drift, as the server admin makes it in the store's tables. */
const DRIFTS: Array<{ name: string; make(db: StoreDb): Promise<unknown> }> = [
  { name: 'a dropped table', make: (db) => db.query('drop table seo_settings') },
  { name: 'a column default removed', make: (db) => db.query('alter table products alter column created_at drop default') },
  { name: 'a column added', make: (db) => db.query('alter table products add column notes text') },
  { name: 'a history row deleted', make: (db) => db.query(`delete from storeop_schema_history where kind = 'seed'`) },
];

describe.each(CASES)('on $name', (c) => {
  let counter: WireCounter;
  const cleanup = new StoreCleanup();

  beforeAll(async () => {
    counter = await startWireCounter(c.protocol, c.server);
  });
  afterAll(async () => {
    await runEveryStep('fast path cleanup failed', [() => cleanup.run(), () => counter.close(), () => c.cleanup?.()]);
  });

  async function provisioned() {
    const slug = uniqueSlug();
    const target = cleanup.track(c.target(slug, counter.port), slug);
    const result = await provision({ slug, target, password: PASSWORD, seed: SEED });
    return { slug, target, result };
  }

  it('checks an unchanged store with one login and one read-only query per check, and writes nothing', async () => {
    const { slug, target, result } = await provisioned();
    expect(result.connection.port).toBe(counter.port); // the store's sessions go through the relay

    counter.reset();
    for (let check = 0; check < 3; check++) {
      const outcome = await verifyStore({ connection: result.connection, fingerprint: result.fingerprint, seeded: true });
      expect(outcome).toEqual({ kind: 'unchanged', serverVersion: result.serverVersion.replace(/ \(PGlite\)$/, '') });
    }
    expect(counter.connections).toBe(3);
    expect(counter.roundTrips).toBe(6); // per check: the login, then the one query
    expect(counter.statements).toHaveLength(3);
    for (const statement of counter.statements) {
      expect(statement).toMatch(/^(with|select)\b/);
      expect(statement.replace(/'[^']*'/g, "''")).not.toMatch(WRITES);
    }

    // A full run over the unchanged store changes nothing and records the same fingerprint.
    const again = await provision({ slug, target, password: PASSWORD, seed: SEED });
    expect(again.changed).toBe(false);
    expect(again.fingerprint).toBe(result.fingerprint);
  });

  it('answers drifted without connecting when the schema or seeding asked for changed', async () => {
    const { result } = await provisioned();
    counter.reset();
    const unseeded = await verifyStore({ connection: result.connection, fingerprint: result.fingerprint, seeded: false });
    expect(unseeded.kind).toBe('drifted');
    const otherSchema = await verifyStore({
      connection: result.connection,
      fingerprint: `0000/${result.fingerprint.split('/')[1]}`,
      seeded: true,
    });
    expect(otherSchema.kind).toBe('drifted');
    expect(counter.connections).toBe(0);
  });

  it.each(DRIFTS)('finds $name, and the full run repairs it to a fingerprint the next check accepts', async (drift) => {
    const { slug, target, result } = await provisioned();
    await withStoreDb(c.open(slug), (db) => drift.make(db));

    const found = await verifyStore({ connection: result.connection, fingerprint: result.fingerprint, seeded: true });
    expect(found.kind).toBe('drifted');

    const repaired = await provision({ slug, target, password: PASSWORD, seed: SEED });
    if (drift.name === 'a dropped table') {
      expect(repaired.changed).toBe(true);
      expect(repaired.applied.map((change) => change.table)).toContain('seo_settings');
      // The repair is recorded in the history, which the fingerprint covers: a new one, accepted from now on.
      expect(repaired.fingerprint).not.toBe(result.fingerprint);
    }
    const next = await verifyStore({ connection: repaired.connection, fingerprint: repaired.fingerprint, seeded: true });
    expect(next.kind).toBe('unchanged');
  });

  it('finds a login that no longer works, without the password in the reason; the full run enables it again', async () => {
    const { slug, target, result } = await provisioned();
    await c.disableLogin(slug);
    const found = await verifyStore({ connection: result.connection, fingerprint: result.fingerprint, seeded: true });
    expect(found.kind).toBe('drifted');
    if (found.kind === 'drifted') expect(found.reason).not.toContain(PASSWORD);

    if (c.protocol === 'mysql') {
      // The account stays locked (a full run does not unlock: that is the suspension's job); a wrong password fails too.
      await mysqlAdmin([`alter user '${storeName(slug)}'@'%' account unlock`]);
      const wrong = await verifyStore({
        connection: { ...result.connection, password: 'Not-The-Password-9' },
        fingerprint: result.fingerprint,
        seeded: true,
      });
      expect(wrong.kind).toBe('drifted');
      if (wrong.kind === 'drifted') expect(wrong.reason).not.toContain('Not-The-Password-9');
    } else {
      await provision({ slug, target, password: PASSWORD, seed: SEED }); // ALTER ROLE ... LOGIN
    }
    const next = await verifyStore({ connection: result.connection, fingerprint: result.fingerprint, seeded: true });
    expect(next.kind).toBe('unchanged');
  });
});

describe('on PGlite', () => {
  let root: string;
  const cleanup = new StoreCleanup();
  beforeAll(() => {
    root = mkdtempSync(join(tmpdir(), 'storeop-fastpath-'));
  });
  afterAll(async () => {
    await runEveryStep('PGlite fast path cleanup failed', [() => cleanup.run(), () => rmSync(root, { recursive: true, force: true })]);
  });

  it('checks the embedded store in place (no login to prove), finds a dropped table, and accepts the repaired one', async () => {
    const slug = uniqueSlug();
    const target = cleanup.track({ engine: 'pglite', mode: 'create', dataDir: join(root, slug), storesRoot: root }, slug);
    const result = await provision({ slug, target, seed: SEED });
    expect(await verifyStore({ connection: result.connection, fingerprint: result.fingerprint, seeded: true })).toMatchObject({
      kind: 'unchanged',
    });
    await withStoreDb(openPgliteFolder(join(root, slug)), (db) => db.query('drop table seo_settings'));
    expect((await verifyStore({ connection: result.connection, fingerprint: result.fingerprint, seeded: true })).kind).toBe('drifted');
    const repaired = await provision({ slug, target, seed: SEED });
    expect(repaired.changed).toBe(true);
    expect((await verifyStore({ connection: repaired.connection, fingerprint: repaired.fingerprint, seeded: true })).kind).toBe(
      'unchanged',
    );
  });
});
