// The StoreSchema versions storeop admitted (migration 0005): written when a version is admitted, read to
// check a store against the version it is at. A version is immutable: admitting the same name and version
// with another spec is a Conflict (bump spec.version instead).
import { createHash } from 'node:crypto';
import type { Kysely } from 'kysely';
import { type StoreSchemaSpec, storeSchemaSpec } from '../api/store-schema.js';
import { StoreopError } from '../errors.js';
import type { MasterDB } from './types.js';

export interface SchemaVersionRecord {
  schemaName: string;
  version: string;
  spec: StoreSchemaSpec;
  checksum: string;
  firstSeenAt: Date;
}

/** JSON with every object's keys sorted: equal specs give equal text whatever order their maps were written in. */
function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value && typeof value === 'object') {
    const entries = Object.entries(value)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

/** What identifies a version's contents: the validated spec (defaults applied), its maps in any order. */
export function specChecksum(spec: StoreSchemaSpec): string {
  return createHash('sha256').update(canonicalJson(spec)).digest('hex');
}

type Row = { schema_name: string; version: string; spec: unknown; checksum: string; first_seen_at: Date };

function record(row: Row): SchemaVersionRecord {
  const spec = typeof row.spec === 'string' ? JSON.parse(row.spec) : row.spec;
  return {
    schemaName: row.schema_name,
    version: row.version,
    spec: storeSchemaSpec.parse(spec),
    checksum: row.checksum,
    firstSeenAt: row.first_seen_at,
  };
}

const COLUMNS = ['schema_name', 'version', 'spec', 'checksum', 'first_seen_at'] as const;

/**
 * Records `spec` as version spec.version of schema `name` (idempotent; concurrent admissions agree) and
 * returns the record. Conflict when that version was admitted with another spec.
 */
export async function admitSchemaVersion(db: Kysely<MasterDB>, name: string, spec: StoreSchemaSpec): Promise<SchemaVersionRecord> {
  const checksum = specChecksum(spec);
  await db
    .insertInto('store_schema_versions')
    .values({ schema_name: name, version: spec.version, spec: JSON.stringify(spec), checksum })
    .onConflict((oc) => oc.columns(['schema_name', 'version']).doNothing())
    .execute();
  const admitted = await findSchemaVersion(db, name, spec.version);
  if (!admitted) throw new StoreopError('ProvisioningFailed', `version ${spec.version} of StoreSchema ${name} was not recorded`);
  if (admitted.checksum !== checksum)
    throw new StoreopError(
      'Conflict',
      `StoreSchema ${name} version ${spec.version} was admitted on ${admitted.firstSeenAt.toISOString()} with another spec; a version never changes: give the new spec a new spec.version`,
      { retryable: false },
    );
  return admitted;
}

export async function findSchemaVersion(db: Kysely<MasterDB>, name: string, version: string): Promise<SchemaVersionRecord | undefined> {
  const row = await db
    .selectFrom('store_schema_versions')
    .select(COLUMNS)
    .where('schema_name', '=', name)
    .where('version', '=', version)
    .executeTakeFirst();
  return row ? record(row) : undefined;
}

/** Every admitted version of a schema, oldest first. */
export async function listSchemaVersions(db: Kysely<MasterDB>, name: string): Promise<SchemaVersionRecord[]> {
  const rows = await db
    .selectFrom('store_schema_versions')
    .select(COLUMNS)
    .where('schema_name', '=', name)
    .orderBy('first_seen_at')
    .orderBy('version')
    .execute();
  return rows.map(record);
}

/** The version admitted last: the one the schema is at (spec.version, once admitted). */
export async function latestSchemaVersion(db: Kysely<MasterDB>, name: string): Promise<SchemaVersionRecord | undefined> {
  return (await listSchemaVersions(db, name)).at(-1);
}
