// Issue 12 finding 9, encryption hygiene: a GCM tag cut to 4 bytes was accepted, duplicate key ids were
// accepted (the last one winning), and the additional authenticated data bound only the store id, so a
// secret could be moved to another row or relabelled. Envelopes written before (v1) must still be read,
// and `storeop master rotate-key` rewrites them in the current format.
import { createCipheriv, randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { isStoreopError } from '../../src/errors.js';
import { readActiveDatabaseConfig, saveDatabaseConfig } from '../../src/master/integrations.js';
import { CURRENT_ENVELOPE_VERSION, Keyring, type SecretBinding } from '../../src/master/keyring.js';
import { upsertStore } from '../../src/master/stores.js';
import type { EncryptedEnvelope } from '../../src/master/types.js';
import { MASTER_CASES, runCli, type TestMaster } from '../support/master.js';
import { mysqlEndpoint } from '../support/store-db.js';

const binding: SecretBinding = { table: 'integration_configs', rowId: 'row-1', field: 'secrets', storeId: 'store-1' };
const rawKey = (spec: string) => Buffer.from(spec.slice(spec.indexOf(':') + 1), 'base64');

/** The error a call throws; fails the test when it does not throw. */
function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (error) {
    return error;
  }
  throw new Error('expected a failure, but it succeeded');
}

function expectDecryptionFailed(fn: () => unknown, message?: RegExp): void {
  const error = thrown(fn);
  expect(isStoreopError(error, 'DecryptionFailed'), String(error)).toBe(true);
  if (message) expect((error as Error).message).toMatch(message);
}

/** An envelope exactly as storeop wrote it before this change: v1, bound to "table:storeId" only. */
function legacyEnvelope(spec: string, plaintext: string, storeId: string): EncryptedEnvelope {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', rawKey(spec), iv);
  cipher.setAAD(Buffer.from(`integration_configs:${storeId}`));
  const ct = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
  return {
    v: 1,
    alg: 'aes-256-gcm',
    kid: spec.slice(0, spec.indexOf(':')),
    iv: iv.toString('base64'),
    tag: cipher.getAuthTag().toString('base64'),
    ct: ct.toString('base64'),
  };
}

