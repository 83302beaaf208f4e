// StoreDatabase: where and how one store's database lives. The zod schema is the single source of the
// TypeScript types, the CRD's OpenAPI schema (crds/) and manifest validation in `storeop apply`.
import { z } from 'zod';
import { IDENTIFIER_PATTERN } from '../naming.js';
import {
  baseStatus,
  credentialsSecretRef,
  labelSelector,
  localObjectReference,
  type ObjectMeta,
  secretKeyRef,
  strictObject,
} from './common.js';
import { connectionSecretRef, credentialsSpec, credentialsStatus, refineConnectionSecretKeys } from './credentials.js';

export const port = z.int().min(1).max(65535);
export const host = z
  .string()
  .min(1)
  .max(253)
  .regex(/^[A-Za-z0-9.:\-[\]]+$/, 'must be a host name or IP address');

export const tlsSchema = strictObject({
  // The engines' TlsMode (api/ sits below engines/, so the three names are spelled out here).
  mode: z
    .enum(['disable', 'require', 'verify-full'])
    .optional()
    .describe(
      'disable: clear text; require: encrypted, certificate not checked; verify-full: encrypted, certificate checked against the CA (caSecretRef or the system CAs) and the host name. Overrides enabled/verify.',
    ),
  enabled: z.boolean().default(false).describe('Older form of mode: enabled with verify is verify-full, without it require.'),
  /** Verify the server certificate against caSecretRef (or the system CAs). */
  verify: z.boolean().default(true).describe('Verify the server certificate.'),
  caSecretRef: secretKeyRef('ca.crt', 'CA certificate').optional().describe('Secret with the CA certificate (PEM).'),
});

export const ENGINES = ['postgresql', 'mysql', 'pglite', 'supabase'] as const;

export const PLACEMENT_POLICIES = ['LeastStores', 'Spread'] as const;
/** The topology label Spread balances across unless placement.topologyKey names another. */
export const DEFAULT_TOPOLOGY_KEY = 'topology.kubernetes.io/zone';

export const supabaseSpec = strictObject({
  apiUrl: z.url().optional().describe('Management API base URL (default https://api.supabase.com, or storeop run --supabase-api-url).'),
  accessTokenSecretRef: secretKeyRef('access-token', 'Supabase access token')
    .optional()
    .describe('Personal access token for the Management API (required in create mode).'),
  organizationSlug: z.string().min(1).max(128).optional().describe('create mode: organization of the new project.'),
  region: z.string().min(1).max(64).optional().describe('create mode: a specific region code, e.g. us-east-1.'),
  regionGroup: z
    .enum(['americas', 'emea', 'apac'])
    .optional()
    .describe('create mode: let Supabase pick a region in this group (default americas).'),
  projectRef: z
    .string()
    .regex(/^[a-z]{20}$/, 'must be the 20-letter project ref')
    .optional()
    .describe('connect mode: the existing project.'),
  databasePasswordSecretRef: secretKeyRef('password', 'database password')
    .optional()
    .describe("connect mode: the project's database password."),
  serviceRoleKeySecretRef: secretKeyRef('service-role-key', 'service-role key')
    .optional()
    .describe('connect mode: service-role key (else read through the Management API).'),
  database: z
    .object({
      host: z
        .string()
        .min(1)
        .max(253)
        .default('db.{ref}.supabase.co')
        .describe('Database host; {ref} is replaced by the project ref (use the pooler host for IPv4).'),
      port: port.default(5432),
      user: z.string().min(1).max(128).default('postgres').describe('Database user; {ref} is replaced (session pooler: postgres.{ref}).'),
      name: z.string().min(1).max(64).default('postgres'),
      tls: z.boolean().default(true).describe('Encrypt the database connection.'),
      caSecretRef: secretKeyRef('ca.crt', 'CA certificate')
        .optional()
        .describe(
          "Supabase's database CA (PEM) to verify the server certificate; without it the connection is encrypted but not verified.",
        ),
    })
    // Nested objects refuse unknown fields too (see strictObject).
    .strict()
    .optional(),
  projectUrl: z.string().min(1).default('https://{ref}.supabase.co').describe('Project URL for supabase-js; {ref} is replaced.'),
  storageBucket: z
    .string()
    .regex(/^[a-z0-9][a-z0-9._-]{1,62}$/)
    .default('media')
    .describe('Storage bucket for media_library files.'),
  exposeServiceRoleKey: z.boolean().default(false).describe('Also write the service-role key into the connection Secret.'),
});

