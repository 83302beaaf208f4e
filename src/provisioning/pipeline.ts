// The provisioning pipeline: testConnection → createDatabase → listTables → plan → createMissing →
// migrate → seed → register. Every step is idempotent, so a rerun after a failure at any point converges.
import { createHash } from 'node:crypto';
import { sql } from 'kysely';
import { toStoreopError } from '../engines/driver-errors.js';
import type { AnyKysely, LockOptions, Tenant } from '../engines/engine.js';
import { engineFor } from '../engines/index.js';
import { generatePassword } from '../engines/password.js';
import type { DatabaseTarget, TenantConnection } from '../engines/target.js';
import { createsStoreRole, targetSummary } from '../engines/target.js';
import { StoreopError } from '../errors.js';
import { assertSlug } from '../naming.js';
import { readFingerprint } from '../schema/fingerprint.js';
import { ensureHistoryTable, HISTORY_TABLE, type HistoryEntry, readHistory, recordHistory } from '../schema/history.js';
import { introspect, tableHasRows } from '../schema/introspect.js';
import { type Migration, migrationChecksum, STORE_MIGRATIONS } from '../schema/migrations.js';
import { describeConflicts, type PlannedChange, planSchema, type SchemaPlan, schemaHash } from '../schema/plan.js';
import { STORE_SCHEMA_VERSION, storeSchema } from '../schema/store-schema.js';
import type { TargetSchema } from '../schema/target-schema.js';
import { type Progress, STEP_START, type StepName } from './progress.js';
import { SEED_VERSION, type SeedSettings, seedChecksum, seedRows, seedStore } from './seed.js';

export type { TargetSchema };

export const STORE_TARGET_SCHEMA: TargetSchema = { definition: storeSchema, version: STORE_SCHEMA_VERSION, migrations: STORE_MIGRATIONS };

export interface ProvisionRequest {
  slug: string;
  target: DatabaseTarget;
  /**
   * Create mode: the store role's password from an earlier run (kept by the caller in a Secret or the
   * master DB). When absent a strong one is generated, handed to `persistPassword` before it is used.
   */
  password?: string;
  persistPassword?: (password: string) => Promise<void>;
  /** Default rows; false skips seeding. */
  seed?: false | SeedSettings;
  onProgress?: (progress: Progress) => void | Promise<void>;
  /** Called after each step completes: where callers record state, and tests inject crashes. */
  onStepDone?: (step: StepName) => void | Promise<void>;
  /** The register step: records the store and its connection (in the master DB, for example). */
  register?: (result: ProvisionResult) => Promise<void>;
  schema?: TargetSchema;
  lock?: Partial<LockOptions>;
}

export interface ProvisionResult {
  slug: string;
  connection: TenantConnection;
  serverVersion: string;
  schemaVersion: string;
  schemaHash: string;
  /** The changes applied by this run (none on a run that found everything in place). */
  applied: PlannedChange[];
  migrationsApplied: string[];
  seedRowsInserted: number;
  tablesCreated: number;
  totalTables: number;
  /** Whether this run changed anything in the store database. */
  changed: boolean;
  /**
   * The store database's fingerprint as this run left it (see schema/fingerprint.ts): a later verifyStore()
   * that finds the same one knows nothing changed since, without this run's work.
   */
  fingerprint: string;
  durationMs: number;
}

const DEFAULT_LOCK: LockOptions = { waitMs: 120_000, ddlLockTimeoutMs: 10_000 };

