// storeop apply -f: reconciles Store/StoreDatabase manifests without a cluster, through the same
// validation and pipeline as the operator, against the master DB (embedded PGlite by default).
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { ownValue } from '../../api/common.js';
import { ManifestError, type ManifestSet, parseManifests, readSources, type StoreUnit, storeUnits } from '../../apply/manifests.js';
import { cidrList, EgressPolicy, withEgressPolicy } from '../../engines/egress.js';
import { engineFor } from '../../engines/index.js';
import { createsStoreRole, targetSummary } from '../../engines/target.js';
import { connectionUrl } from '../../engines/url.js';
import { describeTarget, isStoreopError } from '../../errors.js';
import { openMaster, storeopHome } from '../../master/database.js';
import { loadKeyring } from '../../master/keyring.js';
import { planProvisioning, planStatements } from '../../provisioning/dry-run.js';
import { describeConflicts } from '../../schema/plan.js';
import { provisionResolved } from '../../stores/prepare-store.js';
import { type Resolution, resolveStaged } from '../../stores/resolve-staged.js';
import { parseFlags } from '../args.js';
import { durationSchema } from '../duration.js';
import { formatTable, progressDisplay } from '../output.js';

export const applyHelp = `usage: storeop apply -f FILE|DIR|- [-f ...] [--dry-run] [--master-database-url URL] [--concurrency N] [--home DIR]
                     [--supabase-api-url URL] [--supabase-poll-interval DURATION] [--supabase-timeout DURATION]
                     [--egress-allow CIDR,...] [--egress-deny CIDR,...]

Validates Store, StoreDatabase and Secret manifests (multi-document YAML) and provisions every store:
its database, tables, migrations and seed rows, registered in the master DB (embedded PGlite in
./.storeop by default, moved by --home or STOREOP_HOME; or --master-database-url /
STOREOP_MASTER_DATABASE_URL). Exits 0 only when every store is Ready. --dry-run prints the
statements per store and changes nothing. A Supabase store waits for its project to come up (polled
every --supabase-poll-interval, default 10s, for at most --supabase-timeout, default 15m). --egress-allow /
--egress-deny opt in to the egress policy of storeop api for the database hosts in the manifests (off by
default: loopback databases are normal here).`;

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

interface Outcome {
  unit: StoreUnit;
  engine: string;
  database: string;
  phase: 'Ready' | 'Failed';
  tables: string;
  changed: boolean;
  durationMs: number;
  error?: string;
}

async function resolveAll(
  units: StoreUnit[],
  set: ManifestSet,
  home: string,
  defaults: { supabaseApiUrl?: string | undefined },
): Promise<Map<string, Resolution>> {
  const targets = new Map<string, Resolution>();
  const problems: string[] = [];
  for (const unit of units) {
    try {
      // A staged engine (Supabase) is checked here and prepared when its store's turn comes.
      targets.set(
        unit.name,
        await resolveStaged(unit.database, async (name, key) => ownValue(set.secrets.get(name), key), { home, slug: unit.slug, defaults }),
      );
    } catch (error) {
      // resolveTarget names fields relative to a StoreDatabase (spec.server...); an inline database lives at spec.database.
      const message = (error as Error).message.replace(/^spec\./, `${unit.databasePath}.`);
      problems.push(`${unit.databaseOrigin}: ${message}`);
    }
  }
  if (problems.length) throw new ManifestError(problems);
  return targets;
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

export async function applyCommand(argv: string[]): Promise<number> {
  const { flags: f } = parseFlags(argv, spec, flags);
  const home = storeopHome(f.home);
  const set = parseManifests(readSources(f.filename, () => readFileSync(0, 'utf8')));
  const units = storeUnits(set);
  if (units.length === 0) {
    process.stderr.write('storeop apply: no Store in the manifests\n');
    return 1;
  }
  const defaults = { supabaseApiUrl: f['supabase-api-url'] };
  const targets = await resolveAll(units, set, home, defaults);
  const out = process.stdout;
  const egress = f['egress-allow'] || f['egress-deny'] ? new EgressPolicy({ allow: f['egress-allow'], deny: f['egress-deny'] }) : undefined;

  if (f['dry-run']) {
    let conflicts = false;
    for (const unit of units) {
      const resolution = targets.get(unit.name) as Resolution;
      if (resolution.kind === 'staged') {
        out.write(`# store ${unit.slug}: ${resolution.engine}: the project comes first; its statements are known once it exists\n`);
        continue;
      }
      const target = resolution.target;
      const plan = await planProvisioning(target, { slug: unit.slug, seed: unit.database.seed ? {} : false });
      const statements = planStatements(plan);
      out.write(
        `# store ${unit.slug}: ${describeTarget(targetSummary(target))}${plan.databaseExists ? '' : ' (database to be created)'}\n`,
      );
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

  const master = await openMaster({ url: f['master-database-url'], home });
  const display = progressDisplay();
  let outcomes: Outcome[];
  try {
    const keyring = loadKeyring({ home, embedded: master.engine === 'pglite' });
    const ctx = { master, keyring, actor: 'storeop-apply' };
    outcomes = await mapLimit(units, f.concurrency, async (unit): Promise<Outcome> => {
      const resolution = targets.get(unit.name) as Resolution;
      const started = performance.now();
      try {
        const provisionIt = () =>
          provisionResolved(
            ctx,
            { slug: unit.slug, name: unit.spec.displayName, ownerEmail: unit.spec.owner, plan: unit.spec.plan, source: 'apply' },
            resolution,
            {
              seed: unit.database.seed
                ? {
                    currency: unit.spec.settings?.currency ?? 'USD',
                    locale: unit.spec.settings?.locale ?? 'en-US',
                    displayName: unit.spec.displayName,
                  }
                : false,
              onProgress: (p) => display.update(unit.slug, p),
            },
            {
              defaults,
              pollMs: f['supabase-poll-interval'],
              deadlineMs: f['supabase-timeout'],
              onWaiting: (reason) => display.line(`${unit.slug}: ${reason}`),
            },
          );
        // The egress policy pins the hosts a manifest names; a staged engine's host is known only inside the job.
        const { result } = await (egress && resolution.kind === 'target'
          ? withEgressPolicy(egress, resolution.target, provisionIt)
          : provisionIt());
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
          engine: resolution.kind === 'target' ? resolution.target.engine : resolution.engine,
          database: resolution.kind === 'target' ? describeTarget(targetSummary(resolution.target)) : `${resolution.engine} project`,
          phase: 'Failed',
          tables: '-',
          changed: false,
          durationMs: Math.round(performance.now() - started),
          error: message,
        };
      }
    });
  } finally {
    display.done();
    await master.close();
  }
  out.write(
    `${formatTable(
      ['STORE', 'ENGINE', 'DATABASE', 'PHASE', 'TABLES', 'DURATION'],
      outcomes.map((o) => [o.unit.slug, o.engine, o.database, o.phase, o.tables, `${o.durationMs}ms`]),
    )}\n`,
  );
  const failed = outcomes.filter((o) => o.phase !== 'Ready');
  if (failed.length) {
    out.write(`${failed.length} of ${outcomes.length} store(s) failed\n`);
    return 1;
  }
  out.write(outcomes.some((o) => o.changed) ? `${outcomes.length} store(s) ready\n` : `${outcomes.length} store(s) ready; no changes\n`);
  return 0;
}
