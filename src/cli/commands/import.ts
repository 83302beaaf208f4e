// storeop import: brings the stores of the platform's current database under storeop, in connect mode.
// --dry-run (default) checks each store; --write-manifests DIR writes its Store and Secret; --apply
// registers and provisions it through the store service. Credentials read from the legacy database go
// only into Secret files and the master DB's encrypted configs, never to the terminal.
import { z } from 'zod';
import { redactCredentials } from '../../errors.js';
import { type ImportOutcome, importStore } from '../../import/apply.js';
import { readLegacyStores } from '../../import/legacy-source.js';
import { writeManifests } from '../../import/manifests.js';
import { loadMapping } from '../../import/mapping.js';
import { checkStore, type StoreCheck } from '../../import/plan.js';
import { type ImportedStore, type LegacyRecord, recordOf } from '../../import/records.js';
import { runAll } from '../../import/run-all.js';
import { openMaster, storeopHome } from '../../master/database.js';
import { loadKeyring } from '../../master/keyring.js';
import { parseFlags, UsageError } from '../args.js';
import { formatTable } from '../output.js';

export const importHelp = `usage: storeop import --from URL [--stores-table NAME] [--configs-table NAME] [--mapping FILE]
                      [--dry-run | --apply [--home DIR] [--master-database-url URL]] [--write-manifests DIR] [--concurrency N]

Brings the stores of the platform's current database (--from postgres://..., mysql://... or sqlite://FILE) under
storeop in connect mode, without touching their data. The default shape: table stores (id, slug, name, owner_id,
database_type, database_status, subscription_plan) and integration_configs (store_id, integration_type,
config_data JSON with host, port, database, username, password or projectUrl, serviceRoleKey, databasePassword,
is_active); --mapping FILE (YAML) names other tables, columns and JSON paths.

  --dry-run            (default) per store: engine, reachable, store tables present/missing, conflicts, action
  --write-manifests D  per store a Store (connect mode) and a Secret (stringData, mode 0600) in D; seal the Secrets
                       before committing (D/README.md)
  --apply              register each store in the master DB (config encrypted; embedded in ./.storeop unless --home
                       or --master-database-url) and provision it: missing tables created, empty tables seeded,
                       nothing dropped or altered; a conflict is reported and that store left unchanged
  --concurrency N      stores at once (default 4)

A store that fails never stops the others; the run exits 1 when any store failed. Running it again changes
nothing that is in place, and finishes what a killed run left.`;

const flags = z
  .object({
    from: z.string({ error: 'is required (postgres://, mysql:// or sqlite:// URL of the legacy database)' }).min(1),
    'stores-table': z.string().optional(),
    'configs-table': z.string().optional(),
    mapping: z.string().min(1).optional(),
    'dry-run': z.boolean().default(false),
    'write-manifests': z.string().min(1).optional(),
    apply: z.boolean().default(false),
    home: z.string().min(1).optional(),
    'master-database-url': z.string().min(1).optional(),
    concurrency: z.coerce.number().int().min(1).max(64).default(4),
  })
  .refine((f) => !(f.apply && f['dry-run']), { message: 'give either --dry-run or --apply', path: ['apply'] })
  .refine((f) => f.apply || (f.home === undefined && f['master-database-url'] === undefined), {
    message: 'is used only with --apply',
    path: ['home'],
  });

const spec = {
  from: { type: 'string' },
  'stores-table': { type: 'string' },
  'configs-table': { type: 'string' },
  mapping: { type: 'string' },
  'dry-run': { type: 'boolean' },
  'write-manifests': { type: 'string' },
  apply: { type: 'boolean' },
  home: { type: 'string' },
  'master-database-url': { type: 'string' },
  concurrency: { type: 'string' },
} as const;

/** Two rows with one slug are one store claimed twice: the later ones are refused, naming the first. */
function withUniqueSlugs(records: LegacyRecord[]): LegacyRecord[] {
  const first = new Map<string, string>();
  return records.map((record) => {
    if (record.kind !== 'store') return record;
    const other = first.get(record.slug);
    if (other === undefined) {
      first.set(record.slug, record.legacyId);
      return record;
    }
    return {
      kind: 'invalid',
      slug: record.slug,
      legacyId: record.legacyId,
      engine: record.engine,
      problem: `slug ${record.slug} is also used by legacy store ${other}`,
    };
  });
}

const ellipsis = (text: string, max = 100) => (text.length > max ? `${text.slice(0, max - 3)}...` : text);

