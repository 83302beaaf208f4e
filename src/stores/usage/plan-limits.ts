// The limits each plan sets, from built-in defaults (the master DB's plan terms) overridden by a StorePlan.
import type { PlanName } from '../../api/plans.js';
import type { Enforcement, QuotaLimit, StorePlanSpec } from '../../api/store-plan.js';
import { PLANS } from '../../master/plans.js';

/** null: unlimited. */
export type PlanLimits = Record<QuotaLimit, number | null>;

export interface EffectivePlan {
  plan: PlanName;
  limits: PlanLimits;
  enforcement: Enforcement;
  /** The StorePlan that overrides the built-in terms, if any. */
  storePlan?: string | undefined;
}

/** API requests a day per plan: the month's allowance spread over 30 days. */
const perDay = (perMonth: number | null) => (perMonth === null ? null : Math.ceil(perMonth / 30));

export function builtInLimits(plan: PlanName): PlanLimits {
  const terms = PLANS[plan];
  return {
    maxProducts: terms.maxProducts,
    maxOrdersPerMonth: terms.maxOrdersPerMonth,
    maxStorageMB: terms.maxStorageGb === null ? null : terms.maxStorageGb * 1024,
    maxApiRequestsPerDay: perDay(terms.maxApiCallsPerMonth),
  };
}

/** A StorePlan overriding a plan: its name, for messages, and its validated spec. */
export interface PlanOverride {
  name: string;
  spec: StorePlanSpec;
}

/** Each plan's effective limits; when several StorePlans name the same plan, the first by name wins. */
export function effectivePlans(overrides: readonly PlanOverride[]): (plan: string) => EffectivePlan {
  const byPlan = new Map<string, PlanOverride>();
  for (const o of [...overrides].sort((a, b) => a.name.localeCompare(b.name))) if (!byPlan.has(o.spec.plan)) byPlan.set(o.spec.plan, o);
  return (name) => {
    const plan = (name in PLANS ? name : 'free') as PlanName;
    const override = byPlan.get(plan);
    const limits = builtInLimits(plan);
    for (const [key, value] of Object.entries(override?.spec.limits ?? {})) if (value !== undefined) limits[key as QuotaLimit] = value;
    return { plan, limits, enforcement: override?.spec.enforcement ?? 'Warn', ...(override ? { storePlan: override.name } : {}) };
  };
}