const storeDatabaseTemplateFields = strictObject({
  engine: z.enum(ENGINES).describe('postgresql, mysql (MySQL or MariaDB), or pglite (embedded; for storeop apply).'),
  mode: z
    .enum(['create', 'connect'])
    .default('create')
    .describe('create: make a new database and role; connect: use an existing database.'),
  server: z
    .object({
      host,
      port: port.optional(),
      tls: tlsSchema.optional(),
      adminSecretRef: credentialsSecretRef.describe('Secret with credentials allowed to create databases and roles.'),
    })
    .strict()
    .optional()
    .describe('create mode: the database server, inline (instead of a DatabaseServer).'),
  serverRef: localObjectReference
    .optional()
    .describe('create mode: the DatabaseServer to place the store on (instead of server or serverSelector).'),
  serverSelector: labelSelector
    .optional()
    .describe(
      'create mode: the DatabaseServers eligible for the store, by label. Without server, serverRef and serverSelector, every DatabaseServer of the engine is.',
    ),
  placement: strictObject({
    policy: z
      .enum(PLACEMENT_POLICIES)
      .default('LeastStores')
      .describe('LeastStores: the eligible server with the fewest stores; Spread: the topology domain with the fewest stores first.'),
    topologyKey: z.string().min(1).max(317).default(DEFAULT_TOPOLOGY_KEY).describe('Spread: the server label that names the domain.'),
  })
    .optional()
    .describe('How a DatabaseServer is chosen among the eligible ones. The choice is made once and never changes.'),
  isolation: z
    .enum(['database', 'schema'])
    .optional()
    .describe(
      "PostgreSQL create mode: a database per store, or a schema per store in a shared database (default database, or the DatabaseServer's isolation).",
    ),
  databaseName: z
    .string()
    .regex(IDENTIFIER_PATTERN)
    .optional()
    .describe('Name of the store database (schema isolation: the shared database). Derived from the slug by default.'),
  connectionLimit: z.int().min(1).max(10000).optional().describe('Most connections the store role may hold.'),
  connection: z
    .object({
      host: host.optional(),
      port: port.optional(),
      database: z.string().min(1).max(64).optional(),
      schema: z.string().regex(IDENTIFIER_PATTERN).optional(),
      tls: tlsSchema.optional(),
      credentialsSecretRef: credentialsSecretRef.optional(),
      urlSecretRef: secretKeyRef('url', 'URL')
        .optional()
        .describe('Secret with a complete postgres:// or mysql:// URL instead of host/port/database/credentials.'),
    })
    .strict()
    .optional()
    .describe('connect mode: the existing database.'),
  path: z.string().min(1).optional().describe('pglite: folder of the embedded database (default .storeop/stores/SLUG).'),
  supabase: supabaseSpec.optional().describe('supabase: a new project (create) or an existing one (connect).'),
  seed: z.boolean().default(true).describe('Insert default rows (category root, CMS pages, SEO defaults, settings).'),
  deletionPolicy: z
    .enum(['Retain', 'Delete'])
    .default('Retain')
    .describe('On delete: keep the database (Retain) or drop it and its role (Delete, create mode only).'),
  writeConnectionSecretToRef: connectionSecretRef
    .optional()
    .describe('Secret to write with host, port, database, username, password and url for apps, plus the chosen keys and templates.'),
  credentials: credentialsSpec.optional().describe("Lifecycle of the store role's credentials (create mode on PostgreSQL and MySQL)."),
});

export const storeDatabaseTemplateSpec = storeDatabaseTemplateFields.superRefine(refineConnectionSecretKeys);

export const storeDatabaseSpec = storeDatabaseTemplateFields
  .extend({
    storeRef: localObjectReference.describe('The Store this database belongs to.'),
  })
  .superRefine(refineConnectionSecretKeys);

export const storeDatabaseStatus = z.object({
  ...baseStatus,
  schemaVersion: z.string().optional(),
  schemaHash: z.string().optional(),
  tables: z.int().min(0).optional(),
  connection: z
    .object({
      host: z.string().optional(),
      port: z.int().optional(),
      database: z.string().optional(),
      schema: z.string().optional(),
      user: z.string().optional(),
      secretName: z.string().optional(),
    })
    .optional()
    .describe('How apps reach the database; the password is only in the connection Secret.'),
  lastSyncTime: z
    .string()
    .optional()
    .describe('When the synced status last changed; a periodic check that finds nothing to change leaves status untouched.'),
  supabaseProjectRef: z.string().optional().describe('The Supabase project, recorded as soon as it is created.'),
  credentials: credentialsStatus.optional(),
  server: z.string().optional().describe('The DatabaseServer the store was placed on, recorded before anything is created; never changes.'),
});

export type StoreDatabaseTemplateSpec = z.infer<typeof storeDatabaseTemplateSpec>;
export type StoreDatabaseSpec = z.infer<typeof storeDatabaseSpec>;
export type StoreDatabaseStatus = z.infer<typeof storeDatabaseStatus>;

export interface StoreDatabase {
  apiVersion: string;
  kind: 'StoreDatabase';
  metadata: ObjectMeta;
  spec: StoreDatabaseSpec;
  status?: StoreDatabaseStatus;
}
