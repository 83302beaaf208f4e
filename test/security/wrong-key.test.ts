// Issue 12 finding 8: with the wrong STOREOP_ENCRYPTION_KEYS, `storeop apply` reported "no changes" while it
// rotated the store's password and re-encrypted its config under the wrong key. Through the real CLI on a
// real PostgreSQL master with a MariaDB store (whose user really checks its password): a wrong key must
// fail with DecryptionFailed naming the store, exit non-zero, and change neither the config rows nor the
// password, which still logs in; the right key then finds nothing to change.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { openMaster } from '../../src/master/database.js';
import { readActiveDatabaseConfig } from '../../src/master/integrations.js';
import { Keyring } from '../../src/master/keyring.js';
import { runEveryStep } from '../support/cleanup.js';
import { type CliRun, killRunningCli, runStoreop } from '../support/cli.js';
import { createPostgresDatabase, postgresRows, type TempDatabase } from '../support/databases.js';
import { dropStoreLeftovers, openMysql, storeName, withStoreDb } from '../support/store-db.js';

const RUN_TIMEOUT_MS = 240_000;

const manifest = (slug: string) => `apiVersion: v1
kind: Secret
metadata:
  name: cry-mariadb-admin
stringData:
  username: root
  password: ""
---
apiVersion: storeop.dev/v1alpha1
kind: Store
metadata:
  name: ${slug}
spec:
  displayName: Wrong key shop
  plan: free
  database:
    engine: mysql
    mode: create
    server:
      host: 127.0.0.1
      port: 3306
      adminSecretRef:
        name: cry-mariadb-admin
`;

const describeRun = (run: CliRun) => `exit ${run.code}\n--- stdout\n${run.stdout}\n--- stderr\n${run.stderr}`;
const keyMaterial = (spec: string) => spec.slice(spec.indexOf(':') + 1);

describe('storeop apply with the wrong encryption key', () => {
  let master: TempDatabase | undefined;
  let slug: string | undefined;
  let dir: string | undefined;
  afterEach(async () => {
    killRunningCli();
    const [m, s, d] = [master, slug, dir];
    master = slug = dir = undefined;
    const steps: (() => unknown)[] = [];
    if (s) steps.push(() => dropStoreLeftovers('mysql', s));
    if (m) steps.push(() => m.drop());
    if (d) steps.push(() => rmSync(d, { recursive: true, force: true }));
    await runEveryStep('could not clean up after the wrong-key test', steps);
  });

  it(
    'fails with DecryptionFailed naming the store, exits 1, and leaves the config rows and the password untouched',
    async () => {
      master = await createPostgresDatabase('cry_master');
      slug = `cry-wk-${randomBytes(4).toString('hex')}`;
      dir = mkdtempSync(join(tmpdir(), 'cry-wrong-key-'));
      writeFileSync(join(dir, 'store.yaml'), manifest(slug));
      const masterUrl = master.url;
      const cwd = dir;
      const apply = (keys: string) => {
        const env: NodeJS.ProcessEnv = {};
        for (const [key, value] of Object.entries(process.env)) if (!key.startsWith('STOREOP_') && key !== 'CI') env[key] = value;
        env.STOREOP_ENCRYPTION_KEYS = keys;
        return runStoreop(['apply', '-f', 'store.yaml', '--master-database-url', masterUrl], { cwd, env, timeoutMs: RUN_TIMEOUT_MS });
      };
      const rightKeys = Keyring.generateSpec('cry-k1');

      const first = await apply(rightKeys);
      expect(first.code, describeRun(first)).toBe(0);

      const configRows = () =>
        postgresRows(
          masterUrl,
          `select c.id::text, c.is_active, c.config_data::text as data, c.updated_at::text as updated_at
             from integration_configs c join stores s on s.id = c.store_id where s.slug = $1 order by c.id`,
          [slug],
        );
      const before = await configRows();
      expect(before).toHaveLength(1);
      const opened = await openMaster({ url: masterUrl, home: join(cwd, '.storeop') });
      const password = await (async () => {
        try {
          const [store] = await postgresRows<{ id: string }>(masterUrl, 'select id::text from stores where slug = $1', [slug]);
          return (await readActiveDatabaseConfig(opened.db, Keyring.parse(rightKeys), store?.id as string))?.connection.password;
        } finally {
          await opened.close();
        }
      })();
      expect(password?.length).toBeGreaterThanOrEqual(16);
      const user = storeName(slug);
      const logsIn = (pw: string) =>
        withStoreDb(openMysql(user, { user, password: pw }), async (db) => (await db.query('select current_user() as me'))[0]?.me);
      expect(await logsIn(password as string)).toMatch(new RegExp(`^${user}@`));
      // MariaDB really checks it: another password is refused.
      await expect(logsIn('cry-not-the-password')).rejects.toThrow(/Access denied/);

      // The same key id with other bytes (a mistyped key), then a key id the rows were never written with.
      for (const wrongKeys of [Keyring.generateSpec('cry-k1'), Keyring.generateSpec('cry-other')]) {
        const run = await apply(wrongKeys);
        const output = run.stdout + run.stderr;
        expect(run.code, describeRun(run)).toBe(1);
        expect(output).toContain(
          `${slug}: failed: DecryptionFailed: cannot read the stored credentials of store ${slug}, so nothing was changed`,
        );
        expect(output).toContain('1 of 1 store(s) failed');
        expect(output).not.toMatch(/no changes|store\(s\) ready/);
        for (const secret of [password as string, keyMaterial(rightKeys), keyMaterial(wrongKeys)]) expect(output).not.toContain(secret);

        expect(await configRows()).toEqual(before);
        expect(await logsIn(password as string)).toMatch(new RegExp(`^${user}@`));
        const [job] = await postgresRows(
          masterUrl,
          `select j.status, j.error_code, j.error from provisioning_jobs j join stores s on s.id = j.store_id
            where s.slug = $1 order by j.created_at desc limit 1`,
          [slug],
        );
        expect(job).toMatchObject({ status: 'failed', error_code: 'DecryptionFailed' });
        expect(String(job?.error)).toContain(`store ${slug}`);
        expect(String(job?.error)).not.toContain(password);
        expect(await postgresRows(masterUrl, 'select database_status from stores where slug = $1', [slug])).toEqual([
          { database_status: 'active' },
        ]);
      }

      // The right key again: the password was never rotated, so there is nothing to change.
      const again = await apply(rightKeys);
      expect(again.code, describeRun(again)).toBe(0);
      expect(again.stdout.trimEnd().split('\n').at(-1)).toBe('1 store(s) ready; no changes');
      expect(await configRows()).toEqual(before);
      expect(await logsIn(password as string)).toMatch(new RegExp(`^${user}@`));
    },
    RUN_TIMEOUT_MS * 4 + 60_000,
  );
});