class ProgressReporter {
  #percent = 0;
  constructor(
    private readonly sink: ProvisionRequest['onProgress'],
    readonly totalTables: number,
  ) {}
  tablesCreated = 0;
  async report(step: StepName, message: string, percent = STEP_START[step]): Promise<void> {
    this.#percent = Math.max(this.#percent, Math.min(100, Math.round(percent)));
    await this.sink?.({ step, percent: this.#percent, tablesCreated: this.tablesCreated, totalTables: this.totalTables, message });
  }
}

export async function provision(request: ProvisionRequest): Promise<ProvisionResult> {
  const started = performance.now();
  const slug = assertSlug(request.slug);
  const schema = request.schema ?? STORE_TARGET_SCHEMA;
  const tables = Object.keys(schema.definition);
  const hash = schemaHash(schema.definition, schema.version);
  const engine = engineFor(request.target.engine);
  // Before anything is created: a schema whose migrations have no statements for this engine cannot be made here.
  const unsupported = schema.unsupported?.[engine.dialect];
  if (unsupported) throw new StoreopError('InvalidSpec', `store schema version ${schema.version}: ${unsupported}`, { retryable: false });
  const progress = new ProgressReporter(request.onProgress, tables.length);
  const stepDone = async (step: StepName) => request.onStepDone?.(step);
  const summary = targetSummary(request.target);

  await progress.report('testConnection', `connecting to ${summary.engine}${summary.host ? ` at ${summary.host}:${summary.port}` : ''}`);
  const serverVersion = await engine.testConnection(request.target);
  await stepDone('testConnection');

  await progress.report(
    'createDatabase',
    createsStoreRole(request.target)
      ? 'creating the store database and role'
      : request.target.engine === 'pglite'
        ? 'opening the embedded database'
        : 'using the existing database',
  );
  let password = request.password;
  if (password === undefined && createsStoreRole(request.target)) {
    password = generatePassword();
    await request.persistPassword?.(password); // kept before it is used, so a crash cannot lose it
  }
  const connection = await engine.ensureDatabase(request.target, slug, password ?? '');
  await stepDone('createDatabase');

  const tenant = await engine.openTenant(connection);
  try {
    const outcome = await tenant.withMigrationLock(
      (session) => syncSchema({ session, tenant, schema, hash, slug, seed: request.seed, progress, stepDone }),
      { ...DEFAULT_LOCK, ...request.lock },
    );
    const result: ProvisionResult = {
      slug,
      connection,
      schemaVersion: schema.version,
      schemaHash: hash,
      ...outcome,
      serverVersion, // as the admin session reported it
      tablesCreated: progress.tablesCreated,
      totalTables: tables.length,
      durationMs: 0,
    };
    await progress.report('register', 'registering the store');
    result.durationMs = Math.round(performance.now() - started);
    await request.register?.(result);
    await stepDone('register');
    await progress.report('register', outcome.changed ? 'store database ready' : 'store database ready; nothing to change', 100);
    return result;
  } catch (error) {
    throw toStoreopError(error, { ...summary, database: connection.database }, [password], 'provisioning');
  } finally {
    await tenant.close();
  }
}

export interface SchemaSyncRequest {
  slug: string;
  /** The store's registered connection (its own role/user and password). */
  connection: TenantConnection;
  schema: TargetSchema;
  seed?: false | SeedSettings;
  lock?: Partial<LockOptions>;
}

/**
 * The schema part of provision() alone, on a store database that exists: one session as the store's own
 * role under the migration lock (listTables → plan → createMissing → migrate → seed), no admin session. A
 * rollout runs it for a registered store it admitted to a new version; a store whose database or login is
 * not as registered fails here, and provision() is what repairs it.
 */
export async function syncStoreSchema(request: SchemaSyncRequest): Promise<ProvisionResult> {
  const started = performance.now();
  const slug = assertSlug(request.slug);
  const { connection, schema } = request;
  const engine = engineFor(connection.engine);
  const unsupported = schema.unsupported?.[engine.dialect];
  if (unsupported) throw new StoreopError('InvalidSpec', `store schema version ${schema.version}: ${unsupported}`, { retryable: false });
  const tables = Object.keys(schema.definition);
  const hash = schemaHash(schema.definition, schema.version);
  const progress = new ProgressReporter(undefined, tables.length);
  const summary = { engine: connection.engine, host: connection.host, port: connection.port, database: connection.database };
  const tenant = await engine.openTenant(connection, { poolSize: 1 });
  try {
    const outcome = await tenant.withMigrationLock(
      (session) => syncSchema({ session, tenant, schema, hash, slug, seed: request.seed, progress, stepDone: async () => {} }),
      { ...DEFAULT_LOCK, ...request.lock },
    );
    return {
      slug,
      connection,
      schemaVersion: schema.version,
      schemaHash: hash,
      ...outcome,
      tablesCreated: progress.tablesCreated,
      totalTables: tables.length,
      durationMs: Math.round(performance.now() - started),
    };
  } catch (error) {
    throw toStoreopError(error, summary, [connection.password], 'updating the store schema');
  } finally {
    await tenant.close();
  }
}

interface SyncContext {
  session: AnyKysely;
  tenant: Tenant;
  schema: TargetSchema;
  hash: string;
  slug: string;
  seed: ProvisionRequest['seed'];
  progress: ProgressReporter;
  stepDone: (step: StepName) => Promise<void>;
}

type SyncOutcome = Pick<
  ProvisionResult,
  'applied' | 'migrationsApplied' | 'seedRowsInserted' | 'changed' | 'fingerprint' | 'serverVersion'
>;

/** Runs on one session holding the store's migration lock: listTables → plan → createMissing → migrate → seed. */
async function syncSchema(ctx: SyncContext): Promise<SyncOutcome> {
  const { session, tenant, schema, progress } = ctx;
  const dialect = tenant.dialect;
  const tables = Object.keys(schema.definition);
  await progress.report('listTables', 'listing existing tables');
  const live = await introspect(session, dialect, tables);
  const hasHistory = live.tableNames.includes(HISTORY_TABLE);
  progress.tablesCreated = tables.filter((t) => live.tables.has(t)).length;
  await progress.report('listTables', `found ${progress.tablesCreated} of ${tables.length} store tables`);
  await ctx.stepDone('listTables');

  await progress.report('plan', 'comparing the database with the store schema');
  const history = hasHistory ? await readHistory(session) : [];
  const pendingMigrations = pendingOf(schema.migrations, history);
  const leaveToMigrations = columnsLeftToMigrations(pendingMigrations);
  const plan = await planSchema(schema.definition, live, dialect, (table) => tableHasRows(session, table), { leaveToMigrations });
  if (plan.conflicts.length > 0) {
    throw new StoreopError(
      'SchemaConflict',
      `the database conflicts with the store schema, nothing was changed: ${describeConflicts(plan.conflicts)}`,
      {
        retryable: false,
      },
    );
  }
  await ctx.stepDone('plan');

  const lastSchema = history.filter((h) => h.kind === 'schema').at(-1);
  const recordSchema = plan.changes.length > 0 || lastSchema?.checksum !== ctx.hash;
  const seed = ctx.seed === false ? null : (ctx.seed ?? {});
  const seedPending = seed !== null && !history.some((h) => h.kind === 'seed' && seedDone(schema, h));
  const anythingToDo = recordSchema || pendingMigrations.length > 0 || seedPending;
  if (anythingToDo && !hasHistory) await ensureHistoryTable(session, dialect);

  await applyChanges(ctx, plan, recordSchema);
  await ctx.stepDone('createMissing');

  await progress.report('migrate', pendingMigrations.length ? `running ${pendingMigrations.length} migration(s)` : 'no migrations to run');
  for (const migration of pendingMigrations) await runMigration(ctx, migration);
  if (leaveToMigrations.size > 0) await checkMigratedColumns(ctx, leaveToMigrations);
  await ctx.stepDone('migrate');

  let seedRowsInserted = 0;
  if (seed && seedPending) {
    await progress.report('seed', 'seeding default rows');
    const started = performance.now();
    seedRowsInserted = await inTransactionIfPossible(ctx, async (db) => {
      const inserted = schema.seed
        ? await seedRows(db, dialect, schema.definition, schema.seed, seed.onlyEmptyTables)
        : await seedStore(db, dialect, ctx.slug, seed);
      await recordHistory(db, {
        kind: 'seed',
        version: schema.seed ? schema.version : SEED_VERSION,
        checksum: schema.seed ? seedChecksum(schema.seed) : SEED_VERSION,
        description: schema.seed ? 'store schema seed rows' : 'default rows',
        duration_ms: Math.round(performance.now() - started),
      });
      return inserted;
    });
  } else {
    await progress.report('seed', seed ? 'default rows already seeded' : 'seeding disabled');
  }
  await ctx.stepDone('seed');

  // Still under the lock, so no other run's changes can slip between the sync and its fingerprint.
  const fingerprint = await readFingerprint(session, dialect, tables);
  return {
    applied: plan.changes,
    migrationsApplied: pendingMigrations.map((m) => m.version),
    seedRowsInserted,
    changed: plan.changes.length > 0 || pendingMigrations.length > 0 || seedRowsInserted > 0,
    fingerprint: `${expectationKey(schema, seed !== null)}/${fingerprint.value}`,
    serverVersion: fingerprint.serverVersion,
  };
}

/**
 * Whether a seed history row means this schema's seed already ran. storeop's default rows: that seed
 * version. A StoreSchema's rows: any seed at all, since they are for a new store only (a later version
 * with other rows does not seed stores that exist).
 */
export function seedDone(schema: TargetSchema, entry: Pick<HistoryEntry, 'version'>): boolean {
  return schema.seed ? true : entry.version === SEED_VERSION;
}

/** The columns pending migrations change or add themselves ("table.column"), which the plan leaves to them. */
export function columnsLeftToMigrations(pending: readonly Migration[]): Set<string> {
  return new Set(
    pending.flatMap((m) =>
      (m.handles ?? [])
        .filter((h) => (h.change === 'changeColumnType' || h.change === 'addRequiredColumn') && h.column !== undefined)
        .map((h) => `${h.table}.${h.column}`),
    ),
  );
}

/** After the migrations: the columns they declared must now be as the schema says, or the run fails. */
async function checkMigratedColumns(ctx: SyncContext, columns: ReadonlySet<string>): Promise<void> {
  const { session, tenant, schema } = ctx;
  const live = await introspect(session, tenant.dialect, Object.keys(schema.definition));
  const after = await planSchema(schema.definition, live, tenant.dialect, (table) => tableHasRows(session, table));
  const left = [
    ...after.conflicts.filter((c) => columns.has(`${c.table}.${c.column}`)).map((c) => describeConflicts([c])),
    ...after.changes
      .filter((c) => c.kind === 'addColumn' && columns.has(`${c.table}.${c.name}`))
      .map((c) => `${c.table}.${c.name}: missing`),
  ];
  if (left.length)
    throw new StoreopError(
      'SchemaConflict',
      `the migrations of version ${schema.version} did not make what they declare: ${left.join('; ')}`,
      {
        retryable: false,
      },
    );
}

const expectationKeys = new WeakMap<TargetSchema, Map<boolean, string>>();

/**
 * What a run is asked to make (schema version and definition, migrations, seed version): the prefix of
 * ProvisionResult.fingerprint, so that a fingerprint recorded for other asks (an upgraded storeop, seeding
 * turned on) never matches. Memoised per schema: a periodic check computes no hash of its own.
 */
export function expectationKey(schema: TargetSchema, seeded: boolean): string {
  let keys = expectationKeys.get(schema);
  if (!keys) {
    keys = new Map();
    expectationKeys.set(schema, keys);
  }
  let key = keys.get(seeded);
  if (!key) {
    const migrations = schema.migrations.map((m) => `${m.version}:${migrationChecksum(m)}`).sort();
    const seed = seeded ? (schema.seed ? seedChecksum(schema.seed) : SEED_VERSION) : null;
    const asked = JSON.stringify({ schema: schemaHash(schema.definition, schema.version), migrations, seed });
    key = createHash('sha256').update(asked).digest('hex').slice(0, 16);
    keys.set(seeded, key);
  }
  return key;
}

export function pendingOf(migrations: readonly Migration[], history: readonly HistoryEntry[]): Migration[] {
  const applied = new Map(history.filter((h) => h.kind === 'migration').map((h) => [h.version, h.checksum]));
  const pending: Migration[] = [];
  for (const migration of [...migrations].sort((a, b) => a.version.localeCompare(b.version))) {
    const checksum = applied.get(migration.version);
    if (checksum === undefined) pending.push(migration);
    else if (checksum !== migrationChecksum(migration)) {
      throw new StoreopError(
        'MigrationChanged',
        `migration ${migration.version} (${migration.description}) was edited after it was applied; add a new migration instead`,
        {
          retryable: false,
        },
      );
    }
  }
  return pending;
}

async function inTransactionIfPossible<T>(ctx: SyncContext, fn: (db: AnyKysely) => Promise<T>): Promise<T> {
  return ctx.tenant.transactionalDdl ? ctx.session.transaction().execute(fn) : fn(ctx.session);
}

/**
 * Applies the plan in its order (tables, columns, indexes, foreign keys). On PostgreSQL and MySQL/MariaDB,
 * changes to tables that already hold rows are made online, outside any transaction: an index built
 * CONCURRENTLY (an invalid one a failed build left is dropped and built again), a MySQL column or index
 * ALGORITHM=INPLACE, LOCK=NONE (plain DDL where the server refuses that). The rest runs in transactions
 * where the engine has transactional DDL. Every statement runs on the locked session, whose lock timeout
 * (LockOptions.ddlLockTimeoutMs) bounds how long it waits for the store's own traffic.
 *
 * A run that fails here leaves the store at its previous version: the schema history row of this version
 * is written only once every change is in, so the next run plans what is missing again. What it did
 * manage is harmless to the previous version's readers and writers: only additive changes are planned
 * (new tables, nullable or defaulted columns, indexes; an invalid index is not used by queries).
 */
async function applyChanges(ctx: SyncContext, plan: SchemaPlan, recordSchema: boolean): Promise<void> {
  const { progress } = ctx;
  await progress.report('createMissing', plan.changes.length ? `applying ${plan.changes.length} change(s)` : 'nothing to create');
  if (!recordSchema) return;
  const started = performance.now();
  const reporter = changeReporter(ctx, plan);
  const record = (db: AnyKysely) =>
    recordHistory(db, {
      kind: 'schema',
      version: ctx.schema.version,
      checksum: ctx.hash,
      description: plan.changes.length ? `${plan.changes.length} change(s)` : 'already in place',
      duration_ms: Math.round(performance.now() - started),
    });
  const batches = onlineBatches(plan.changes, ctx.tenant.onlineDdl);
  for (const [i, batch] of batches.entries()) {
    const last = i === batches.length - 1;
    if (batch.online) {
      for (const change of batch.changes) {
        await runOnline(ctx.session, change);
        await reporter(change);
      }
      if (last) await record(ctx.session);
    } else {
      await inTransactionIfPossible(ctx, async (db) => {
        for (const change of batch.changes) {
          if (change.repair) await sql.raw(change.repair.statement.sql).execute(db);
          await sql.raw(change.statement.sql).execute(db);
          await reporter(change);
        }
        if (last) await record(db); // in the same transaction as the changes where DDL is transactional
      });
    }
  }
  if (batches.length === 0) await record(ctx.session);
}

/** Runs of consecutive changes, in plan order, that run online (one by one) or together (in a transaction). */
function onlineBatches(changes: readonly PlannedChange[], onlineDdl: boolean): Array<{ online: boolean; changes: PlannedChange[] }> {
  const batches: Array<{ online: boolean; changes: PlannedChange[] }> = [];
  for (const change of changes) {
    const online = onlineDdl && change.online !== undefined;
    const current = batches.at(-1);
    if (current && current.online === online) current.changes.push(change);
    else batches.push({ online, changes: [change] });
  }
  return batches;
}

/** MySQL/MariaDB refuse ALGORITHM=INPLACE / LOCK=NONE for some changes (ER_ALTER_OPERATION_NOT_SUPPORTED*). */
const ONLINE_NOT_SUPPORTED = new Set([1845, 1846]);

async function runOnline(session: AnyKysely, change: PlannedChange): Promise<void> {
  if (change.repair) await sql.raw(change.repair.online.sql).execute(session);
  const online = change.online as NonNullable<PlannedChange['online']>;
  try {
    await sql.raw(online.sql).execute(session);
  } catch (error) {
    if (!ONLINE_NOT_SUPPORTED.has(Number((error as { errno?: unknown }).errno))) throw error;
    await sql.raw(change.statement.sql).execute(session); // the server cannot do it online: the plain, locking way
  }
}

function changeReporter(ctx: SyncContext, plan: SchemaPlan): (change: PlannedChange) => Promise<void> {
  const { progress } = ctx;
  const span = STEP_START.migrate - STEP_START.createMissing;
  const creates = plan.changes.filter((c) => c.kind === 'createTable').length;
  let done = 0;
  return async (change) => {
    done++;
    if (change.kind === 'createTable') {
      progress.tablesCreated++;
      await progress.report(
        'createMissing',
        `created table ${change.table}`,
        STEP_START.createMissing + (span * progress.tablesCreated) / progress.totalTables,
      );
    } else if (creates === 0 || done === plan.changes.length) {
      await progress.report('createMissing', change.statement.description, STEP_START.createMissing + (span * done) / plan.changes.length);
    }
  };
}

async function runMigration(ctx: SyncContext, migration: Migration): Promise<void> {
  const started = performance.now();
  await inTransactionIfPossible(ctx, async (db) => {
    for (const statement of migration.up[ctx.tenant.dialect]) {
      await sql.raw(statement).execute(db);
    }
    await recordHistory(db, {
      kind: 'migration',
      version: migration.version,
      checksum: migrationChecksum(migration),
      description: migration.description,
      duration_ms: Math.round(performance.now() - started),
    });
  });
}
