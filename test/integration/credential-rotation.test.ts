// Rotating a store role's password through the store service, on MariaDB and on a PostgreSQL cluster of
// the test's own that checks passwords (the shared one trusts every login): the old password no longer logs
// in and the new one does (real `psql` and `mysql`), a ConnectionManager query loop running across the
// rotation sees no failed query while a session opened before it keeps working, a rotation stopped after
// any step is finished by the next run, and the read-only user reads but cannot write, also tables made later.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { engineFor } from '../../src/engines/index.js';
import { generatePassword } from '../../src/engines/password.js';
import type { CreateTarget, TenantConnection } from '../../src/engines/target.js';
import { connectionUrl } from '../../src/engines/url.js';
import { ConnectionManager } from '../../src/index.js';
import type { MasterDatabase } from '../../src/master/database.js';
import { readActiveDatabaseConfig } from '../../src/master/integrations.js';
import { type MasterContext, pendingPassword, provisionStore } from '../../src/stores/provision-store.js';
import { type RotationStep, rotateStoreCredentials } from '../../src/stores/rotate-credentials.js';
import { mysqlClient, psql } from '../security/connection-urls.clients.js';
import { postgresMaster, type TestMaster } from '../support/master.js';
import { eventuallyWithLogs } from '../support/operator.js';
import { type PasswordPostgres, startPasswordPostgres } from '../support/password-postgres.js';
import { mysqlCreateTarget, StoreCleanup, uniqueSlug } from '../support/store-db.js';

const TIMEOUT = 240_000;
const STEPS: RotationStep[] = ['kept', 'altered', 'registered', 'published'];

let tm: TestMaster;
let master: MasterDatabase;
let ctx: MasterContext;
let passwordPostgres: PasswordPostgres;
const cleanup = new StoreCleanup();

beforeAll(async () => {
  tm = await postgresMaster.create();
  master = await tm.open();
  ctx = { master, keyring: tm.keyring, actor: 'test' };
  passwordPostgres = await startPasswordPostgres();
}, TIMEOUT);

afterAll(async () => {
  await cleanup.run();
  await passwordPostgres?.stop();
  await master?.close();
  await tm?.destroy();
}, TIMEOUT);

/** The real client of the engine, on the connection's URL: the first value of `select`. */
function client(connection: TenantConnection, sqlText: string): Promise<string> {
  const url = connectionUrl(connection, { includePassword: true });
  return connection.engine === 'mysql' ? mysqlClient(url, sqlText) : psql(url, sqlText);
}

const REFUSED_LOGIN = /password authentication failed|Access denied/;

const ENGINES = [
  { name: 'MariaDB', target: (): CreateTarget => mysqlCreateTarget() },
  { name: 'PostgreSQL (scram-sha-256)', target: (): CreateTarget => passwordPostgres.createTarget() },
];

