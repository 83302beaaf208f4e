// The read side of usage: each store's figures against its plan's limits (storeop usage, GET
// /v1/stores/{id}/usage) and the fleet summed up per plan (GET /v1/usage/summary).
import type { Kysely } from 'kysely';
import { storePlanSpec } from '../../api/store-plan.js';
import type { MasterDB } from '../../master/types.js';
import { declaredStorePlans, usageRows } from '../../master/usage.js';
import { effectivePlans, type PlanLimits, type PlanOverride } from './plan-limits.js';
import type { QuotaBreach } from './quota.js';

export type UsagePeriod = 'day' | 'month';

export interface StoreUsage {
  id: string;
  slug: string;
  plan: string;
  status: string;
  period: UsagePeriod;
  collectedAt: string | null;
  usage: {
    products: number;
    customers: number;
    orders: number;
    orderItems: number;
    storageMB: number;
    openConnections: number;
    ordersInPeriod: number;
    revenueInPeriod: string;
    apiRequestsInPeriod: number;
    ordersThisMonth: number;
    apiRequestsToday: number;
  };
  limits: PlanLimits;
  enforcement: 'Warn' | 'Suspend';
  exceeded: QuotaBreach[];
}

/** The StorePlans recorded in the master DB (declared by storeop apply, or mirrored by the operator), valid ones only. */
export async function recordedOverrides(db: Kysely<MasterDB>): Promise<PlanOverride[]> {
  const rows = await declaredStorePlans(db);
  return rows.flatMap((r) => {
    const parsed = storePlanSpec.safeParse(r.spec);
    return parsed.success ? [{ name: r.name, spec: parsed.data }] : [];
  });
}

const megabytes = (bytes: number) => Math.round((bytes / 1_048_576) * 10) / 10;

export async function storeUsage(
  db: Kysely<MasterDB>,
  options: { period: UsagePeriod; now?: Date; store?: string | undefined },
): Promise<StoreUsage[]> {
  const planOf = effectivePlans(await recordedOverrides(db));
  const rows = await usageRows(db, { period: options.period, now: options.now ?? new Date(), store: options.store });
  return rows.map((r) => {
    const plan = planOf(r.plan);
    return {
      id: r.id,
      slug: r.slug,
      plan: r.plan,
      status: r.status,
      period: options.period,
      collectedAt: r.collectedAt ? new Date(r.collectedAt).toISOString() : null,
      usage: {
        products: r.products,
        customers: r.customers,
        orders: r.orders,
        orderItems: r.orderItems,
        storageMB: megabytes(r.storageBytes),
        openConnections: r.openConnections,
        ordersInPeriod: r.periodOrders,
        revenueInPeriod: r.periodRevenue,
        apiRequestsInPeriod: r.periodApiRequests,
        ordersThisMonth: r.ordersThisMonth,
        apiRequestsToday: r.apiRequestsToday,
      },
      limits: plan.limits,
      enforcement: plan.enforcement,
      exceeded: (r.quotaState?.exceeded ?? []) as QuotaBreach[],
    };
  });
}

export interface PlanSummary {
  plan: string;
  stores: number;
  activeStores: number;
  storesOverLimit: number;
  products: number;
  ordersInPeriod: number;
  revenueInPeriod: string;
  storageMB: number;
  apiRequestsInPeriod: number;
}

/** The fleet per plan; revenue summed exactly (cents as integers). */
export async function usageSummary(db: Kysely<MasterDB>, options: { period: UsagePeriod; now?: Date }): Promise<PlanSummary[]> {
  const stores = await storeUsage(db, options);
  const plans = new Map<string, PlanSummary & { cents: bigint }>();
  for (const s of stores) {
    const p = plans.get(s.plan) ?? {
      plan: s.plan,
      stores: 0,
      activeStores: 0,
      storesOverLimit: 0,
      products: 0,
      ordersInPeriod: 0,
      revenueInPeriod: '0.00',
      storageMB: 0,
      apiRequestsInPeriod: 0,
      cents: 0n,
    };
    p.stores++;
    if (s.status === 'active') p.activeStores++;
    if (s.exceeded.length) p.storesOverLimit++;
    p.products += s.usage.products;
    p.ordersInPeriod += s.usage.ordersInPeriod;
    p.cents += toCents(s.usage.revenueInPeriod);
    p.storageMB = Math.round((p.storageMB + s.usage.storageMB) * 10) / 10;
    p.apiRequestsInPeriod += s.usage.apiRequestsInPeriod;
    plans.set(s.plan, p);
  }
  return [...plans.values()]
    .sort((a, b) => a.plan.localeCompare(b.plan))
    .map(({ cents, ...p }) => ({ ...p, revenueInPeriod: fromCents(cents) }));
}

function toCents(decimal: string): bigint {
  const [whole = '0', fraction = ''] = decimal.replace('-', '').split('.');
  const cents = BigInt(whole) * 100n + BigInt(`${fraction}00`.slice(0, 2));
  return decimal.startsWith('-') ? -cents : cents;
}

function fromCents(cents: bigint): string {
  const sign = cents < 0n ? '-' : '';
  const abs = cents < 0n ? -cents : cents;
  return `${sign}${abs / 100n}.${String(abs % 100n).padStart(2, '0')}`;
}
