// storeop apply -f: reconciles Store/StoreDatabase manifests without a cluster, through the same
// validation and pipeline as the operator, against the master DB (embedded PGlite by default).
import { existsSync, readFileSync } from 'node:fs';
import { z } from 'zod';
import { ownValue } from '../../api/common.js';
import { DEFAULT_STORE_SCHEMA_NAME } from '../../api/store-schema.js';
import {
  type LocatedServer,
  ManifestError,
  type ManifestSet,
  parseManifests,
  readSources,
  type StoreUnit,
  storeUnits,
} from '../../apply/manifests.js';
import { type Placements, placedServer, placeUnits, serverSecretReader } from '../../apply/servers.js';
import { setAdminConnectionLimit } from '../../engines/admin-limit.js';
import { cidrList, EgressPolicy } from '../../engines/egress.js';
import { engineFor } from '../../engines/index.js';
import { createsStoreRole, targetSummary } from '../../engines/target.js';
import { connectionUrl } from '../../engines/url.js';
import { describeTarget, isStoreopError } from '../../errors.js';
import { type MasterDatabase, masterUrl, openMaster, storeopHome } from '../../master/database.js';
import { loadKeyring } from '../../master/keyring.js';
import { recordSchemaApplied, recordStoreLabels, startRollout } from '../../master/rollouts.js';
import { findStore, recordServer, storesPerServer, upsertStore } from '../../master/stores.js';
import { quotaSuspendedSlugs, saveStorePlan } from '../../master/usage.js';
import { planProvisioning, planStatements } from '../../provisioning/dry-run.js';
import { schemaFromSpec } from '../../schema/from-spec.js';
import { describeConflicts } from '../../schema/plan.js';
import { buildIntent, describeStore, intentForTarget, knownTarget, type StoreIntent } from '../../stores/intent.js';
import type { RolloutDecision } from '../../stores/rollout/plan.js';
import { runRollout } from '../../stores/rollout/standalone.js';
import { storeTargetSchema } from '../../stores/rollout/target-schema.js';
import { placedOnServer } from '../../stores/server-placement.js';
import { serverTarget } from '../../stores/server-target.js';
import { applyIntent, type MasterContext } from '../../stores/service.js';
import { admitSchema, type ResolvedSchema, reviewSchema, SchemaResolver, type SchemaReview } from '../../stores/store-schemas.js';
import { parseFlags } from '../args.js';
import { durationSchema } from '../duration.js';
import { formatTable, progressDisplay } from '../output.js';

export const applyHelp = `usage: storeop apply -f FILE|DIR|- [-f ...] [--dry-run] [--master-database-url URL] [--concurrency N] [--home DIR]
                     [--supabase-api-url URL] [--supabase-poll-interval DURATION] [--supabase-timeout DURATION]
                     [--egress-allow CIDR,...] [--egress-deny CIDR,...]

Validates Store, StoreDatabase, StoreSchema, DatabaseServer and Secret manifests (multi-document YAML) and
provisions every store: its database, tables, migrations and seed rows, registered in the master DB (embedded PGlite in
./.storeop by default, moved by --home or STOREOP_HOME; or --master-database-url /
STOREOP_MASTER_DATABASE_URL). Exits 0 only when every store is Ready. --dry-run prints the
statements per store and changes nothing. A Store with spec.suspend: true is suspended (its database
login disabled); setting it back to false resumes it. Fields that name the store's database (engine, mode,
server, databaseName, isolation, connection, path) cannot change once it is provisioned. A Supabase store
waits for its project to come up (polled every --supabase-poll-interval, default 10s, for at most
--supabase-timeout, default 15m). --egress-allow / --egress-deny opt in to the egress policy of storeop api
for the database hosts in the manifests (off by default: loopback databases are normal here).
A create-mode database without an inline server is placed on a DatabaseServer of the manifests (serverRef,
serverSelector, Store spec.region; the master DB records the choice and it never changes); a DatabaseServer's
adminSecretRef names a Secret document, else the environment: STOREOP_SECRET_<NAME>_<KEY> (upper case, other
characters as _), e.g. STOREOP_SECRET_PG_ADMIN_PASSWORD.

A StoreSchema version is compared with the version of that schema the master DB admitted last: a destructive
change that no new migration declares in handles is refused, and then nothing runs; otherwise the version is
admitted. A Store is provisioned with the StoreSchema its spec.schemaRef names (the manifests' version, else
the one admitted last; default storeop-default, the built-in schema).`;

