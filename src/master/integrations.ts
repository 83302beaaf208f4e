// A store's database connection in integration_configs: connection fields in clear, the password in an
// encrypted envelope bound to its row and store. At most one active config per store.
import { randomUUID } from 'node:crypto';
import { type Kysely, sql } from 'kysely';
import type { TenantConnection } from '../engines/target.js';
import { StoreopError } from '../errors.js';
import type { Keyring, SecretBinding } from './keyring.js';
import type { IntegrationType, MasterDB, StoredConfig } from './types.js';

export interface ActiveDatabaseConfig {
  id: string;
  storeId: string;
  type: IntegrationType;
  connection: TenantConnection;
  /** Changes whenever the config row does: lets caches notice credential rotation. */
  version: string;
}

/** What the `secrets` envelope of an integration_configs row is bound to. */
export const secretsBinding = (storeId: string, rowId: string): SecretBinding => ({
  table: 'integration_configs',
  rowId,
  field: 'secrets',
  storeId,
});

const INTEGRATION_TYPES: Record<TenantConnection['engine'], IntegrationType> = {
  postgresql: 'postgresql',
  mysql: 'mysql',
  pglite: 'pglite',
  supabase: 'supabase-database',
};
const integrationType = (connection: TenantConnection): IntegrationType => INTEGRATION_TYPES[connection.engine];

/** Fields of a connection that are secrets: they only ever land in the encrypted envelope. */
const SECRET_FIELDS = ['password', 'anonKey', 'serviceRoleKey'] as const;
type SecretFields = Partial<Record<(typeof SECRET_FIELDS)[number], string>>;

function toStored(keyring: Keyring, storeId: string, rowId: string, connection: TenantConnection): StoredConfig {
  const fields: Record<string, unknown> = { ...connection };
  const secrets: SecretFields = {};
  for (const key of SECRET_FIELDS) {
    if (connection[key] !== undefined) secrets[key] = connection[key];
    delete fields[key];
  }
  return {
    connection: fields,
    ...(Object.keys(secrets).length ? { secrets: keyring.encrypt(JSON.stringify(secrets), secretsBinding(storeId, rowId)) } : {}),
  };
}

function fromStored(keyring: Keyring, storeId: string, rowId: string, stored: StoredConfig): TenantConnection {
  const connection = { ...stored.connection } as unknown as TenantConnection;
  if (stored.secrets) {
    const secrets = JSON.parse(keyring.decrypt(stored.secrets, secretsBinding(storeId, rowId))) as SecretFields;
    for (const key of SECRET_FIELDS) if (secrets[key] !== undefined) connection[key] = secrets[key];
  }
  return connection;
}

const sameConnection = (a: TenantConnection, b: TenantConnection) =>
  JSON.stringify(Object.entries(a).sort()) === JSON.stringify(Object.entries(b).sort());

/** Makes `connection` the store's one active database config; unchanged configs are not rewritten. */
export async function saveDatabaseConfig(
  db: Kysely<MasterDB>,
  keyring: Keyring,
  storeId: string,
  connection: TenantConnection,
): Promise<{ changed: boolean }> {
  return db.transaction().execute(async (trx) => {
    // Serialise writers for this store so two registrations cannot both insert an active row: the store's
    // row locked and its active config read in one statement.
    const locked = await trx
      .selectFrom('stores')
      .leftJoin('integration_configs as ic', (join) => join.onRef('ic.store_id', '=', 'stores.id').on('ic.is_active', '=', true))
      .select(['ic.id', 'ic.integration_type', 'ic.config_data'])
      .where('stores.id', '=', storeId)
      .forUpdate('stores')
      .executeTakeFirst();
    const active = locked?.id ? (locked as { id: string; integration_type: IntegrationType; config_data: StoredConfig }) : undefined;
    if (active && active.integration_type === integrationType(connection)) {
      // An undecryptable config fails here (DecryptionFailed) rather than being overwritten: with the wrong
      // keys configured, replacing it would re-encrypt the store's credentials under those wrong keys.
      const current = fromStored(keyring, storeId, active.id, active.config_data);
      if (sameConnection(current, connection)) return { changed: false };
      await trx
        .updateTable('integration_configs')
        .set({ config_data: JSON.stringify(toStored(keyring, storeId, active.id, connection)), updated_at: sql`now()` })
        .where('id', '=', active.id)
        .execute();
      return { changed: true };
    }
    if (active)
      await trx.updateTable('integration_configs').set({ is_active: false, updated_at: sql`now()` }).where('id', '=', active.id).execute();
    const id = randomUUID(); // chosen here: the envelope is bound to the row's id
    await trx
      .insertInto('integration_configs')
      .values({
        id,
        store_id: storeId,
        integration_type: integrationType(connection),
        config_data: JSON.stringify(toStored(keyring, storeId, id, connection)),
        is_active: true,
      })
      .execute();
    return { changed: true };
  });
}

export async function deactivateDatabaseConfig(db: Kysely<MasterDB>, storeId: string): Promise<void> {
  await db
    .updateTable('integration_configs')
    .set({ is_active: false, updated_at: sql`now()` })
    .where('store_id', '=', storeId)
    .where('is_active', '=', true)
    .execute();
}

