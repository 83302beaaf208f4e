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

export const problem = z.object({ error: z.string(), issues: z.array(z.object({ path: z.string(), message: z.string() })).optional() });