/** The source of every store `storeop apply` declares; `storeop delete` deletes only those. */
export const APPLY_SOURCE = 'apply';

const flags = z.object({
  // The error also covers a missing -f, which parseArgs leaves undefined (not an empty array).
  filename: z.array(z.string().min(1), { error: 'is required (-f FILE, DIR or -)' }).min(1, 'is required (-f FILE, DIR or -)'),
  'dry-run': z.boolean().default(false),
  'master-database-url': z.string().optional(),
  concurrency: z.coerce.number().int().min(1).max(64).default(4),
  home: z.string().optional(),
  'supabase-api-url': z.url().optional(),
  'supabase-poll-interval': durationSchema.default(10_000),
  'supabase-timeout': durationSchema.default(15 * 60_000),
  'egress-allow': cidrList.optional(),
  'egress-deny': cidrList.optional(),
});

const spec = {
  filename: { type: 'string', short: 'f', multiple: true },
  'dry-run': { type: 'boolean' },
  'master-database-url': { type: 'string' },
  concurrency: { type: 'string' },
  home: { type: 'string' },
  'supabase-api-url': { type: 'string' },
  'supabase-poll-interval': { type: 'string' },
  'supabase-timeout': { type: 'string' },
  'egress-allow': { type: 'string' },
  'egress-deny': { type: 'string' },
} as const;

type StagedDefaults = { supabaseApiUrl?: string | undefined };

interface Outcome {
  unit: StoreUnit;
  engine: string;
  database: string;
  phase: 'Ready' | 'Suspended' | 'Failed';
  tables: string;
  changed: boolean;
  durationMs: number;
  error?: string;
}

/** Builds every unit's intent (slug, defaults, target) before anything runs; all problems at once. */
async function buildIntents(
  units: StoreUnit[],
  set: ManifestSet,
  home: string,
  defaults: StagedDefaults,
  placements: Placements,
): Promise<Map<string, StoreIntent>> {
  const intents = new Map<string, StoreIntent>();
  const problems: string[] = [...placements.problems];
  for (const unit of units) {
    try {
      intents.set(unit.name, await intentOf(unit, set, home, defaults, placements.servers.get(unit.name)));
    } catch (error) {
      if (!isStoreopError(error, 'InvalidSpec')) throw error;
      // The slug is the Store's; everything else is about its database spec.
      const aboutStore = /^(metadata\.name|spec\.slug)\b/.test(error.message);
      problems.push(`${aboutStore ? `${unit.origin} (Store ${unit.name})` : unit.databaseOrigin}: ${error.message}`);
    }
  }
  if (problems.length) throw new ManifestError(problems);
  return intents;
}

/** The unit's intent; `server` is the DatabaseServer it is placed on, when its database goes on one. */
export async function intentOf(
  unit: StoreUnit,
  set: ManifestSet,
  home: string,
  defaults: StagedDefaults = {},
  server?: LocatedServer,
): Promise<StoreIntent> {
  if (server) {
    const description = describeStore({
      name: unit.name,
      spec: unit.spec,
      database: unit.database,
      databasePath: unit.databasePath,
      source: APPLY_SOURCE,
    });
    return intentForTarget(description, await serverTarget(description.database, placedServer(server), serverSecretReader(set)));
  }
  return buildIntent({
    name: unit.name,
    spec: unit.spec,
    database: unit.database,
    databasePath: unit.databasePath,
    source: APPLY_SOURCE,
    readSecret: async (name, key) => ownValue(set.secrets.get(name), key),
    home,
    defaults,
  });
}

/**
 * Records the store's DatabaseServer before anything is created there. Another run that placed the same new
 * store first wins; this run then stops for that store rather than provision it on a second server.
 */
async function recordPlacement(master: MasterDatabase, intent: StoreIntent, server: string): Promise<void> {
  const row = await upsertStore(master.db, intent.declaration);
  const on = await recordServer(master.db, row.id, server);
  if (on !== server)
    throw new Error(`store ${intent.slug} was placed on DatabaseServer ${on} by another run meanwhile; apply again to continue there`);
}

