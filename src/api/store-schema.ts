// StoreSchema: one version of the store schema, written in the vocabulary of src/schema/definition.ts, and how
// a new version rolls out across the fleet in stages (issue 13). Cluster-scoped; `storeop-default` is storeop's
// built-in schema published as one.
import { z } from 'zod';
import { conditionSchema, labelSelector, objectName, strictObject } from './common.js';

/** The StoreSchema a Store uses when its spec.schemaRef names none. */
export const DEFAULT_STORE_SCHEMA_NAME = 'storeop-default';

/** A lowercase SQL identifier: table, column and migration names are quoted, and still held to this. */
export const sqlIdentifier = z
  .string()
  .regex(/^[a-z_][a-z0-9_]{0,62}$/, 'must be a lowercase SQL identifier (a-z, 0-9 and _, at most 63 characters)');

export const COLUMN_KINDS = ['id', 'string', 'text', 'integer', 'bigint', 'decimal', 'boolean', 'timestamp'] as const;

/** A column default: a literal of the column's kind, or "now" for a timestamp. */
const columnDefault = z.union([z.string().max(1024), z.number(), z.boolean()]);

export const columnSpec = strictObject({
  kind: z.enum(COLUMN_KINDS),
  length: z.int().min(1).max(16_383).optional().describe('string: maximum length in characters.'),
  precision: z.int().min(1).max(38).optional().describe('decimal: total digits.'),
  scale: z.int().min(0).max(38).optional().describe('decimal: digits after the point.'),
  nullable: z.boolean().optional(),
  default: columnDefault.optional().describe('A literal of the column kind, or "now" for a timestamp.'),
  references: strictObject({
    table: sqlIdentifier,
    onDelete: z.enum(['cascade', 'set null', 'restrict']).default('restrict'),
  }).optional(),
});

export const indexSpec = strictObject({
  columns: z.array(sqlIdentifier).min(1).max(16),
  unique: z.boolean().optional(),
});

export const tableSpec = strictObject({
  columns: z.record(sqlIdentifier, columnSpec),
  indexes: z.array(indexSpec).optional(),
});

/** A change a schema diff finds that could lose data or break readers; refused unless a migration handles it. */
export const DESTRUCTIVE_CHANGES = ['dropTable', 'dropColumn', 'changeColumnType', 'addRequiredColumn', 'dropIndex'] as const;

export const migrationSpec = strictObject({
  version: z
    .string()
    .regex(/^[0-9A-Za-z][0-9A-Za-z._-]{0,63}$/)
    .describe('Sortable and unique within the schema, e.g. "0001".'),
  description: z.string().min(1).max(255),
  up: strictObject({
    postgres: z.array(z.string().min(1)).optional().describe('PostgreSQL statements (PGlite runs these too).'),
    mysql: z.array(z.string().min(1)).optional().describe('MySQL/MariaDB statements.'),
  }),
  handles: z
    .array(
      strictObject({
        change: z.enum(DESTRUCTIVE_CHANGES),
        table: sqlIdentifier,
        column: sqlIdentifier.optional(),
      }),
    )
    .optional()
    .describe('The destructive changes of this version that this migration performs (expand/contract).'),
});

export const seedSpec = z
  .array(
    strictObject({
      table: sqlIdentifier,
      rows: z.array(z.record(sqlIdentifier, z.union([z.string(), z.number(), z.boolean(), z.null()]))).min(1),
    }),
  )
  .describe('Rows inserted once into a new store database.');

/** A count of stores, or a percentage of the stage's stores ("10%"). */
export const failureBudget = z.union([
  z.int().min(0),
  z.string().regex(/^(100|[1-9]?[0-9])%$/, 'must be a count or a percentage such as "10%"'),
]);

export const rolloutStage = strictObject({
  name: z.string().regex(/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/, 'must be a lowercase DNS label'),
  selector: labelSelector.describe('The Stores of this stage (a Store is in the first stage that selects it).'),
  maxConcurrent: z.int().min(1).max(1000).optional().describe('Stores migrated at once in this stage (default: rollout.maxConcurrent).'),
  failureBudget: failureBudget.optional().describe('Failures after which the rollout pauses (default: rollout.failureBudget).'),
  pause: z.boolean().default(false).describe('Wait for approval (storeop rollout resume) before this stage starts.'),
});

export const rolloutSpec = strictObject({
  stages: z.array(rolloutStage).max(20).default([]).describe('Stores no stage selects form an implicit last stage.'),
  maxConcurrent: z.int().min(1).max(1000).default(10).describe('Default stores migrated at once per stage.'),
  failureBudget: failureBudget.default(0).describe('Default failures per stage after which the rollout pauses.'),
  maxConcurrentPerServer: z.int().min(1).max(100).default(4).describe('Concurrent schema work on one database server.'),
});

export const storeSchemaSpec = strictObject({
  version: z
    .string()
    .regex(/^[0-9A-Za-z][0-9A-Za-z._+-]{0,63}$/)
    .describe('The version stores report in status.schemaVersion.'),
  tables: z.record(sqlIdentifier, tableSpec).describe('Tables in the vocabulary of storeop’s built-in schema.'),
  migrations: z.array(migrationSpec).default([]).describe('Ordered, checksummed migrations, run once per store database.'),
  seed: seedSpec.optional(),
  rollout: rolloutSpec.default({ stages: [], maxConcurrent: 10, failureBudget: 0, maxConcurrentPerServer: 4 }),
});

export const ROLLOUT_PHASES = ['Progressing', 'Paused', 'Complete', 'Failed'] as const;

export const stageStatus = z.object({
  name: z.string(),
  total: z.int().min(0),
  updated: z.int().min(0),
  failed: z.int().min(0),
  pending: z.int().min(0),
});

export const failedStore = z.object({
  namespace: z.string(),
  name: z.string(),
  stage: z.string(),
  reason: z.string(),
  message: z.string(),
});

export const storeSchemaStatus = z.object({
  phase: z.enum(ROLLOUT_PHASES).optional(),
  conditions: z.array(conditionSchema).optional(),
  observedGeneration: z.int().min(0).optional(),
  version: z.string().optional().describe('The version being rolled out (spec.version once admitted).'),
  currentStage: z.string().optional(),
  stages: z.array(stageStatus).optional(),
  failedStores: z.array(failedStore).max(100).optional().describe('Stores whose migration failed (the first 100).'),
  updated: z.int().min(0).optional().describe('Stores at this version, all stages.'),
  total: z.int().min(0).optional().describe('Stores that use this schema.'),
  message: z.string().optional(),
});

export type StoreSchemaSpec = z.infer<typeof storeSchemaSpec>;
export type StoreSchemaStatus = z.infer<typeof storeSchemaStatus>;
export type RolloutStage = z.infer<typeof rolloutStage>;

export interface StoreSchema {
  apiVersion: string;
  kind: 'StoreSchema';
  metadata: {
    name: string;
    uid?: string;
    generation?: number;
    resourceVersion?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    deletionTimestamp?: Date;
  };
  spec: StoreSchemaSpec;
  status?: StoreSchemaStatus;
}

/** The schema a Store uses: spec.schemaRef.name, else the built-in one. */
export const schemaRef = strictObject({ name: objectName.describe('Name of a StoreSchema.') });
