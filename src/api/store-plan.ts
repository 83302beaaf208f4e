// StorePlan: overrides the built-in limits of one subscription plan (free, starter, professional,
// enterprise) and says what exceeding them does. Cluster-scoped; also accepted by `storeop apply`.
import { z } from 'zod';
import { conditionSchema, type ObjectMeta, strictObject } from './common.js';
import { PLAN_NAMES } from './plans.js';

export const QUOTA_LIMITS = ['maxProducts', 'maxOrdersPerMonth', 'maxStorageMB', 'maxApiRequestsPerDay'] as const;
export type QuotaLimit = (typeof QUOTA_LIMITS)[number];

export const ENFORCEMENTS = ['Warn', 'Suspend'] as const;
export type Enforcement = (typeof ENFORCEMENTS)[number];

const limit = (what: string) => z.int().min(0).max(2_000_000_000).optional().describe(`Most ${what}; unset: the plan's built-in limit.`);

export const storePlanSpec = strictObject({
  plan: z.enum(PLAN_NAMES).describe('The plan these limits apply to (a Store names it in spec.plan).'),
  limits: strictObject({
    maxProducts: limit('products'),
    maxOrdersPerMonth: limit('orders in a calendar month (UTC)'),
    maxStorageMB: limit('megabytes of database storage'),
    maxApiRequestsPerDay: limit('provisioning API requests concerning the store in a day (UTC)'),
  })
    .optional()
    .describe('Limits overriding the built-in ones.'),
  enforcement: z
    .enum(ENFORCEMENTS)
    .default('Warn')
    .describe(
      'Warn: a QuotaExceeded condition, event and metric. Suspend: the same, and the store is suspended as with spec.suspend (its login disabled; data untouched) until it is under its limits again.',
    ),
});

export const storePlanStatus = z.object({
  conditions: z.array(conditionSchema).optional(),
  observedGeneration: z.int().min(0).optional(),
});

export type StorePlanSpec = z.infer<typeof storePlanSpec>;
export type StorePlanStatus = z.infer<typeof storePlanStatus>;

export interface StorePlan {
  apiVersion: string;
  kind: 'StorePlan';
  metadata: ObjectMeta;
  spec: StorePlanSpec;
  status?: StorePlanStatus;
}