async function dryRun(records: LegacyRecord[], home: string, concurrency: number): Promise<number> {
  const checks = await runAll(
    records,
    concurrency,
    (record) => checkStore(record, home),
    (check: StoreCheck, done, total) => process.stderr.write(`[${done}/${total}] ${check.slug}: checked\n`),
  );
  process.stdout.write(
    `${formatTable(
      ['STORE', 'ENGINE', 'REACHABLE', 'PRESENT', 'MISSING', 'CONFLICTS', 'ACTION'],
      checks.map((c) => [
        c.slug,
        c.engine,
        c.reachable,
        String(c.present),
        c.missing.length ? c.missing.join(',') : '-',
        c.conflicts.length ? ellipsis(c.conflicts.map((x) => x.replace(/ \(.*$/, '')).join('; '), 60) : '-',
        ellipsis(c.action),
      ]),
    )}\n`,
  );
  for (const c of checks) {
    for (const conflict of c.conflicts) process.stdout.write(`conflict: ${c.slug}: ${conflict}\n`);
    if (c.failed && !c.conflicts.length) process.stdout.write(`would fail: ${c.slug}: ${c.action.replace(/^skip: /, '')}\n`);
  }
  const failed = checks.filter((c) => c.failed);
  process.stdout.write(
    `dry run: nothing was changed; ${checks.length - failed.length} of ${checks.length} store(s) can be imported${failed.length ? `, ${failed.length} would fail` : ''}\n`,
  );
  return failed.length ? 1 : 0;
}

async function applyAll(
  records: LegacyRecord[],
  home: string,
  options: { masterUrl: string | undefined; concurrency: number },
): Promise<number> {
  const master = await openMaster({ url: options.masterUrl, home });
  let outcomes: ImportOutcome[];
  try {
    const keyring = loadKeyring({ home, embedded: master.engine === 'pglite' });
    const ctx = { master, keyring, actor: 'storeop-import' };
    outcomes = await runAll(
      records,
      options.concurrency,
      (record) => importStore(ctx, record, home),
      (o, done, total) => {
        const what =
          o.result === 'failed'
            ? `failed: ${o.error}`
            : o.result === 'suspended'
              ? 'suspended'
              : `ready${o.changed ? `, ${o.tablesCreated} table(s) created` : ' (no changes)'}`;
        process.stderr.write(`[${done}/${total}] ${o.slug}: ${what}\n`);
      },
    );
  } finally {
    await master.close();
  }
  process.stdout.write(
    `${formatTable(
      ['STORE', 'ENGINE', 'RESULT', 'CREATED', 'ERROR'],
      outcomes.map((o) => [
        o.slug,
        o.engine,
        o.result === 'ready' && !o.changed ? 'ready (no changes)' : o.result,
        o.result === 'failed' ? '-' : `${o.tablesCreated}/${o.totalTables}`,
        o.code ?? '-', // the whole message follows the table
      ]),
    )}\n`,
  );
  const failed = outcomes.filter((o) => o.result === 'failed');
  for (const o of failed) process.stdout.write(`failed: ${o.slug}: ${o.error}\n`);
  const changed = outcomes.filter((o) => o.changed).length;
  process.stdout.write(
    `import: ${outcomes.length - failed.length} of ${outcomes.length} store(s) imported (${changed ? `${changed} changed` : 'no changes'})` +
      `${failed.length ? `; ${failed.length} failed: ${failed.map((o) => `${o.slug} (${o.code})`).join(', ')}` : ''}\n`,
  );
  return failed.length ? 1 : 0;
}

export async function importCommand(argv: string[]): Promise<number> {
  const { flags: f, positionals } = parseFlags(argv, spec, flags);
  if (positionals.length) throw new UsageError(`unexpected argument ${JSON.stringify(positionals[0])}`);
  const mapping = loadMapping(f.mapping, { stores: f['stores-table'], configs: f['configs-table'] });
  const home = storeopHome(f.home);
  const rows = await readLegacyStores(f.from, mapping);
  process.stderr.write(`read ${rows.length} store(s) from ${redactCredentials(f.from)}\n`);
  const records = withUniqueSlugs(rows.map((row) => recordOf(mapping, row)));
  let code = 0;
  if (f['write-manifests']) {
    const stores = records.filter((r): r is ImportedStore => r.kind === 'store');
    writeManifests(f['write-manifests'], stores);
    process.stdout.write(
      `wrote ${stores.length} Store and ${stores.length} Secret manifest(s) to ${f['write-manifests']}; seal the Secrets before committing (README.md there)\n`,
    );
    for (const record of records)
      if (record.kind === 'invalid') process.stdout.write(`skipped ${record.slug} (legacy store ${record.legacyId}): ${record.problem}\n`);
    if (records.some((r) => r.kind === 'invalid')) code = 1;
  }
  if (f.apply) return Math.max(code, await applyAll(records, home, { masterUrl: f['master-database-url'], concurrency: f.concurrency }));
  if (f['dry-run'] || !f['write-manifests']) return Math.max(code, await dryRun(records, home, f.concurrency));
  return code;
}
