// storeop get stores | get store SLUG -o yaml|json: what the platform sees, read from the master DB.
import { existsSync } from 'node:fs';
import { stringify } from 'yaml';
import { z } from 'zod';
import { parseDatabaseUrl } from '../../engines/url.js';
import { masterUrl, openMaster } from '../../master/database.js';
import { findStore, listStores } from '../../master/stores.js';
import { parseFlags, UsageError } from '../args.js';
import { formatStores, LIST_OUTPUTS, PHASE } from '../store-list.js';

export const getHelp = `usage: storeop get stores [-o wide|name|json|yaml] [--master-database-url URL] [--home DIR]
       storeop get store SLUG|ID [-o yaml|json] [--master-database-url URL] [--home DIR]

-o json|yaml lists the stores as a kubectl-style List of Store objects (camelCase fields), -o name as
store/SLUG lines, -o wide adds the server, schema, source and id columns. Reads the master DB (--master-database-url, STOREOP_MASTER_DATABASE_URL, else DIR/master with DIR
from --home, STOREOP_HOME or ./.storeop).`;

const flags = z.object({
  output: z.enum(LIST_OUTPUTS).default('table'),
  'master-database-url': z.string().optional(),
  home: z.string().optional(),
});
const spec = { output: { type: 'string', short: 'o' }, 'master-database-url': { type: 'string' }, home: { type: 'string' } } as const;

export async function getCommand(argv: string[]): Promise<number> {
  const { flags: f, positionals } = parseFlags(argv, spec, flags);
  const [what, id] = positionals;
  if (what !== 'stores' && what !== 'store') throw new UsageError('expected "stores" or "store SLUG"; see "storeop get --help"');
  if (what === 'store' && !id) throw new UsageError('store: give the store slug or id');
  if (what === 'store' && (f.output === 'name' || f.output === 'wide')) throw new UsageError('get store: -o must be json or yaml');
  // A read: an embedded master that does not exist yet is reported, not created.
  const url = masterUrl({ url: f['master-database-url'], home: f.home });
  const embedded = parseDatabaseUrl(url, 'master database URL').dataDir;
  if (embedded && !existsSync(embedded)) {
    if (what === 'store') {
      process.stderr.write(`storeop get: store ${id} not found: there is no master database at ${embedded} yet\n`);
      return 1;
    }
    process.stdout.write(formatStores([], f.output, `no stores (no master database at ${embedded} yet; storeop apply creates it)`));
    return 0;
  }
  const master = await openMaster({ url, home: f.home });
  try {
    const db = master.db;
    if (what === 'stores') {
      const stores = await listStores(db);
      const jobs = await db
        .selectFrom('provisioning_jobs')
        .select(['store_id', 'tables_created', 'total_tables', 'created_at'])
        .where('status', '=', 'succeeded')
        .orderBy('created_at', 'desc')
        .execute();
      const listed = stores.map((row) => {
        const job = jobs.find((j) => j.store_id === row.id);
        return { row, tables: job ? `${job.tables_created}/${job.total_tables}` : undefined };
      });
      process.stdout.write(formatStores(listed, f.output));
      return 0;
    }
    const store = await findStore(db, id as string);
    if (!store) {
      process.stderr.write(`storeop get: store ${id} not found in ${master.location}\n`);
      return 1;
    }
    const subscription = await db
      .selectFrom('subscriptions')
      .selectAll()
      .where('store_id', '=', store.id)
      .where('cancelled_at', 'is', null)
      .executeTakeFirst();
    const config = await db
      .selectFrom('integration_configs')
      .select(['integration_type', 'config_data', 'is_active', 'updated_at'])
      .where('store_id', '=', store.id)
      .where('is_active', '=', true)
      .executeTakeFirst();
    const lastJob = await db
      .selectFrom('provisioning_jobs')
      .selectAll()
      .where('store_id', '=', store.id)
      .orderBy('created_at', 'desc')
      .limit(1)
      .executeTakeFirst();
    const view = {
      ...store,
      phase: PHASE[store.database_status],
      // The StoreSchema the store database has, and its version (set once a run made it).
      schema: store.schema_name ? { name: store.schema_name, version: store.schema_version } : null,
      subscription: subscription ?? null,
      // Connection fields only; the encrypted secrets stay out of the output.
      database: config ? { type: config.integration_type, ...config.config_data.connection, updatedAt: config.updated_at } : null,
      lastJob: lastJob ?? null,
    };
    if (f.output === 'json') process.stdout.write(`${JSON.stringify(view, null, 2)}\n`);
    else process.stdout.write(stringify(view));
    return 0;
  } finally {
    await master.close();
  }
}
