// The usage collector: for each store with a database, one round trip reads its figures (bounded per
// database server), the master DB records them per period, and each store's figures are checked against its
// plan's limits. Suspended stores are not read (their login is disabled): their last figures are checked
// against the current limits, so a raised limit or a changed plan lifts a suspension.

import type { TenantConnection } from '../../engines/target.js';
import type { Logger } from '../../log.js';
import { readActiveDatabaseConfigs } from '../../master/integrations.js';
import type { QuotaStateColumn } from '../../master/types.js';
import {
  type CollectableStore,
  daysBetween,
  monthStart,
  type PerformanceFigure,
  provisioningDurations,
  recordPerformance,
  recordSample,
  rollupPlans,
  saveQuotaState,
  storeFigures,
  storesWithDatabases,
  utcDay,
} from '../../master/usage.js';
import type { MasterContext } from '../provision-store.js';
import { forEachPerServer } from './per-server.js';
import { type EffectivePlan, effectivePlans, type PlanOverride } from './plan-limits.js';
import { evaluateQuota, type QuotaVerdict, type UsageFigures } from './quota.js';
import { readSample, serverKey } from './read-sample.js';

export const DEFAULT_SESSIONS_PER_SERVER = 4;

export interface CollectOptions {
  /** The clock (tests inject one to cross day and month boundaries). */
  now?: () => Date;
  /** Store sessions open at once on one database server (default 4). */
  perServer?: number;
  /** StorePlans overriding the built-in limits. */
  overrides?: readonly PlanOverride[];
  /** Figures the driver adds to performance_metrics (the operator's reconcile durations). */
  performance?: readonly PerformanceFigure[];
  log?: Logger;
}

export interface StoreUsageResult {
  id: string;
  slug: string;
  source: string | null;
  plan: EffectivePlan;
  /** Whether the store's database was read (suspended stores and failures are not). */
  sampled: boolean;
  error?: string;
  /** The figures checked against the plan's limits. */
  figures: UsageFigures;
  verdict: QuotaVerdict;
  /** Whether the verdict differs from the one recorded before. */
  changed: boolean;
}

export interface CollectionReport {
  at: Date;
  durationMs: number;
  stores: StoreUsageResult[];
}

type Prepared = { store: CollectableStore; connection: TenantConnection };

export async function collectUsage(
  ctx: Pick<MasterContext, 'master' | 'keyring'>,
  options: CollectOptions = {},
): Promise<CollectionReport> {
  const db = ctx.master.db;
  const now = (options.now ?? (() => new Date()))();
  const started = performance.now();
  const today = utcDay(now);
  const stores = await storesWithDatabases(db);
  const errors = new Map<string, string>();
  const sampled = new Set<string>();

  const activeStores = stores.filter((s) => s.status === 'active');
  const configs = await readActiveDatabaseConfigs(
    db,
    ctx.keyring,
    activeStores.map((s) => s.id),
  );
  const active: Prepared[] = [];
  for (const store of activeStores) {
    const config = configs.get(store.id);
    if (config instanceof Error) errors.set(store.id, config.message);
    else if (config) active.push({ store, connection: config.connection });
  }
  await forEachPerServer(
    active,
    (p) => serverKey(p.connection),
    options.perServer ?? DEFAULT_SESSIONS_PER_SERVER,
    async ({ store, connection }) => {
      try {
        const sinceDay = store.collectedAt && store.collectedAt < now ? utcDay(store.collectedAt) : monthStart(now);
        const sample = await readSample(connection, new Date(`${sinceDay}T00:00:00Z`));
        const read = new Map(sample.days.filter((d) => d.day <= today).map((d) => [d.day, d]));
        // Today always has a row; days read without figures are zeroed by recordSample (orders deleted since).
        const days = daysBetween(sinceDay, today)
          .filter((day) => read.has(day) || day === today)
          .map((day) => read.get(day) ?? { day, orders: 0, revenue: '0', newCustomers: 0 });
        await recordSample(db, store.id, { ...sample, days, fromDay: sinceDay }, now);
        sampled.add(store.id);
      } catch (error) {
        errors.set(store.id, (error as Error).message);
        options.log?.warn({ store: store.slug, err: (error as Error).message }, 'could not collect usage');
      }
    },
  );

  const planOf = effectivePlans(options.overrides ?? []);
  const figures = await storeFigures(
    db,
    stores.map((s) => s.id),
    now,
  );
  const results: StoreUsageResult[] = [];
  for (const store of stores) {
    const plan = planOf(store.plan);
    const f = figures.get(store.id);
    const usage: UsageFigures = {
      maxProducts: f?.products ?? 0,
      maxOrdersPerMonth: f?.ordersThisMonth ?? 0,
      maxStorageMB: Math.floor((f?.storageBytes ?? 0) / 1_048_576),
      maxApiRequestsPerDay: f?.apiRequestsToday ?? 0,
    };
    const verdict = evaluateQuota(usage, plan);
    const state: QuotaStateColumn | null = verdict.exceeded.length
      ? { exceeded: verdict.exceeded, enforcement: verdict.enforcement }
      : null;
    const changed = await saveQuotaState(db, store.id, state);
    const error = errors.get(store.id);
    results.push({
      id: store.id,
      slug: store.slug,
      source: store.source,
      plan,
      sampled: sampled.has(store.id),
      ...(error ? { error } : {}),
      figures: usage,
      verdict,
      changed,
    });
  }

  await rollupPlans(db, now);
  const durationMs = performance.now() - started;
  await recordPerformance(db, now, [
    { name: 'usage_collection_duration_seconds', value: durationMs / 1000, unit: 's', labels: {} },
    { name: 'usage_collection_stores', value: sampled.size, unit: 'count', labels: { result: 'sampled' } },
    { name: 'usage_collection_stores', value: errors.size, unit: 'count', labels: { result: 'failed' } },
    ...(await provisioningDurations(db, now)),
    ...(options.performance ?? []),
  ]);
  options.log?.info(
    { stores: stores.length, sampled: sampled.size, failed: errors.size, durationMs: Math.round(durationMs) },
    'usage collected',
  );
  return { at: now, durationMs, stores: results };
}
