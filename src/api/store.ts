// Store: one store of the platform, its plan and seed settings, and its database by reference or inline.
import { z } from 'zod';
import { SLUG_PATTERN } from '../naming.js';
import { baseStatus, localObjectReference, type ObjectMeta, strictObject } from './common.js';
import { PLAN_NAMES } from './plans.js';
import { storeDatabaseTemplateSpec } from './store-database.js';
import { schemaRef } from './store-schema.js';

/** The one place for the seed defaults every driver applies (the Store CRD schema and storeop apply included). */
export const DEFAULT_SETTINGS = { currency: 'USD', locale: 'en-US' } as const;

export const storeSpec = strictObject({
  displayName: z.string().min(1).max(255).describe('The store name shown to people.'),
  slug: z.string().regex(SLUG_PATTERN).optional().describe('Stable identifier (defaults to metadata.name); immutable.'),
  owner: z.email().max(255).optional().describe('Email of the store owner.'),
  plan: z.enum(PLAN_NAMES).default('free'),
  settings: z
    .object({
      currency: z
        .string()
        .regex(/^[A-Z]{3}$/)
        .default(DEFAULT_SETTINGS.currency)
        .describe('ISO 4217 currency code.'),
      locale: z
        .string()
        .regex(/^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$/)
        .default(DEFAULT_SETTINGS.locale)
        .describe('BCP 47 locale.'),
    })
    .strict()
    .optional()
    .describe('Seed settings.'),
  region: z
    .string()
    .min(1)
    .max(63)
    .regex(/^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/, 'must be a label value')
    .optional()
    .describe('Data residency: the database is placed only on DatabaseServers labelled storeop.dev/region with this value.'),
  suspend: z.boolean().default(false).describe('Suspend the store: disables its database login and marks it suspended.'),
  databaseRef: localObjectReference.optional().describe('An existing StoreDatabase for this store.'),
  database: storeDatabaseTemplateSpec.optional().describe('Inline database: the operator creates a StoreDatabase owned by this Store.'),
  schemaRef: schemaRef.optional().describe('The StoreSchema of this store (default storeop-default, the built-in schema).'),
});

export const storeStatus = z.object({
  ...baseStatus,
  slug: z.string().optional(),
  databaseName: z.string().optional().describe('The StoreDatabase that holds this store.'),
  engine: z.string().optional(),
  database: z.object({ server: z.string().optional().describe('The DatabaseServer the store database was placed on.') }).optional(),
  schemaVersion: z.string().optional().describe('The version of the StoreSchema the store database has.'),
});

export type StoreSpec = z.infer<typeof storeSpec>;
export type StoreStatus = z.infer<typeof storeStatus>;

export interface Store {
  apiVersion: string;
  kind: 'Store';
  metadata: ObjectMeta;
  spec: StoreSpec;
  status?: StoreStatus;
}
