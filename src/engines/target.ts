// What the provisioning pipeline is pointed at: a server to create the store's database on, an existing
// database to connect to, or an embedded PGlite folder.
/** Reads one key of a Secret in the object's namespace; undefined when the Secret or key is missing. */
export type SecretReader = (name: string, key: string) => Promise<string | undefined>;

export type EngineName = 'postgresql' | 'mysql' | 'pglite' | 'supabase';
export type Isolation = 'database' | 'schema';

/** libpq's sslmode names: disable = clear text, require = encrypted, verify-full = encrypted + CA and host name checked. */
export const TLS_MODES = ['disable', 'require', 'verify-full'] as const;
export type TlsMode = (typeof TLS_MODES)[number];

/** TLS for a connection (absent = sslmode disable). Never falls back to clear text. */
export interface TlsOptions {
  /** Verify the server certificate and host name (default true: verify-full); false = require. */
  rejectUnauthorized?: boolean;
  /** PEM of the CA that signed the server certificate. */
  ca?: string;
}

/** A network database endpoint with credentials. */
export interface ServerEndpoint {
  host: string;
  port: number;
  user: string;
  password?: string;
  /** Database to connect to: the maintenance database for admin work, the store's for connect mode. */
  database?: string;
  tls?: TlsOptions;
}

export interface CreateTarget {
  engine: 'postgresql' | 'mysql';
  mode: 'create';
  /** Credentials allowed to create databases and roles/users. */
  admin: ServerEndpoint;
  /** PostgreSQL only: one database per store (default), or one schema per store in a shared database. */
  isolation?: Isolation;
  /** The store's database (database isolation) or the shared database (schema isolation); derived from the slug by default. */
  databaseName?: string;
  /** Host and port that apps should use to reach the store's database, when they differ from the admin endpoint. */
  publicHost?: string;
  publicPort?: number;
  /** Per-store cap on connections (PostgreSQL CONNECTION LIMIT, MySQL MAX_USER_CONNECTIONS). */
  connectionLimit?: number;
}

export interface ConnectTarget {
  engine: 'postgresql' | 'mysql';
  mode: 'connect';
  /** The existing database and credentials; nothing but tables is created. */
  connection: ServerEndpoint & { database: string };
  /** PostgreSQL: the schema that holds the tables (default public). */
  schema?: string;
}

export interface PgliteTarget {
  engine: 'pglite';
  mode: 'create' | 'connect';
  /** Folder of the embedded database. */
  dataDir: string;
  /** `<home>/stores`: the store's folder must be `<storesRoot>/<slug>` or inside it; deprovisioning refuses without it. */
  storesRoot?: string;
}

/** A Supabase project's database, once the project is healthy: reached like PostgreSQL in connect mode. */
export interface SupabaseTarget {
  engine: 'supabase';
  mode: 'create' | 'connect';
  /** Direct (or session pooler) connection to the project's database, as its postgres user. */
  connection: ServerEndpoint & { database: string };
  project: SupabaseProjectInfo;
  /** For deleting the project (create mode with deletionPolicy Delete). */
  management?: { apiUrl: string; token: string };
}

export interface SupabaseProjectInfo {
  ref: string;
  /** https://<ref>.supabase.co: where supabase-js and the REST API reach the project. */
  url: string;
  anonKey?: string;
  serviceRoleKey?: string;
}

export type DatabaseTarget = CreateTarget | ConnectTarget | PgliteTarget | SupabaseTarget;

/** How the store's own role/user reaches its database: what the master DB and the connection Secret record. */
export interface TenantConnection {
  engine: EngineName;
  host: string;
  port: number;
  database: string;
  /** PostgreSQL schema holding the store's tables. */
  schema?: string;
  user: string;
  password?: string;
  tls?: TlsOptions;
  /** PGlite folder. */
  dataDir?: string;
  /** Supabase: the project and its API keys (the keys are secrets, encrypted at rest like the password). */
  projectRef?: string;
  projectUrl?: string;
  anonKey?: string;
  serviceRoleKey?: string;
}

/** The server endpoint through which the store's own role/user logs in (no database: callers name it). */
export function tenantEndpoint(connection: TenantConnection): ServerEndpoint {
  return {
    host: connection.host,
    port: connection.port,
    user: connection.user,
    ...(connection.password !== undefined ? { password: connection.password } : {}),
    ...(connection.tls ? { tls: connection.tls } : {}),
  };
}

export function targetSummary(target: DatabaseTarget): { engine: string; host?: string; port?: number; database?: string } {
  if (target.engine === 'pglite') return { engine: 'pglite', database: target.dataDir };
  if (target.engine === 'supabase')
    return { engine: 'supabase', host: target.connection.host, port: target.connection.port, database: target.project.ref };
  if (target.mode === 'connect') {
    return { engine: target.engine, host: target.connection.host, port: target.connection.port, database: target.connection.database };
  }
  return { engine: target.engine, host: target.admin.host, port: target.admin.port, database: target.databaseName };
}

/** The secrets a target carries, for redacting them from any message. */
export function secretsOf(target: DatabaseTarget): string[] {
  if (target.engine === 'pglite') return [];
  if (target.engine === 'supabase') {
    return [target.connection.password, target.project.serviceRoleKey, target.project.anonKey, target.management?.token].filter(
      (s): s is string => Boolean(s),
    );
  }
  const password = target.mode === 'connect' ? target.connection.password : target.admin.password;
  return password ? [password] : [];
}

/** Whether provisioning creates a login role/user for the store (and so needs a password for it). */
export function createsStoreRole(target: DatabaseTarget): target is CreateTarget {
  return target.mode === 'create' && (target.engine === 'postgresql' || target.engine === 'mysql');
}