export async function readActiveDatabaseConfig(
  db: Kysely<MasterDB>,
  keyring: Keyring,
  storeId: string,
): Promise<ActiveDatabaseConfig | undefined> {
  const row = await db
    .selectFrom('integration_configs')
    .selectAll()
    .where('store_id', '=', storeId)
    .where('is_active', '=', true)
    .executeTakeFirst();
  if (!row) return undefined;
  return {
    id: row.id,
    storeId,
    type: row.integration_type,
    connection: fromStored(keyring, storeId, row.id, row.config_data),
    version: `${row.id}@${row.updated_at.toISOString()}`,
  };
}

/**
 * The active configs of many stores in one query (the usage collector reads a fleet's): decrypted one by one,
 * so a config that cannot be decrypted is that store's error, not the others'.
 */
export async function readActiveDatabaseConfigs(
  db: Kysely<MasterDB>,
  keyring: Keyring,
  storeIds: readonly string[],
): Promise<Map<string, ActiveDatabaseConfig | Error>> {
  if (storeIds.length === 0) return new Map();
  const rows = await db
    .selectFrom('integration_configs')
    .selectAll()
    .where('store_id', 'in', [...storeIds])
    .where('is_active', '=', true)
    .execute();
  const configs = new Map<string, ActiveDatabaseConfig | Error>();
  for (const row of rows) {
    try {
      configs.set(row.store_id, {
        id: row.id,
        storeId: row.store_id,
        type: row.integration_type,
        connection: fromStored(keyring, row.store_id, row.id, row.config_data),
        version: `${row.id}@${row.updated_at.toISOString()}`,
      });
    } catch (error) {
      configs.set(row.store_id, error as Error);
    }
  }
  return configs;
}

/** The version of the store's active config without decrypting it: cheap enough to check on every use. */
export async function activeConfigVersion(db: Kysely<MasterDB>, storeId: string): Promise<string | undefined> {
  const row = await db
    .selectFrom('integration_configs')
    .select(['id', 'updated_at'])
    .where('store_id', '=', storeId)
    .where('is_active', '=', true)
    .executeTakeFirst();
  return row ? `${row.id}@${row.updated_at.toISOString()}` : undefined;
}

/** The password of the store's active config, to re-adopt its role instead of rotating it. */
export async function knownPassword(db: Kysely<MasterDB>, keyring: Keyring, storeId: string): Promise<string | undefined> {
  return (await readActiveDatabaseConfig(db, keyring, storeId))?.connection.password;
}

/**
 * The password the store's role already has: its active config's, else the newest pending one (kept before
 * the role was created with it). One read for both, decrypted in that order (DecryptionFailed as knownPassword).
 */
export async function storedPassword(db: Kysely<MasterDB>, keyring: Keyring, storeId: string): Promise<string | undefined> {
  const rows = await db
    .selectFrom('integration_configs')
    .select(['id', 'is_active', 'config_data'])
    .where('store_id', '=', storeId)
    .where((eb) => eb.or([eb('is_active', '=', true), sql<boolean>`(config_data -> 'connection' ->> 'pending') = 'true'`]))
    .orderBy('is_active', 'desc')
    .orderBy('created_at', 'desc')
    .execute();
  const active = rows.find((r) => r.is_active);
  const fromActive = active && fromStored(keyring, storeId, active.id, active.config_data).password;
  if (fromActive !== undefined) return fromActive;
  const pending = rows.find((r) => !r.is_active);
  if (!pending?.config_data.secrets) return undefined;
  return (JSON.parse(keyring.decrypt(pending.config_data.secrets, secretsBinding(storeId, pending.id))) as { password?: string }).password;
}

/**
 * Re-encrypts every secret that is not under the primary key or not in the current envelope format (rows
 * written before secrets were bound to their row); returns how many rows changed. All or nothing.
 */
export async function reencryptAll(db: Kysely<MasterDB>, keyring: Keyring): Promise<number> {
  return db.transaction().execute(async (trx) => {
    const rows = await trx.selectFrom('integration_configs').select(['id', 'store_id', 'config_data']).forUpdate().execute();
    let changed = 0;
    for (const row of rows) {
      const secrets = row.config_data.secrets;
      if (!secrets || keyring.isCurrent(secrets)) continue;
      const binding = secretsBinding(row.store_id, row.id);
      const config: StoredConfig = { ...row.config_data, secrets: keyring.encrypt(keyring.decrypt(secrets, binding), binding) };
      await trx
        .updateTable('integration_configs')
        .set({ config_data: JSON.stringify(config), updated_at: sql`now()` })
        .where('id', '=', row.id)
        .execute();
      changed++;
    }
    return changed;
  });
}

export function assertConfigured(config: ActiveDatabaseConfig | undefined, storeId: string): ActiveDatabaseConfig {
  if (!config)
    throw new StoreopError('NoDatabaseConfigured', `store ${storeId} has no active database configuration`, { retryable: false });
  return config;
}