describe('Keyring', () => {
  const spec = Keyring.generateSpec('cry-k1');
  const keyring = Keyring.parse(spec);

  it('round-trips a secret in the current envelope format, with a 16-byte tag', () => {
    const envelope = keyring.encrypt('cry-secret-value', binding);
    expect(envelope).toMatchObject({ v: CURRENT_ENVELOPE_VERSION, alg: 'aes-256-gcm', kid: 'cry-k1' });
    expect(Buffer.from(envelope.tag, 'base64')).toHaveLength(16);
    expect(keyring.decrypt(envelope, binding)).toBe('cry-secret-value');
    expect(keyring.isCurrent(envelope)).toBe(true);
  });

  it('refuses a tag truncated to 4, 8 or 12 bytes (GCM would otherwise check only that prefix)', () => {
    const envelope = keyring.encrypt('cry-secret-value', binding);
    for (const bytes of [4, 8, 12, 15]) {
      const tag = Buffer.from(envelope.tag, 'base64').subarray(0, bytes).toString('base64');
      expectDecryptionFailed(() => keyring.decrypt({ ...envelope, tag }, binding), /tag must be 16 bytes/);
    }
    // A legacy (v1) envelope with a cut tag is refused too.
    const legacy = legacyEnvelope(spec, 'cry-old', binding.storeId);
    const tag = Buffer.from(legacy.tag, 'base64').subarray(0, 4).toString('base64');
    expectDecryptionFailed(() => keyring.decrypt({ ...legacy, tag }, binding), /tag must be 16 bytes/);
  });

  it('refuses a key id listed twice instead of letting the last one win', () => {
    const other = Keyring.generateSpec('cry-k1');
    const error = thrown(() => Keyring.parse(`${spec},${other}`));
    expect(isStoreopError(error, 'InvalidSpec')).toBe(true);
    expect((error as Error).message).toBe('encryption key id cry-k1 is listed more than once');
    for (const s of [spec, other]) expect((error as Error).message).not.toContain(s.split(':')[1]);
    const error2 = thrown(
      () =>
        new Keyring([
          { id: 'a', key: randomBytes(32) },
          { id: 'b', key: randomBytes(32) },
          { id: 'a', key: randomBytes(32) },
        ]),
    );
    expect(isStoreopError(error2, 'InvalidSpec')).toBe(true);
  });

  it('binds the table, row, field, store and key id: a secret moved to any other place does not decrypt', () => {
    const envelope = keyring.encrypt('cry-secret-value', binding);
    for (const moved of [
      { ...binding, rowId: 'row-2' },
      { ...binding, field: 'other' },
      { ...binding, storeId: 'store-2' },
      { ...binding, table: 'platform_settings' },
    ]) {
      expectDecryptionFailed(() => keyring.decrypt(envelope, moved), /failed authentication/);
    }
    // Relabelled with another key id that holds the same key bytes: refused, the key id is authenticated.
    const twin = new Keyring([
      { id: 'cry-k1', key: rawKey(spec) },
      { id: 'cry-k2', key: rawKey(spec) },
    ]);
    expect(twin.decrypt(envelope, binding)).toBe('cry-secret-value');
    expectDecryptionFailed(() => twin.decrypt({ ...envelope, kid: 'cry-k2' }, binding), /failed authentication/);
  });

  it('still reads v1 envelopes (bound to the store only), and reports them as due for rotation', () => {
    const legacy = legacyEnvelope(spec, 'cry-old-password', binding.storeId);
    expect(keyring.decrypt(legacy, binding)).toBe('cry-old-password');
    expect(keyring.decrypt(legacy, { ...binding, rowId: 'any-row' })).toBe('cry-old-password');
    expect(keyring.isCurrent(legacy)).toBe(false);
    expectDecryptionFailed(() => keyring.decrypt(legacy, { ...binding, storeId: 'store-2' }), /failed authentication/);
  });

  it('refuses a malformed envelope naming the field, and an unknown key id naming it, without any key material', () => {
    const envelope = keyring.encrypt('cry-secret-value', binding);
    expectDecryptionFailed(() => keyring.decrypt({ ...envelope, iv: 'AAAA' }, binding), /iv: iv must be 12 bytes/);
    expectDecryptionFailed(() => keyring.decrypt({ ...envelope, v: 3 }, binding), /malformed: v:/);
    expectDecryptionFailed(() => keyring.decrypt({ ...envelope, alg: 'aes-128-cbc' }, binding), /malformed: alg:/);
    expectDecryptionFailed(() => keyring.decrypt('not an envelope', binding), /malformed/);
    const error = thrown(() => keyring.decrypt({ ...envelope, kid: 'cry-gone' }, binding));
    expect((error as Error).message).toContain('"cry-gone"');
    expect((error as Error).message).not.toContain(spec.split(':')[1]);
  });
});

/** CLI runs and PGlite are slow on a loaded machine: a generous deadline, not a fixed wait. */
const MASTER_TEST_TIMEOUT_MS = 300_000;

