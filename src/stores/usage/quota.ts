// Quota evaluation: a store's figures against its plan's limits. Over a limit means strictly more than it.
import type { Enforcement, QuotaLimit } from '../../api/store-plan.js';
import type { EffectivePlan } from './plan-limits.js';

/** The figures each limit is checked against. */
export type UsageFigures = Record<QuotaLimit, number>;

export interface QuotaBreach {
  limit: QuotaLimit;
  figure: number;
  max: number;
}

export interface QuotaVerdict {
  exceeded: QuotaBreach[];
  enforcement: Enforcement;
}

export function evaluateQuota(figures: UsageFigures, plan: EffectivePlan): QuotaVerdict {
  const exceeded: QuotaBreach[] = [];
  for (const [limit, max] of Object.entries(plan.limits) as Array<[QuotaLimit, number | null]>) {
    if (max !== null && figures[limit] > max) exceeded.push({ limit, figure: figures[limit], max });
  }
  return { exceeded, enforcement: plan.enforcement };
}

const WHAT: Record<QuotaLimit, string> = {
  maxProducts: 'products',
  maxOrdersPerMonth: 'orders this month',
  maxStorageMB: 'MB of storage',
  maxApiRequestsPerDay: 'API requests today',
};

/** "maxProducts: 101 products, limit 100; …": names the limit and the figure. */
export function describeBreaches(exceeded: readonly QuotaBreach[]): string {
  return exceeded.map((b) => `${b.limit}: ${b.figure} ${WHAT[b.limit]}, limit ${b.max}`).join('; ');
}

/** Whether the verdict suspends the store. */
export const suspends = (verdict: QuotaVerdict | null | undefined): boolean =>
  verdict !== null && verdict !== undefined && verdict.enforcement === 'Suspend' && verdict.exceeded.length > 0;
