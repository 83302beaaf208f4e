// GET /v1/stores/{id}/usage and GET /v1/usage/summary: usage as last collected, against plan limits. Their
// shapes (zod) serve both the handlers and the OpenAPI document.
import type { Hono } from 'hono';
import type { Kysely } from 'kysely';
import { z } from 'zod';
import { fieldIssues, strictObject } from '../api/common.js';
import { QUOTA_LIMITS } from '../api/store-plan.js';
import type { MasterDB } from '../master/types.js';
import { storeUsage, usageSummary } from '../stores/usage/report.js';

export const usageQuery = strictObject({ period: z.enum(['day', 'month']).default('month') });

const limits = z.object(Object.fromEntries(QUOTA_LIMITS.map((l) => [l, z.int().nullable()])) as Record<string, z.ZodType>);

export const storeUsageView = z.object({
  id: z.string(),
  slug: z.string(),
  plan: z.string(),
  status: z.string(),
  period: z.enum(['day', 'month']),
  collectedAt: z.string().nullable(),
  usage: z.object({
    products: z.int(),
    customers: z.int(),
    orders: z.int(),
    orderItems: z.int(),
    storageMB: z.number(),
    openConnections: z.int(),
    ordersInPeriod: z.int(),
    revenueInPeriod: z.string().describe('Exact decimal'),
    apiRequestsInPeriod: z.int(),
    ordersThisMonth: z.int(),
    apiRequestsToday: z.int(),
  }),
  limits: limits.describe('null: unlimited'),
  enforcement: z.enum(['Warn', 'Suspend']),
  exceeded: z.array(z.object({ limit: z.enum(QUOTA_LIMITS), figure: z.number(), max: z.number() })),
});

export const usageSummaryView = z.object({
  period: z.enum(['day', 'month']),
  plans: z.array(
    z.object({
      plan: z.string(),
      stores: z.int(),
      activeStores: z.int(),
      storesOverLimit: z.int(),
      products: z.int(),
      ordersInPeriod: z.int(),
      revenueInPeriod: z.string(),
      storageMB: z.number(),
      apiRequestsInPeriod: z.int(),
    }),
  ),
});

type Problem = (c: never, status: 400 | 404, error: string, issues?: Array<{ path: string; message: string }>) => Response;

/** Adds the usage routes; `storeId` is set for the request log (api_usage_logs.store_id). */
// biome-ignore lint/suspicious/noExplicitAny: the app's environment type belongs to app.ts
export function addUsageRoutes(app: Hono<any>, db: Kysely<MasterDB>, problem: Problem): void {
  const parse = (query: Record<string, string>) => usageQuery.safeParse(query);
  app.get('/v1/stores/:id/usage', async (c) => {
    const query = parse(c.req.query());
    if (!query.success) return problem(c as never, 400, 'invalid query', fieldIssues(query.error));
    const [found] = await storeUsage(db, { period: query.data.period, store: c.req.param('id') });
    if (!found) return problem(c as never, 404, 'no such store');
    c.set('storeId', found.id);
    return c.json(found);
  });
  app.get('/v1/usage/summary', async (c) => {
    const query = parse(c.req.query());
    if (!query.success) return problem(c as never, 400, 'invalid query', fieldIssues(query.error));
    return c.json({ period: query.data.period, plans: await usageSummary(db, { period: query.data.period }) });
  });
}

const json = (schema: z.ZodType) => ({ 'application/json': { schema: z.toJSONSchema(schema, { target: 'openapi-3.0', io: 'output' }) } });
const period = {
  name: 'period',
  in: 'query',
  required: false,
  schema: { type: 'string', enum: ['day', 'month'], default: 'month' },
  description: 'Orders, revenue and API requests of today or of this month (UTC)',
};

/** The usage paths of the OpenAPI document. */
export function usageOpenApiPaths(errors: Record<string, unknown>, problemContent: unknown): Record<string, unknown> {
  return {
    '/v1/stores/{id}/usage': {
      get: {
        summary: "A store's usage (as last collected) against its plan's limits, by id or slug",
        parameters: [{ name: 'id', in: 'path', required: true, schema: { type: 'string' } }, period],
        responses: {
          '200': { description: 'Usage', content: json(storeUsageView) },
          ...errors,
          '404': { description: 'Unknown store', content: problemContent },
        },
      },
    },
    '/v1/usage/summary': {
      get: {
        summary: 'The fleet per plan: stores, stores over a limit, products, orders, revenue, storage, API requests',
        parameters: [period],
        responses: { '200': { description: 'Summary', content: json(usageSummaryView) }, ...errors },
      },
    },
  };
}
