// storeop usage [SLUG] [--period day|month] [-o table|json]: each store's usage against its plan's limits.
// storeop usage collect: one collection now (what the operator and `storeop api` do on their interval).
import { existsSync } from 'node:fs';
import { z } from 'zod';
import { parseDatabaseUrl } from '../../engines/url.js';
import { masterUrl, openMaster } from '../../master/database.js';
import { loadKeyring } from '../../master/keyring.js';
import { collectUsage, DEFAULT_SESSIONS_PER_SERVER } from '../../stores/usage/collector.js';
import { recordedOverrides, storeUsage } from '../../stores/usage/report.js';
import { parseFlags, UsageError } from '../args.js';
import { formatTable } from '../output.js';

export const usageHelp = `usage: storeop usage [SLUG|ID] [--period day|month] [-o table|json] [--master-database-url URL] [--home DIR]
       storeop usage collect [--sessions-per-server N] [--master-database-url URL] [--home DIR]

Prints each store's usage (as last collected) against its plan's limits: products, orders and revenue in the
period (today or this month, UTC), storage, API requests, and the limits it is over. "collect" reads every
active store's database now (one statement per store, at most N sessions per database server, default ${DEFAULT_SESSIONS_PER_SERVER})
and checks the limits of its plan (built in, or a StorePlan applied with storeop apply).
The master DB is --master-database-url, STOREOP_MASTER_DATABASE_URL, else DIR/master (--home, STOREOP_HOME, ./.storeop).`;

const flags = z.object({
  period: z.enum(['day', 'month']).default('month'),
  output: z.enum(['table', 'json']).default('table'),
  'sessions-per-server': z.coerce.number().int().min(1).max(64).default(DEFAULT_SESSIONS_PER_SERVER),
  'master-database-url': z.string().optional(),
  home: z.string().optional(),
});
const spec = {
  period: { type: 'string' },
  output: { type: 'string', short: 'o' },
  'sessions-per-server': { type: 'string' },
  'master-database-url': { type: 'string' },
  home: { type: 'string' },
} as const;

const limit = (value: number | null) => (value === null ? '-' : String(value));
const against = (figure: number | string, max: number | null) => `${figure}/${limit(max)}`;
const exceededNames = (exceeded: Array<{ limit: string }>) => exceeded.map((e) => e.limit).join(',') || '-';

export async function usageCommand(argv: string[]): Promise<number> {
  const { flags: f, positionals } = parseFlags(argv, spec, flags);
  if (positionals.length > 1) throw new UsageError('give at most one store (slug or id), or "collect"');
  const url = masterUrl({ url: f['master-database-url'], home: f.home });
  const embedded = parseDatabaseUrl(url, 'master database URL').dataDir;
  if (embedded && !existsSync(embedded)) {
    process.stderr.write(`storeop usage: there is no master database at ${embedded} yet (storeop apply creates it)\n`);
    return 1;
  }
  const master = await openMaster({ url, home: f.home });
  try {
    if (positionals[0] === 'collect') {
      const keyring = loadKeyring({ home: f.home, embedded: master.engine === 'pglite' });
      const report = await collectUsage(
        { master, keyring },
        { perServer: f['sessions-per-server'], overrides: await recordedOverrides(master.db) },
      );
      const failed = report.stores.filter((s) => s.error);
      for (const s of failed) process.stderr.write(`storeop usage: ${s.slug}: ${s.error}\n`);
      for (const s of report.stores.filter((r) => r.verdict.exceeded.length))
        process.stdout.write(
          `${s.slug}: over ${s.verdict.exceeded.map((e) => `${e.limit} (${e.figure} > ${e.max})`).join(', ')}; enforcement ${s.verdict.enforcement}\n`,
        );
      const sampled = report.stores.filter((s) => s.sampled).length;
      process.stdout.write(`collected ${sampled} of ${report.stores.length} stores in ${(report.durationMs / 1000).toFixed(1)}s\n`);
      return failed.length ? 1 : 0;
    }
    const store = positionals[0];
    const rows = await storeUsage(master.db, { period: f.period, store });
    if (store && rows.length === 0) {
      process.stderr.write(`storeop usage: store ${store} not found\n`);
      return 1;
    }
    if (f.output === 'json') {
      process.stdout.write(`${JSON.stringify(store ? rows[0] : rows, null, 2)}\n`);
      return 0;
    }
    if (rows.length === 0) {
      process.stdout.write('no stores\n');
      return 0;
    }
    const period = f.period === 'day' ? 'TODAY' : 'MONTH';
    process.stdout.write(
      `${formatTable(
        ['SLUG', 'PLAN', 'STATUS', 'PRODUCTS', `ORDERS/${period}`, `REVENUE/${period}`, 'STORAGE MB', 'API/DAY', 'OVER', 'COLLECTED'],
        rows.map((r) => [
          r.slug,
          r.plan,
          r.status,
          against(r.usage.products, r.limits.maxProducts),
          f.period === 'month' ? against(r.usage.ordersInPeriod, r.limits.maxOrdersPerMonth) : String(r.usage.ordersInPeriod),
          r.usage.revenueInPeriod,
          against(r.usage.storageMB, r.limits.maxStorageMB),
          against(r.usage.apiRequestsToday, r.limits.maxApiRequestsPerDay),
          exceededNames(r.exceeded),
          r.collectedAt ?? 'never',
        ]),
      )}\n`,
    );
    return 0;
  } finally {
    await master.close();
  }
}
