// DatabaseServer: one PostgreSQL or MySQL/MariaDB server that stores are placed on, held once (address,
// admin credentials, TLS) with its capacity and limits. Cluster-scoped: any namespace's stores may use it.
import { z } from 'zod';
import { conditionSchema, type ObjectMeta, objectName, strictObject } from './common.js';
import { host, port, tlsSchema } from './store-database.js';

/** The label a Store's spec.region is matched against. */
export const REGION_LABEL = 'storeop.dev/region';

export const SERVER_ENGINES = ['postgresql', 'mysql'] as const;
export type ServerEngine = (typeof SERVER_ENGINES)[number];

const secretKey = (key: string, what: string) =>
  z.string().min(1).max(253).default(key).describe(`Key of the Secret that holds the ${what}.`);

export const databaseServerSpec = strictObject({
  engine: z.enum(SERVER_ENGINES).describe('postgresql, or mysql (MySQL or MariaDB).'),
  host,
  port: port.optional().describe('Default 5432 (postgresql) or 3306 (mysql).'),
  adminSecretRef: strictObject({
    name: objectName.describe('Name of the Secret.'),
    namespace: objectName
      .optional()
      .describe("Namespace of the Secret (default: the operator's own, --operator-namespace or POD_NAMESPACE)."),
    usernameKey: secretKey('username', 'username'),
    passwordKey: secretKey('password', 'password'),
  }).describe('Secret with credentials allowed to create databases and roles/users on the server.'),
  tls: tlsSchema.optional(),
  capacity: strictObject({
    maxStores: z
      .int()
      .min(0)
      .max(1_000_000)
      .optional()
      .describe('Most stores placed on this server; 0 accepts no new stores. Unset: no cap.'),
  })
    .optional()
    .describe('How many stores the server takes.'),
  limits: strictObject({
    connectionsPerStore: z
      .int()
      .min(1)
      .max(10000)
      .optional()
      .describe(
        'Connection limit of each store role/user placed here (PostgreSQL CONNECTION LIMIT, MySQL MAX_USER_CONNECTIONS), unless its spec sets connectionLimit.',
      ),
    maxConcurrentOperations: z
      .int()
      .min(2)
      .max(1000)
      .optional()
      .describe(
        'Most admin sessions storeop holds on the server at once, across all reconcilers (one of them is kept for the short second session a job may open). Unset: the operator-wide default (workers + 2).',
      ),
  })
    .optional()
    .describe('What storeop does to the server at most.'),
  isolation: z
    .enum(['database', 'schema'])
    .optional()
    .describe('Default isolation of stores placed here whose spec sets none (schema: PostgreSQL only). Unset: database.'),
});

export const SERVER_PHASES = ['Pending', 'Ready', 'Unreachable', 'Failed'] as const;

export const databaseServerStatus = z.object({
  phase: z.enum(SERVER_PHASES).optional(),
  conditions: z.array(conditionSchema).optional(),
  observedGeneration: z.int().min(0).optional(),
  version: z.string().optional().describe('The server version, as the server reports it.'),
  storeCount: z.int().min(0).optional().describe('Stores placed on this server, as of the last check.'),
  connectionsUsed: z.int().min(0).optional().describe('Client connections open on the server (pg_stat_activity / processlist).'),
  lastCheckTime: z.string().optional().describe('When a check last changed this status (a check that changes nothing writes nothing).'),
  message: z.string().optional(),
});

export type DatabaseServerSpec = z.infer<typeof databaseServerSpec>;
export type DatabaseServerStatus = z.infer<typeof databaseServerStatus>;

export interface DatabaseServer {
  apiVersion: string;
  kind: 'DatabaseServer';
  metadata: ObjectMeta;
  spec: DatabaseServerSpec;
  status?: DatabaseServerStatus;
}
