// What provisioning would do to a database, without changing it: the plan that `storeop plan` and
// `--dry-run` print.
import { existsSync } from 'node:fs';
import { toStoreopError } from '../engines/driver-errors.js';
import type { Tenant } from '../engines/engine.js';
import { engineFor } from '../engines/index.js';
import {
  type ConnectTarget,
  type CreateTarget,
  createsStoreRole,
  type DatabaseTarget,
  secretsOf,
  type TenantConnection,
  targetSummary,
  tenantEndpoint,
} from '../engines/target.js';
import { isStoreopError } from '../errors.js';
import { HISTORY_TABLE, type HistoryEntry, readHistory } from '../schema/history.js';
import { introspect, type LiveSchema, tableHasRows } from '../schema/introspect.js';
import type { Migration } from '../schema/migrations.js';
import { planSchema, type SchemaPlan, schemaHash } from '../schema/plan.js';
import { columnsLeftToMigrations, type ProvisionRequest, pendingOf, STORE_TARGET_SCHEMA, seedDone, type TargetSchema } from './pipeline.js';

export interface ProvisioningPlan {
  databaseExists: boolean;
  schemaVersion: string;
  schemaHash: string;
  schema: SchemaPlan;
  pendingMigrations: Migration[];
  seedPending: boolean;
  /** Whether changes to existing tables would be made online (see the pipeline's applyChanges). */
  onlineDdl: boolean;
  /** The checksum of the schema version the database was last synced to (its history), if any. */
  lastSchemaChecksum?: string;
}

const EMPTY: LiveSchema = { tableNames: [], tables: new Map() };

/** Plans against an existing database (connect mode or PGlite); a database that does not exist yet plans everything. */
export async function planProvisioning(
  target: DatabaseTarget,
  options: { schema?: TargetSchema; seed?: ProvisionRequest['seed']; slug?: string } = {},
): Promise<ProvisioningPlan> {
  const schema = options.schema ?? STORE_TARGET_SCHEMA;
  const tables = Object.keys(schema.definition);
  const engine = engineFor(target.engine);
  const planned = async (
    live: LiveSchema,
    hasRows: (t: string) => Promise<boolean>,
    history: Awaited<ReturnType<typeof readHistory>>,
    databaseExists: boolean,
  ) => {
    const pendingMigrations = pendingOf(schema.migrations, history);
    const leaveToMigrations = columnsLeftToMigrations(pendingMigrations);
    return {
      databaseExists,
      schemaVersion: schema.version,
      schemaHash: schemaHash(schema.definition, schema.version),
      schema: await planSchema(schema.definition, live, engine.dialect, hasRows, { leaveToMigrations }),
      pendingMigrations,
      seedPending: options.seed !== false && !history.some((h) => h.kind === 'seed' && seedDone(schema, h)),
      onlineDdl: target.engine !== 'pglite',
      ...lastSchemaOf(history),
    };
  };
  const absent = () => planned(EMPTY, async () => false, [], false);

  if (createsStoreRole(target)) {
    // Look at the store's database (if it exists yet) through the admin's credentials.
    if (!options.slug) return absent();
    return planProvisioning(adminView(target, options.slug), options);
  }
  if (target.engine === 'pglite' && !existsSync(target.dataDir)) return absent(); // opening would create the folder
  if (target.engine === 'supabase')
    return planProvisioning({ engine: 'postgresql', mode: 'connect', connection: target.connection }, options);

  let tenant: Tenant | undefined;
  try {
    const connection = await engine.ensureDatabase(target, 'plan', '');
    tenant = await engine.openTenant(connection);
    const db = tenant.db;
    const live = await introspect(db, engine.dialect, tables);
    const history = live.tableNames.includes(HISTORY_TABLE) ? await readHistory(db) : [];
    return await planned(live, (t) => tableHasRows(db, t), history, true);
  } catch (error) {
    const mapped = toStoreopError(error, targetSummary(target), secretsOf(target), 'planning');
    if (isStoreopError(mapped, 'DatabaseNotFound')) return absent();
    throw mapped;
  } finally {
    await tenant?.close().catch(() => {});
  }
}

function lastSchemaOf(history: readonly HistoryEntry[]): { lastSchemaChecksum?: string } {
  const last = history.filter((h) => h.kind === 'schema').at(-1);
  return last ? { lastSchemaChecksum: last.checksum } : {};
}

/**
 * Plans against a store's database through its own login (the connection the master DB registered), for
 * `storeop schema plan`; reads only.
 */
export async function planForConnection(
  connection: TenantConnection,
  options: { schema?: TargetSchema; seed?: ProvisionRequest['seed'] } = {},
): Promise<ProvisioningPlan> {
  if (connection.engine === 'pglite') {
    return planProvisioning({ engine: 'pglite', mode: 'create', dataDir: connection.dataDir as string }, options);
  }
  const target: ConnectTarget = {
    engine: connection.engine === 'mysql' ? 'mysql' : 'postgresql',
    mode: 'connect',
    connection: { ...tenantEndpoint(connection), database: connection.database },
    ...(connection.schema !== undefined ? { schema: connection.schema } : {}),
  };
  return planProvisioning(target, options);
}

/** The store's database as the admin sees it: a connect-mode target that reads without creating anything. */
function adminView(target: CreateTarget, slug: string): ConnectTarget {
  const place = engineFor(target.engine).placement(target, slug);
  return {
    engine: target.engine,
    mode: 'connect',
    connection: { ...target.admin, database: place.database },
    ...(place.schema !== undefined ? { schema: place.schema } : {}),
  };
}

export function planStatements(plan: ProvisioningPlan): string[] {
  return [
    ...plan.schema.changes.flatMap((c) => {
      const online = plan.onlineDdl && c.online;
      const repair = c.repair ? [`${(online ? c.repair.online : c.repair.statement).sql};`] : [];
      return [...repair, `${(online || c.statement).sql};`];
    }),
    ...plan.pendingMigrations.flatMap((m) => m.up[plan.schema.dialect].map((s) => `${s};`)),
  ];
}
