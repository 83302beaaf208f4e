// The immutable fields of a store's database: which engine, server, database, schema or folder holds it.
// Recorded in the master DB when the store first becomes ready and compared on every apply from every
// driver, so a changed manifest can never silently move a store to another database (or drop the wrong one).
import type { StoreDatabaseTemplateSpec } from '../api/store-database.js';
import type { DatabaseTarget } from '../engines/target.js';
import { StoreopError } from '../errors.js';

/** Keyed by the spec field each value comes from, so a change names the field. */
export interface DatabaseIdentity {
  engine: string;
  mode: string;
  'server.host': string | null;
  'server.port': number | null;
  databaseName: string | null;
  isolation: string | null;
  'connection.host': string | null;
  'connection.port': number | null;
  'connection.database': string | null;
  'connection.schema': string | null;
  path: string | null;
  'supabase.projectRef': string | null;
  'supabase.organizationSlug': string | null;
}

const DEFAULT_PORT: Record<string, number> = { postgresql: 5432, mysql: 3306 };

/**
 * The identity of a database spec with its defaults filled in. In connect mode the resolved target, when
 * given, supplies what a URL Secret holds (host, port, database), which the spec alone does not show.
 */
export function identityOf(spec: StoreDatabaseTemplateSpec, target?: DatabaseTarget): DatabaseIdentity {
  const network = spec.engine === 'postgresql' || spec.engine === 'mysql';
  const create = spec.mode === 'create';
  const connect = target && target.mode === 'connect' && (target.engine === 'postgresql' || target.engine === 'mysql') ? target : undefined;
  // A store placed on a DatabaseServer: the server's address and default isolation come from the target.
  const placed = target && target.mode === 'create' && (target.engine === 'postgresql' || target.engine === 'mysql') ? target : undefined;
  const createIsolation = placed && !spec.server ? placed.isolation : undefined;
  return {
    engine: spec.engine,
    mode: spec.mode,
    'server.host': network && create ? (spec.server?.host ?? placed?.admin.host ?? null) : null,
    'server.port': network && create ? (spec.server?.port ?? placed?.admin.port ?? DEFAULT_PORT[spec.engine] ?? null) : null,
    databaseName: network && create ? (spec.databaseName ?? null) : null,
    isolation: network && create ? (createIsolation ?? spec.isolation ?? 'database') : null,
    'connection.host': network && !create ? (connect?.connection.host ?? spec.connection?.host ?? null) : null,
    'connection.port': network && !create ? (connect?.connection.port ?? spec.connection?.port ?? DEFAULT_PORT[spec.engine] ?? null) : null,
    'connection.database': network && !create ? (connect?.connection.database ?? spec.connection?.database ?? null) : null,
    'connection.schema': spec.engine === 'postgresql' && !create ? (spec.connection?.schema ?? 'public') : null,
    path: spec.engine === 'pglite' ? (spec.path ?? null) : null,
    'supabase.projectRef': spec.engine === 'supabase' ? (spec.supabase?.projectRef ?? null) : null,
    'supabase.organizationSlug': spec.engine === 'supabase' ? (spec.supabase?.organizationSlug ?? null) : null,
  };
}

/** The fields that differ, as "spec.field (was X, now Y)"; fields a recorded identity lacks are not compared. */
export function identityChanges(before: object, now: DatabaseIdentity, prefix = 'spec.'): string[] {
  const recorded = before as Record<string, unknown>;
  return (Object.keys(now) as (keyof DatabaseIdentity)[])
    .filter((field) => field in recorded && recorded[field] !== now[field])
    .map((field) => `${prefix}${field} (was ${String(recorded[field])}, now ${String(now[field])})`);
}

/** A change of immutable fields: InvalidSpec to the controller and storeop apply, 409 to the API. */
export class IdentityChangedError extends StoreopError {
  constructor(
    readonly slug: string,
    readonly changes: string[],
  ) {
    super('InvalidSpec', `immutable field(s) of store ${slug} changed: ${changes.join(', ')}; nothing was touched`, {
      retryable: false,
    });
  }
}

/** Throws IdentityChangedError when the identity differs from the recorded one. */
export function assertSameIdentity(slug: string, recorded: Record<string, unknown> | null | undefined, now: DatabaseIdentity): void {
  if (!recorded) return;
  const changes = identityChanges(recorded, now);
  if (changes.length) throw new IdentityChangedError(slug, changes);
}
