// Connections stay bounded however many stores are provisioned at once (issue 19): at most the admin limit
// (a driver's worker count) + 2 admin sessions per database server, and never more master DB connections
// than its pool size. The peaks are sampled from the servers' own session lists (pg_stat_activity,
// information_schema.processlist) while the jobs run, for an admin role/user only this test uses.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adminConnectionLimit, NESTED_SLOTS, setAdminConnectionLimit } from '../../src/engines/admin-limit.js';
import type { CreateTarget } from '../../src/engines/target.js';
import { openMaster } from '../../src/master/database.js';
import { provision } from '../../src/provisioning/pipeline.js';
import { provisionStore } from '../../src/stores/provision-store.js';
import { runEveryStep } from '../support/cleanup.js';
import { uniqueName } from '../support/databases.js';
import { postgresMaster, type TestMaster } from '../support/master.js';
import {
  dropPostgresDatabase,
  mysqlAdmin,
  mysqlEndpoint,
  openMysql,
  postgresAdmin,
  postgresEndpoint,
  StoreCleanup,
  uniqueSlug,
  withStoreDb,
} from '../support/store-db.js';

const LIMIT = 2;
const JOBS = 8;
const ADMIN_PASSWORD = `Adm-${randomBytes(6).toString('hex')}`;

/** Runs `work` while sampling `count` as often as the server answers; the highest count seen, and work's result. */
async function peakWhile<T>(count: () => Promise<number>, work: Promise<T>): Promise<{ peak: number; samples: number; result: T }> {
  let done = false;
  let peak = 0;
  let samples = 0;
  const sampler = (async () => {
    while (!done) {
      peak = Math.max(peak, await count());
      samples++;
    }
  })();
  try {
    return { result: await work, peak, samples };
  } finally {
    done = true;
    await sampler;
  }
}

describe('admin sessions per database server', () => {
  const previousLimit = adminConnectionLimit();
  const cleanup = new StoreCleanup();
  const adminName = uniqueName('adm');
  const sharedDatabase = uniqueName('adm_shared');

  beforeAll(async () => {
    setAdminConnectionLimit(LIMIT);
    await postgresAdmin((c) => c.query(`create role "${adminName}" superuser login password '${ADMIN_PASSWORD}'`));
    await mysqlAdmin([
      `create user '${adminName}'@'%' identified by '${ADMIN_PASSWORD}'`,
      `grant all privileges on *.* to '${adminName}'@'%' with grant option`,
    ]);
  });
  afterAll(async () => {
    setAdminConnectionLimit(previousLimit);
    await runEveryStep('admin connection test cleanup failed', [
      () => cleanup.run(),
      () => dropPostgresDatabase(sharedDatabase),
      () => postgresAdmin((c) => c.query(`drop role if exists "${adminName}"`)),
      () => mysqlAdmin([`drop user if exists '${adminName}'@'%'`]),
    ]);
  });

  it(`PostgreSQL: ${JOBS} concurrent provisions (both isolations) never hold more than limit + 2 admin sessions`, async () => {
    const admin = { ...postgresEndpoint(), user: adminName, password: ADMIN_PASSWORD };
    const targets = Array.from({ length: JOBS }, (_, i) => {
      const slug = uniqueSlug();
      const target: CreateTarget =
        i % 2 === 0
          ? { engine: 'postgresql', mode: 'create', admin }
          : { engine: 'postgresql', mode: 'create', admin, isolation: 'schema', databaseName: sharedDatabase };
      cleanup.track(target, slug);
      return { slug, target };
    });
    const sessions = () =>
      postgresAdmin(async (c) => {
        const r = await c.query<{ n: number; other: number }>(
          `select count(*)::int as n, count(*) filter (where application_name <> 'storeop-admin')::int as other
           from pg_stat_activity where usename = $1`,
          [adminName],
        );
        expect(r.rows[0]?.other).toBe(0); // every admin session says what it is
        return r.rows[0]?.n ?? 0;
      });
    const { peak, samples, result } = await peakWhile(
      sessions,
      Promise.all(targets.map(({ slug, target }) => provision({ slug, target, password: 'Store-Pass-1', seed: false }))),
    );
    expect(result.every((r) => r.totalTables > 0 && r.tablesCreated === r.totalTables)).toBe(true);
    expect(samples).toBeGreaterThan(5);
    expect(peak).toBeGreaterThan(0);
    expect(peak).toBeLessThanOrEqual(LIMIT + NESTED_SLOTS);
  });

  it(`MariaDB: ${JOBS} concurrent provisions never hold more than limit + 2 admin sessions`, async () => {
    const admin = { ...mysqlEndpoint(), user: adminName, password: ADMIN_PASSWORD };
    const targets = Array.from({ length: JOBS }, () => {
      const slug = uniqueSlug();
      return { slug, target: cleanup.track({ engine: 'mysql', mode: 'create', admin } satisfies CreateTarget, slug) };
    });
    const sessions = () =>
      withStoreDb(openMysql('mysql'), async (db) => {
        const rows = await db.query('select count(*) as n from information_schema.processlist where user = ?', [adminName]);
        return Number(rows[0]?.n ?? 0);
      });
    const { peak, samples, result } = await peakWhile(
      sessions,
      Promise.all(targets.map(({ slug, target }) => provision({ slug, target, password: 'Store-Pass-1', seed: false }))),
    );
    expect(result.every((r) => r.tablesCreated === r.totalTables)).toBe(true);
    expect(samples).toBeGreaterThan(5);
    expect(peak).toBeGreaterThan(0);
    expect(peak).toBeLessThanOrEqual(LIMIT + NESTED_SLOTS);
  });
});

describe('the master DB pool', () => {
  const POOL = 2;
  let master: TestMaster;
  const cleanup = new StoreCleanup();

  beforeAll(async () => {
    master = await postgresMaster.create();
  });
  afterAll(async () => {
    await runEveryStep('master pool test cleanup failed', [() => cleanup.run(), () => master.destroy()]);
  });

  it(`${JOBS} concurrent store jobs use at most the configured ${POOL} master connections`, async () => {
    const db = await openMaster({ url: master.url, home: master.home, poolSize: POOL });
    const ctx = { master: db, keyring: master.keyring, actor: 'test' };
    const database = new URL(master.url).pathname.slice(1);
    try {
      const sessions = () =>
        postgresAdmin(async (c) => {
          const r = await c.query<{ n: number }>(
            `select count(*)::int as n from pg_stat_activity where datname = $1 and application_name = 'storeop-master'`,
            [database],
          );
          return r.rows[0]?.n ?? 0;
        });
      const jobs = Array.from({ length: JOBS }, () => {
        const slug = uniqueSlug();
        const target = cleanup.track({ engine: 'mysql', mode: 'create', admin: mysqlEndpoint() } satisfies CreateTarget, slug);
        return provisionStore(ctx, { slug, name: `Shop ${slug}` }, { target, seed: false });
      });
      const { peak, samples, result } = await peakWhile(sessions, Promise.all(jobs));
      expect(result).toHaveLength(JOBS);
      expect(samples).toBeGreaterThan(5);
      expect(peak).toBeGreaterThan(0);
      expect(peak).toBeLessThanOrEqual(POOL);
    } finally {
      await db.close();
    }
  });
});
