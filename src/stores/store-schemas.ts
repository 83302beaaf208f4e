// StoreSchemas without a cluster (storeop apply, storeop schema plan): a declared version is reviewed against
// the version the master DB admitted last (the change rules; a version never changes) before anything runs,
// then admitted; a Store's spec.schemaRef resolves to the manifests' version, else the one admitted last,
// else (storeop-default) the built-in schema.

import type { Kysely } from 'kysely';
import { DEFAULT_STORE_SCHEMA_NAME, type StoreSchemaSpec } from '../api/store-schema.js';
import { StoreopError } from '../errors.js';
import {
  admitSchemaVersion,
  findSchemaVersion,
  latestSchemaVersion,
  type SchemaVersionRecord,
  specChecksum,
} from '../master/schema-versions.js';
import type { MasterDB } from '../master/types.js';
import { STORE_TARGET_SCHEMA } from '../provisioning/pipeline.js';
import { classifyChanges, describeRefusals, refusedChanges, type SchemaChange } from '../schema/changes.js';
import { schemaFromSpec } from '../schema/from-spec.js';
import type { TargetSchema } from '../schema/target-schema.js';

export interface DeclaredSchema {
  name: string;
  spec: StoreSchemaSpec;
  /** "file.yaml: document 2", for messages. */
  origin: string;
}

export interface SchemaReview {
  schema: DeclaredSchema;
  /** The version admitted last, which the declared one is compared with; none for a new schema. */
  previous: SchemaVersionRecord | undefined;
  /** Every difference from `previous` (none when the declared version is the one admitted). */
  changes: SchemaChange[];
  /** Why the version cannot be admitted: refused destructive changes, another spec under an admitted version. */
  problems: string[];
}

/** Reviews a declared version against the master DB; writes nothing. */
export async function reviewSchema(db: Kysely<MasterDB>, schema: DeclaredSchema): Promise<SchemaReview> {
  const { name, spec } = schema;
  const previous = await latestSchemaVersion(db, name);
  const same = previous?.version === spec.version ? previous : await findSchemaVersion(db, name, spec.version);
  return reviewAgainst(schema, previous, same);
}

/**
 * Reviews a declared version against the version it follows (`previous`) and the record of its own version
 * number, if that was admitted before (`same`): the change rules, and a version never changes. Pure.
 */
export function reviewAgainst(
  schema: DeclaredSchema,
  previous: SchemaVersionRecord | undefined,
  same: SchemaVersionRecord | undefined,
): SchemaReview {
  const { spec } = schema;
  if (same) {
    const problems =
      same.checksum === specChecksum(spec)
        ? []
        : [
            `spec.version: version ${spec.version} was admitted on ${same.firstSeenAt.toISOString()} with another spec; a version never changes: give the new spec a new spec.version`,
          ];
    return { schema, previous, changes: same === previous ? [] : classifyChanges(previous?.spec, spec), problems };
  }
  const changes = classifyChanges(previous?.spec, spec);
  const refused = refusedChanges(changes);
  return { schema, previous, changes, problems: refused.length ? [describeRefusals(spec.version, refused)] : [] };
}

export async function admitSchema(db: Kysely<MasterDB>, review: SchemaReview): Promise<SchemaVersionRecord> {
  if (review.problems.length)
    throw new StoreopError('InvalidSpec', `StoreSchema ${review.schema.name}: ${review.problems.join('; ')}`, { retryable: false });
  return admitSchemaVersion(db, review.schema.name, review.schema.spec);
}

/** The schema a Store is provisioned with: its name, version and TargetSchema. */
export interface ResolvedSchema {
  name: string;
  version: string;
  target: TargetSchema;
}

/** Resolves spec.schemaRef names to TargetSchemas, one object per name (the pipeline memoises per object). */
export class SchemaResolver {
  readonly #resolved = new Map<string, { target: TargetSchema; version: string }>();

  constructor(
    private readonly db: Kysely<MasterDB>,
    private readonly declared: ReadonlyMap<string, StoreSchemaSpec>,
  ) {}

  /** The schema a Store names (undefined: storeop-default). InvalidSpec naming spec.schemaRef.name when it is unknown. */
  async resolve(name: string | undefined): Promise<ResolvedSchema> {
    const schemaName = name ?? DEFAULT_STORE_SCHEMA_NAME;
    let found = this.#resolved.get(schemaName);
    if (!found) {
      const spec = this.declared.get(schemaName) ?? (await latestSchemaVersion(this.db, schemaName))?.spec;
      if (spec) found = { target: schemaFromSpec(spec, schemaName), version: spec.version };
      else if (schemaName === DEFAULT_STORE_SCHEMA_NAME) found = { target: STORE_TARGET_SCHEMA, version: STORE_TARGET_SCHEMA.version };
      else
        throw new StoreopError(
          'InvalidSpec',
          `spec.schemaRef.name: StoreSchema ${schemaName} is neither in the manifests nor admitted in the master DB`,
          { retryable: false },
        );
      this.#resolved.set(schemaName, found);
    }
    return { name: schemaName, ...found };
  }
}