/** The master database when one exists (for a dry run: nothing is created or migrated), else undefined. */
async function existingMaster(url: string | undefined, home: string): Promise<MasterDatabase | undefined> {
  const location = masterUrl({ url, home });
  if (location.startsWith('pglite://') && !existsSync(location.slice('pglite://'.length))) return undefined;
  try {
    return await openMaster({ url, home, migrate: false });
  } catch {
    return undefined;
  }
}

async function mapLimit<T, R>(items: T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await fn(items[i] as T);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}

/** --dry-run: the statements per store (with the StoreSchema each one uses); nothing is changed. */
async function dryRun(units: StoreUnit[], intents: Map<string, StoreIntent>, set: ManifestSet): Promise<number> {
  const out = process.stdout;
  let conflicts = false;
  const declared = new Map(set.schemas.map((s) => [s.name, s]));
  for (const schema of set.schemas)
    out.write(`# StoreSchema ${schema.name} version ${schema.spec.version}: checked against the master DB's versions when applied\n`);
  for (const unit of units) {
    const intent = intents.get(unit.name) as StoreIntent;
    const target = knownTarget(intent);
    if (!target) {
      out.write(`# store ${unit.slug}: ${unit.database.engine}: the project comes first; its statements are known once it exists\n`);
      continue;
    }
    const schemaName = unit.spec.schemaRef?.name ?? DEFAULT_STORE_SCHEMA_NAME;
    const declaredSchema = declared.get(schemaName);
    if (!declaredSchema && schemaName !== DEFAULT_STORE_SCHEMA_NAME) {
      out.write(
        `# store ${unit.slug}: StoreSchema ${schemaName} is not in the manifests; its version is read from the master DB when applied\n`,
      );
      continue;
    }
    const schema = declaredSchema ? schemaFromSpec(declaredSchema.spec, schemaName) : undefined;
    const plan = await planProvisioning(target, { slug: unit.slug, seed: intent.seed ? {} : false, ...(schema ? { schema } : {}) });
    const statements = planStatements(plan);
    out.write(`# store ${unit.slug}: ${describeTarget(targetSummary(target))}${plan.databaseExists ? '' : ' (database to be created)'}\n`);
    if (plan.schema.conflicts.length) {
      conflicts = true;
      out.write(`#   CONFLICTS, nothing would change: ${describeConflicts(plan.schema.conflicts)}\n`);
      continue;
    }
    if (!plan.databaseExists && createsStoreRole(target)) {
      out.write('-- as the server admin:\n');
      for (const statement of engineFor(target.engine).adminStatements?.(target, unit.slug) ?? []) out.write(`${statement}\n`);
      out.write('-- then as the store role:\n');
    }
    for (const statement of statements) out.write(`${statement}\n`);
    if (plan.seedPending) out.write('-- seed default rows where missing\n');
    if (!statements.length && !plan.seedPending) out.write('-- no changes\n');
  }
  out.write('dry run: nothing was changed\n');
  return conflicts ? 1 : 0;
}

/** Reviews every declared StoreSchema version and resolves every Store's schema; all problems before anything runs. */
async function reviewAndResolve(
  db: MasterContext['master']['db'],
  set: ManifestSet,
  units: StoreUnit[],
): Promise<{ reviews: SchemaReview[]; schemas: Map<string, ResolvedSchema> }> {
  const problems: string[] = [];
  const reviews: SchemaReview[] = [];
  for (const declared of set.schemas) {
    const review = await reviewSchema(db, declared);
    reviews.push(review);
    problems.push(...review.problems.map((p) => `${declared.origin} (StoreSchema ${declared.name}): ${p}`));
  }
  const resolver = new SchemaResolver(db, new Map(set.schemas.map((s) => [s.name, s.spec])));
  const schemas = new Map<string, ResolvedSchema>();
  for (const unit of units) {
    try {
      schemas.set(unit.name, await resolver.resolve(unit.spec.schemaRef?.name));
    } catch (error) {
      if (!isStoreopError(error, 'InvalidSpec')) throw error;
      problems.push(`${unit.origin} (Store ${unit.name}): ${error.message}`);
    }
  }
  if (problems.length) throw new ManifestError(problems);
  return { reviews, schemas };
}