describe.each(MASTER_CASES)('secrets in the master DB ($name)', (masterCase) => {
  let tm: TestMaster | undefined;
  afterEach(async () => {
    await tm?.destroy();
    tm = undefined;
  });
  async function freshMaster(): Promise<TestMaster> {
    tm = await masterCase.create();
    return tm;
  }

  const connection = (password: string) => ({ ...mysqlEndpoint(), engine: 'mysql' as const, database: 'cry_never_connected', password });
  const rawConfigs = (t: TestMaster) =>
    t.sql(
      `select id::text as id, store_id::text as store_id, is_active, config_data -> 'secrets' as secrets from integration_configs order by created_at`,
    );

  it(
    'a secret copied into another row, even of the same store, does not decrypt',
    async () => {
      const t = await freshMaster();
      const master = await t.open();
      try {
        const a = await upsertStore(master.db, { slug: 'cry-enc-a', name: 'A' });
        const b = await upsertStore(master.db, { slug: 'cry-enc-b', name: 'B' });
        await saveDatabaseConfig(master.db, t.keyring, a.id, connection('cry-password-a'));
        await saveDatabaseConfig(master.db, t.keyring, b.id, connection('cry-password-b'));
        const [rowA, rowB] = await rawConfigs(t);
        expect(rowA?.secrets).toMatchObject({ v: 2, kid: t.keyring.primaryId });
        expect((await readActiveDatabaseConfig(master.db, t.keyring, b.id))?.connection.password).toBe('cry-password-b');

        // Store A's envelope pasted into store B's row.
        await t.sql(`update integration_configs set config_data = jsonb_set(config_data, '{secrets}', $1::jsonb) where id = $2`, [
          JSON.stringify(rowA?.secrets),
          rowB?.id,
        ]);
        const error = await readActiveDatabaseConfig(master.db, t.keyring, b.id).catch((e: unknown) => e);
        expect(isStoreopError(error, 'DecryptionFailed')).toBe(true);

        // Store A's envelope in a new active row of store A itself: bound to the old row, it fails too.
        await t.sql(`update integration_configs set is_active = false where id = $1`, [rowA?.id]);
        await t.sql(
          `insert into integration_configs (store_id, integration_type, config_data, is_active)
         select store_id, integration_type, config_data, true from integration_configs where id = $1`,
          [rowA?.id],
        );
        const sameStore = await readActiveDatabaseConfig(master.db, t.keyring, a.id).catch((e: unknown) => e);
        expect(isStoreopError(sameStore, 'DecryptionFailed')).toBe(true);
        expect(String((sameStore as Error).message)).not.toContain('cry-password-a');
      } finally {
        await master.close();
      }
    },
    MASTER_TEST_TIMEOUT_MS,
  );

  it(
    'rows written in the v1 format are still read, and rotate-key rewrites them as v2 under the same key',
    async () => {
      const t = await freshMaster();
      const storeId = await (async () => {
        const master = await t.open();
        try {
          const store = await upsertStore(master.db, { slug: 'cry-enc-legacy', name: 'Legacy' });
          // As an existing home holds it: written by the previous storeop, v1 envelope.
          const { password: _, ...fields } = connection('');
          await t.sql(
            `insert into integration_configs (store_id, integration_type, config_data, is_active) values ($1, 'mysql', $2::jsonb, true)`,
            [
              store.id,
              JSON.stringify({
                connection: fields,
                secrets: legacyEnvelope(t.keysSpec, JSON.stringify({ password: 'cry-legacy-pw' }), store.id),
              }),
            ],
          );
          const config = await readActiveDatabaseConfig(master.db, t.keyring, store.id);
          expect(config?.connection.password).toBe('cry-legacy-pw');
          // Saving the same connection again is "unchanged": a v1 row needs no rewrite to be usable.
          expect(await saveDatabaseConfig(master.db, t.keyring, store.id, connection('cry-legacy-pw'))).toEqual({ changed: false });
          return store.id;
        } finally {
          await master.close();
        }
      })();
      const [before] = await rawConfigs(t);
      expect(before?.secrets).toMatchObject({ v: 1, kid: t.keyring.primaryId });

      const env = { STOREOP_HOME: t.home, STOREOP_ENCRYPTION_KEYS: t.keysSpec };
      const rotate = await runCli(['master', 'rotate-key', '--master-database-url', t.url], env);
      expect(rotate, rotate.stderr).toMatchObject({ code: 0, stdout: `re-encrypted 1 credential(s) under key ${t.keyring.primaryId}\n` });
      const [after] = await rawConfigs(t);
      expect(after?.id).toBe(before?.id);
      expect(after?.secrets).toMatchObject({ v: 2, kid: t.keyring.primaryId });
      expect(JSON.stringify(after?.secrets)).not.toContain('cry-legacy-pw');
      const again = await runCli(['master', 'rotate-key', '--master-database-url', t.url], env);
      expect(again, again.stderr).toMatchObject({ code: 0, stdout: `re-encrypted 0 credential(s) under key ${t.keyring.primaryId}\n` });

      const master = await t.open();
      try {
        expect((await readActiveDatabaseConfig(master.db, t.keyring, storeId))?.connection.password).toBe('cry-legacy-pw');
      } finally {
        await master.close();
      }
    },
    MASTER_TEST_TIMEOUT_MS,
  );
});
