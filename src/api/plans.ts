// The subscription plans a Store can name (their prices and limits are the master DB's, in master/plans.ts).
export const PLAN_NAMES = ['free', 'starter', 'professional', 'enterprise'] as const;
export type PlanName = (typeof PLAN_NAMES)[number];