/** One line per rollout run: where it stopped, and what a person does next. */
function describeRollout(name: string, version: string, decision: RolloutDecision): string {
  const head = `StoreSchema ${name} version ${version}: ${decision.phase}, ${decision.updated}/${decision.total} stores updated`;
  if (decision.phase === 'Complete') return head;
  const next = decision.phase === 'Paused' ? `; storeop rollout status ${name}, then storeop rollout resume ${name}` : '';
  return `${head} (${decision.reason}: ${decision.message})${next}`;
}

function describeReview(review: SchemaReview): string {
  const { name, spec } = review.schema;
  const from = review.previous && review.previous.version !== spec.version ? ` (from ${review.previous.version})` : '';
  const additive = review.changes.filter((c) => !c.destructive).length;
  const handled = review.changes.filter((c) => c.handledBy).length;
  const changes = review.changes.length
    ? `: ${additive} additive change(s)${handled ? `, ${handled} destructive change(s) handled by migrations` : ''}`
    : '';
  return `StoreSchema ${name} version ${spec.version}${from} admitted${changes}`;
}

export async function applyCommand(argv: string[]): Promise<number> {
  const { flags: f } = parseFlags(argv, spec, flags);
  const home = storeopHome(f.home);
  const set = parseManifests(readSources(f.filename, () => readFileSync(0, 'utf8')));
  const units = storeUnits(set);
  if (units.length === 0 && set.schemas.length === 0 && set.plans.length === 0) {
    process.stderr.write('storeop apply: no Store, StoreSchema or StorePlan in the manifests\n');
    return 1;
  }
  const defaults: StagedDefaults = { supabaseApiUrl: f['supabase-api-url'] };
  // Placement reads the master DB first (recorded servers, stores per server); without it the master DB is
  // opened only once every manifest is valid. A dry run reads an existing one, and never creates or migrates it.
  const placing = units.some((u) => {
    try {
      return placedOnServer(u.database, u.databasePath);
    } catch {
      return true; // the problem is reported by placeUnits, with the others
    }
  });
  let master: MasterDatabase | undefined;
  if (placing)
    master = f['dry-run']
      ? await existingMaster(f['master-database-url'], home)
      : await openMaster({ url: f['master-database-url'], home });
  let intents: Map<string, StoreIntent>;
  let placements: Placements;
  try {
    const db = master?.db;
    placements = await placeUnits(
      units,
      set,
      async (slug) => (db ? ((await findStore(db, slug))?.database_server ?? undefined) : undefined),
      db ? await storesPerServer(db) : new Map(),
    );
    intents = await buildIntents(units, set, home, defaults, placements);
  } catch (error) {
    await master?.close();
    throw error;
  }
  const egress = f['egress-allow'] || f['egress-deny'] ? new EgressPolicy({ allow: f['egress-allow'], deny: f['egress-deny'] }) : undefined;
  const out = process.stdout;

  if (f['dry-run']) {
    try {
      return await dryRun(units, intents, set);
    } finally {
      await master?.close();
    }
  }
  master ??= await openMaster({ url: f['master-database-url'], home });
  const display = progressDisplay();
  let outcomes: Outcome[];
  const rollouts: Array<{ name: string; version: string; decision: RolloutDecision }> = [];
  try {
    const { reviews, schemas } = await reviewAndResolve(master.db, set, units);
    for (const review of reviews) {
      await admitSchema(master.db, review);
      // The version's rollout across the stores of the schema (run below, once the manifests' stores are applied).
      await startRollout(master.db, review.schema.name, review.schema.spec.version);
      out.write(`${describeReview(review)}\n`);
    }
    for (const plan of set.plans) {
      const changed = await saveStorePlan(master.db, plan.name, plan.spec.plan, plan.spec);
      out.write(
        `StorePlan ${plan.name} (plan ${plan.spec.plan}, enforcement ${plan.spec.enforcement}) ${changed ? 'recorded' : 'unchanged'}\n`,
      );
    }
    // A store its plan suspends for a quota (storeop usage collect) is suspended as spec.suspend would.
    const quotaSuspended = await quotaSuspendedSlugs(master.db);
    const keyring = loadKeyring({ home, embedded: master.engine === 'pglite' });
    const ctx = { master, keyring, actor: 'storeop-apply' };
    setAdminConnectionLimit(f.concurrency); // admin sessions per database server: one per store applied at once, +2
    outcomes = await mapLimit(units, f.concurrency, async (unit): Promise<Outcome> => {
      const declared = intents.get(unit.name) as StoreIntent;
      const intent = quotaSuspended.has(declared.slug) ? { ...declared, suspend: true } : declared;
      const target = knownTarget(intent);
      const engine = target?.engine ?? unit.database.engine;
      const where = target ? describeTarget(targetSummary(target)) : `${engine} project`;
      const resolved = schemas.get(unit.name) as ResolvedSchema;
      const started = performance.now();
      try {
        const server = placements.servers.get(unit.name);
        if (server) await recordPlacement(master, intent, server.name);
        // As the operator: a store keeps the version it has (or is admitted to); a new one gets its stage's.
        const known = await findStore(master.db, unit.slug);
        const choice = await storeTargetSchema(master.db, { storeId: known?.id, schemaName: resolved.name, labels: unit.labels });
        const schema = 'missing' in choice ? resolved.target : choice.schema;
        // A job a killed run left open (its runner is gone) is taken over: the store's history shows one run, finished.
        const applied = await applyIntent(ctx, intent, {
          onProgress: (p) => display.update(unit.slug, p),
          staged: {
            defaults,
            pollMs: f['supabase-poll-interval'],
            deadlineMs: f['supabase-timeout'],
            onWaiting: (reason) => display.line(`${unit.slug}: ${reason}`),
          },
          ...(egress ? { egress } : {}),
          schema,
        });
        await recordStoreLabels(master.db, applied.job.store.id, unit.labels);
        if (applied.kind === 'ready') await recordSchemaApplied(master.db, applied.job.store.id, resolved.name, schema.version);
        if (applied.kind === 'suspended') {
          display.line(`${unit.slug}: suspended`);
          return {
            unit,
            engine,
            database: where,
            phase: 'Suspended',
            tables: '-',
            changed: false,
            durationMs: Math.round(performance.now() - started),
          };
        }
        const { result } = applied;
        display.line(`${unit.slug}: ready${result.changed ? '' : ' (no changes)'}`);
        return {
          unit,
          engine: result.connection.engine,
          database: connectionUrl(result.connection, { includePassword: false }),
          phase: 'Ready',
          tables: `${result.tablesCreated}/${result.totalTables}`,
          changed: result.changed,
          durationMs: Math.round(performance.now() - started),
        };
      } catch (error) {
        const message = isStoreopError(error) ? `${error.code}: ${error.message}` : (error as Error).message;
        display.line(`${unit.slug}: failed: ${message}`);
        return {
          unit,
          engine,
          database: where,
          phase: 'Failed',
          tables: '-',
          changed: false,
          durationMs: Math.round(performance.now() - started),
          error: message,
        };
      }
    });
    for (const review of reviews) {
      const name = review.schema.name;
      const decision = await runRollout({ db: master.db, keyring }, name, (line) => display.line(line));
      if (decision) rollouts.push({ name, version: review.schema.spec.version, decision });
    }
  } finally {
    display.done();
    await master.close();
  }
  for (const { name, version, decision } of rollouts) out.write(`${describeRollout(name, version, decision)}\n`);
  const rolloutFailed = rollouts.some(({ decision }) => decision.phase === 'Failed' || decision.reason === 'FailureBudgetExceeded');
  if (units.length === 0) return rolloutFailed ? 1 : 0; // StoreSchemas and StorePlans only: recorded (schemas rolled out), nothing to provision
  out.write(
    `${formatTable(
      ['STORE', 'ENGINE', 'DATABASE', 'PHASE', 'TABLES', 'DURATION'],
      outcomes.map((o) => [o.unit.slug, o.engine, o.database, o.phase, o.tables, `${o.durationMs}ms`]),
    )}\n`,
  );
  const failed = outcomes.filter((o) => o.phase === 'Failed');
  if (failed.length) {
    out.write(`${failed.length} of ${outcomes.length} store(s) failed\n`);
    return 1;
  }
  if (rolloutFailed) return 1;
  const suspended = outcomes.filter((o) => o.phase === 'Suspended').length;
  const summary = `${outcomes.length - suspended} store(s) ready${suspended ? `, ${suspended} suspended` : ''}`;
  out.write(outcomes.some((o) => o.changed) ? `${summary}\n` : `${summary}; no changes\n`);
  return 0;
}