describe.each(ENGINES)('credentials on $name', ({ target: makeTarget }) => {
  async function provisioned() {
    const slug = uniqueSlug();
    const target = cleanup.track(makeTarget(), slug) as CreateTarget;
    const { store, result } = await provisionStore(ctx, { slug, name: `Shop ${slug}` }, { target, seed: false });
    return { store: { id: store.id, slug }, target, connection: result.connection };
  }

  it(
    'rotates: the old password no longer logs in, the new one does, and a ConnectionManager query loop sees no failed query',
    async () => {
      const { store, target, connection: before } = await provisioned();
      const closes: string[] = [];
      const manager = await ConnectionManager.open({
        master,
        keyring: tm.keyring,
        revalidateMs: 0,
        poolSize: 2,
        onPoolClose: (_id, reason) => closes.push(reason),
      });
      // A session opened before the rotation, on a manager of its own: it keeps working after it.
      const pinnedManager = await ConnectionManager.open({ master, keyring: tm.keyring });
      let rotated!: () => void;
      const rotationDone = new Promise<void>((resolve) => (rotated = resolve));
      const pinned = pinnedManager.withStore(store.id, (db) =>
        db.connection().execute(async (session) => {
          await session.selectFrom('products').select('id').execute();
          await rotationDone;
          return session.selectFrom('products').select('id').execute();
        }),
      );

      const failures: unknown[] = [];
      const done = [0, 0, 0];
      let running = true;
      const loops = done.map(async (_, i) => {
        while (running) {
          try {
            await manager.query(store.id, 'select count(*) as n from products');
            done[i] = (done[i] as number) + 1;
          } catch (error) {
            failures.push(error);
          }
        }
      });
      const allPassed = (n: number) => () => Promise.resolve(done.every((d) => d >= n));
      try {
        await eventuallyWithLogs('the query loops running', allPassed(5), () => '', 60_000);
        const { connection: after, resumed } = await rotateStoreCredentials(ctx, {
          store,
          target,
          onStepDone: async (step) => {
            if (step !== 'altered') return;
            // The role has the new password, the master DB not yet: a pool opened now logs in with the old
            // one. Make the loops open one, and go on once a login was refused (the retry path runs).
            await manager.invalidate(store.id);
            await eventuallyWithLogs(
              'a refused login in the loops',
              () => Promise.resolve(closes.includes('auth-failed')),
              () => '',
              60_000,
            );
          },
        });
        rotated();
        expect(resumed).toBe(false);
        const reached = Math.max(...done);
        await eventuallyWithLogs('the loops going on after the rotation', allPassed(reached + 5), () => '', 60_000);
        running = false;
        await Promise.all(loops);
        expect(failures).toEqual([]);
        expect(await pinned).toEqual([]);

        expect(after.password).not.toBe(before.password);
        await expect(client(before, 'select 1')).rejects.toThrow(REFUSED_LOGIN);
        expect(await client(after, 'select 1')).toBe('1');
        const active = await readActiveDatabaseConfig(master.db, tm.keyring, store.id);
        expect(active?.connection.password).toBe(after.password);
        expect(await pendingPassword(master.db, tm.keyring, store.id)).toBeUndefined();
        const audit = await tm.sql(`select details from audit_logs where store_id = $1 and action = 'store.credentials.rotated'`, [
          store.id,
        ]);
        expect(JSON.stringify(audit)).not.toContain(after.password as string);
        expect(audit).toHaveLength(1);
      } finally {
        running = false;
        rotated();
        await Promise.allSettled([...loops, pinned]);
        await manager.close();
        await pinnedManager.close();
      }
    },
    TIMEOUT,
  );

  it.each(STEPS)(
    'a rotation stopped after step %s is finished by the next run: one working password, the master DB and the Secret agree',
    async (stop) => {
      const { store, target, connection: before } = await provisioned();
      let published: TenantConnection | undefined;
      const publish = async (c: TenantConnection) => {
        published = c;
      };
      await expect(
        rotateStoreCredentials(ctx, {
          store,
          target,
          publish,
          onStepDone: (step) => {
            if (step === stop) throw new Error(`crash after ${step}`);
          },
        }),
      ).rejects.toThrow(`crash after ${stop}`);
      const pending = await pendingPassword(master.db, tm.keyring, store.id);
      expect(pending).toBeDefined();

      const { connection: after, resumed } = await rotateStoreCredentials(ctx, { store, target, publish });
      expect(resumed).toBe(true);
      expect(after.password).toBe(pending);
      expect(published?.password).toBe(after.password);
      expect((await readActiveDatabaseConfig(master.db, tm.keyring, store.id))?.connection.password).toBe(after.password);
      expect(await pendingPassword(master.db, tm.keyring, store.id)).toBeUndefined();
      await expect(client(before, 'select 1')).rejects.toThrow(REFUSED_LOGIN);
      expect(await client(after, 'select 1')).toBe('1');
    },
    TIMEOUT,
  );

  it(
    'gives the read-only user SELECT on the store tables, also those made later, and nothing else; turning it off or deprovisioning drops it',
    async () => {
      const { store, target, connection: owner } = await provisioned();
      const engine = engineFor(target.engine);
      const ensure = engine.ensureReadOnlyUser?.bind(engine) as NonNullable<typeof engine.ensureReadOnlyUser>;
      const readOnly = await ensure(target, store.slug, generatePassword());
      expect(readOnly.user).not.toBe(owner.user);
      expect(await client(readOnly, 'select count(*) from products')).toBe('0');
      await expect(client(readOnly, `insert into categories (name, slug) values ('x', 'x')`)).rejects.toThrow(/denied/);
      await expect(client(readOnly, 'create table intruder (id int)')).rejects.toThrow(/denied/);
      // A table the store role makes afterwards is readable too (default privileges; MySQL's grant is on the database).
      await client(owner, 'create table later_table (id int)');
      await client(owner, 'insert into later_table values (7)');
      expect(await client(readOnly, 'select id from later_table')).toBe('7');
      // Idempotent, and a rotation of its password takes the old one away.
      const rotated = await ensure(target, store.slug, generatePassword());
      await expect(client(readOnly, 'select 1')).rejects.toThrow(REFUSED_LOGIN);
      expect(await client(rotated, 'select 1')).toBe('1');

      // Turned off: dropped (twice is no error); turned on again: back, with its grants.
      const drop = engine.dropReadOnlyUser?.bind(engine) as NonNullable<typeof engine.dropReadOnlyUser>;
      await drop(target, store.slug);
      await drop(target, store.slug);
      await expect(client(rotated, 'select 1')).rejects.toThrow(REFUSED_LOGIN);
      const again = await ensure(target, store.slug, generatePassword());
      expect(await client(again, 'select count(*) from later_table')).toBe('1');

      await engine.deprovision(target, store.slug);
      await expect(client(again, 'select 1')).rejects.toThrow(REFUSED_LOGIN);
    },
    TIMEOUT,
  );
});
