// Request and response shapes of the provisioning API: the CRD spec shapes, validated by zod and
// published as OpenAPI from the same schemas.
import { z } from 'zod';
import { strictObject } from '../api/common.js';
import { storeSpec } from '../api/store.js';
import { storeDatabaseTemplateSpec } from '../api/store-database.js';
import { SLUG_PATTERN } from '../naming.js';

export const provisionRequest = strictObject({
  store: storeSpec
    .omit({ database: true, databaseRef: true })
    .extend({ slug: z.string().regex(SLUG_PATTERN, 'must be 2-41 characters of a-z, 0-9 and "-", starting with a letter') }),
  // An API caller does not choose folders on the operator's disk: an embedded store lives in its own.
  database: storeDatabaseTemplateSpec.refine((d) => d.path === undefined, {
    path: ['path'],
    message: 'is not accepted over the API: an embedded store always lives in <home>/stores/<slug>',
  }),
  /** Values of the Secrets the database spec references by name; used for this job only, never stored or logged. */
  secrets: z.record(z.string(), z.record(z.string(), z.string())).optional(),
});
export type ProvisionRequestBody = z.infer<typeof provisionRequest>;

/** DELETE /v1/stores/{slug}: optionally the database spec (its deletionPolicy) and the Secrets to reach its server. */
export const deleteRequest = z.object({
  database: storeDatabaseTemplateSpec.optional(),
  secrets: z.record(z.string(), z.record(z.string(), z.string())).optional(),
});
export type DeleteRequestBody = z.infer<typeof deleteRequest>;

export const deleted = z.object({
  slug: z.string(),
  deletionPolicy: z.enum(['Retain', 'Delete']),
  database: z.enum(['dropped', 'retained', 'absent']),
});

export const provisionAccepted = z.object({ jobId: z.string(), storeId: z.string(), status: z.literal('provisioning') });

export const jobStatus = z.object({
  status: z.enum(['queued', 'running', 'succeeded', 'failed']),
  step: z.string().nullable(),
  progress: z.int(),
  message: z.string().nullable(),
  tablesCreated: z.int(),
  totalTables: z.int(),
  startedAt: z.string().nullable(),
  finishedAt: z.string().nullable(),
  error: z.string().nullable(),
});

export const storeView = z.object({
  id: z.string(),
  slug: z.string(),
  name: z.string(),
  plan: z.string(),
  databaseType: z.string().nullable(),
  databaseHost: z.string().nullable(),
  databaseName: z.string().nullable(),
  databaseStatus: z.string(),
  isActive: z.boolean(),
  createdAt: z.string(),
  updatedAt: z.string(),
});

/** RFC 9457 problem details (application/problem+json); `type` and `code` are stable, `error` repeats `detail`. */
export const problem = z.object({
  type: z.string(),
  title: z.string(),
  status: z.int(),
  detail: z.string(),
  instance: z.string(),
  code: z.string(),
  error: z.string(),
  issues: z.array(z.object({ path: z.string(), message: z.string() })).optional(),
});

export const STORES_PAGE_LIMIT = { default: 100, max: 500 };

/** GET /v1/stores?limit=N&cursor=C: pages in slug order; nextCursor is there when more follow. */
export const storesQuery = strictObject({
  limit: z.coerce.number().int().min(1).max(STORES_PAGE_LIMIT.max).default(STORES_PAGE_LIMIT.default),
  cursor: z
    .string()
    .regex(/^[A-Za-z0-9_-]{1,400}$/, 'must be the nextCursor of an earlier page')
    .optional(),
});

export const storesPage = z.object({ stores: z.array(storeView), nextCursor: z.string().optional() });
