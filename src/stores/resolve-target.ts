// Turns a StoreDatabase spec plus the Secrets it references into a provisioning target. Shared by the
// controller (Secrets from the cluster) and `storeop apply` (Secrets from the manifests).
import type { z } from 'zod';
import type { StoreDatabaseTemplateSpec, tlsSchema } from '../api/store-database.js';
import { embeddedStorePath, storesRoot } from '../engines/pglite-paths.js';
import type { DatabaseTarget, SecretReader, ServerEndpoint, TlsMode, TlsOptions } from '../engines/target.js';
import { parseDatabaseUrl } from '../engines/url.js';
import { StoreopError } from '../errors.js';

type TlsSpec = z.infer<typeof tlsSchema>;

export type { SecretReader };

export const DEFAULT_PORT = { postgresql: 5432, mysql: 3306 } as const;

export async function required(read: SecretReader, name: string, key: string, field: string): Promise<string> {
  const value = await read(name, key);
  if (value === undefined) {
    throw new StoreopError('InvalidSpec', `${field}: Secret ${name} has no key ${JSON.stringify(key)} (or does not exist)`, {
      retryable: true,
    });
  }
  return value;
}

/** The sslmode a tls spec asks for: `mode` when given, else the older enabled/verify pair. */
export function tlsModeOf(spec: Pick<TlsSpec, 'mode' | 'enabled' | 'verify'> | undefined): TlsMode {
  if (spec?.mode) return spec.mode;
  if (!spec?.enabled) return 'disable';
  return spec.verify ? 'verify-full' : 'require';
}

export async function tls(spec: TlsSpec | undefined, read: SecretReader, field: string): Promise<TlsOptions | undefined> {
  const mode = tlsModeOf(spec);
  if (mode === 'disable') return undefined;
  const ref = spec?.caSecretRef;
  const ca = ref ? await required(read, ref.name, ref.key, `${field}.caSecretRef`) : undefined;
  return { rejectUnauthorized: mode === 'verify-full', ...(ca ? { ca } : {}) };
}

export interface ResolveOptions {
  /**
   * storeop's local folder: PGlite stores live in `<home>/stores/<slug>`. Undefined where embedded
   * databases have no place (an operator started without --pglite-home): pglite is then refused.
   */
  home: string | undefined;
  slug: string;
}

export async function resolveTarget(spec: StoreDatabaseTemplateSpec, read: SecretReader, options: ResolveOptions): Promise<DatabaseTarget> {
  if (spec.engine === 'pglite') {
    if (options.home === undefined) {
      throw new StoreopError(
        'InvalidSpec',
        'spec.engine: pglite needs a volume for embedded databases, and this operator has none: start storeop run with --pglite-home DIR (or STOREOP_PGLITE_HOME), or use postgresql or mysql',
        { retryable: false },
      );
    }
    return {
      engine: 'pglite',
      mode: spec.mode,
      dataDir: embeddedStorePath(options.home, options.slug, spec.path),
      storesRoot: storesRoot(options.home),
    };
  }
  if (spec.engine === 'supabase') {
    throw new StoreopError('InvalidSpec', 'a supabase database is resolved in steps (project first): use resolveStaged', {
      retryable: false,
    });
  }
  const engine = spec.engine;
  if (spec.mode === 'create') {
    const server = spec.server;
    // Placement on DatabaseServers happens before (the controller, storeop apply); a driver that does not place asks for a server.
    if (!server)
      throw new StoreopError(
        'InvalidSpec',
        'spec.server is required in create mode here (placement on a DatabaseServer is done by storeop run and storeop apply)',
        { retryable: false },
      );
    if (spec.isolation === 'schema' && engine !== 'postgresql')
      throw new StoreopError('InvalidSpec', 'spec.isolation: schema is for PostgreSQL only', { retryable: false });
    const ref = server.adminSecretRef;
    const admin: ServerEndpoint = {
      host: server.host,
      port: server.port ?? DEFAULT_PORT[engine],
      user: await required(read, ref.name, ref.usernameKey, 'spec.server.adminSecretRef'),
      password: await required(read, ref.name, ref.passwordKey, 'spec.server.adminSecretRef'),
    };
    const t = await tls(server.tls, read, 'spec.server.tls');
    if (t) admin.tls = t;
    return {
      engine,
      mode: 'create',
      admin,
      isolation: spec.isolation ?? 'database',
      ...(spec.databaseName ? { databaseName: spec.databaseName } : {}),
      ...(spec.connectionLimit ? { connectionLimit: spec.connectionLimit } : {}),
    };
  }
  const c = spec.connection;
  if (!c) throw new StoreopError('InvalidSpec', 'spec.connection is required in connect mode', { retryable: false });
  if (c.urlSecretRef) {
    const url = await required(read, c.urlSecretRef.name, c.urlSecretRef.key, 'spec.connection.urlSecretRef');
    let parsed: ReturnType<typeof parseDatabaseUrl>;
    try {
      parsed = parseDatabaseUrl(url, 'spec.connection.urlSecretRef');
    } catch (error) {
      // The URL holds a password: name the field, never echo the value.
      throw new StoreopError(
        'InvalidSpec',
        `spec.connection.urlSecretRef: Secret ${c.urlSecretRef.name} does not hold a valid ${engine} URL (${(error as StoreopError).code})`,
        { retryable: true },
      );
    }
    if (parsed.engine !== engine || !parsed.endpoint?.database) {
      throw new StoreopError(
        'InvalidSpec',
        `spec.connection.urlSecretRef: Secret ${c.urlSecretRef.name} must hold a ${engine} URL that names a database`,
        { retryable: true },
      );
    }
    return {
      engine,
      mode: 'connect',
      connection: { ...parsed.endpoint, database: parsed.endpoint.database },
      ...(c.schema ? { schema: c.schema } : {}),
    };
  }
  if (!c.host || !c.database || !c.credentialsSecretRef) {
    throw new StoreopError('InvalidSpec', 'spec.connection needs host, database and credentialsSecretRef, or urlSecretRef', {
      retryable: false,
    });
  }
  const ref = c.credentialsSecretRef;
  const connection: ServerEndpoint & { database: string } = {
    host: c.host,
    port: c.port ?? DEFAULT_PORT[engine],
    database: c.database,
    user: await required(read, ref.name, ref.usernameKey, 'spec.connection.credentialsSecretRef'),
    password: await required(read, ref.name, ref.passwordKey, 'spec.connection.credentialsSecretRef'),
  };
  const t = await tls(c.tls, read, 'spec.connection.tls');
  if (t) connection.tls = t;
  return { engine, mode: 'connect', connection, ...(c.schema ? { schema: c.schema } : {}) };
}

/** Secrets a spec reads, with the field that names each (relative to the spec), for messages. */
export function secretReferences(spec: StoreDatabaseTemplateSpec): Array<{ field: string; name: string }> {
  return [
    { field: 'server.adminSecretRef.name', name: spec.server?.adminSecretRef.name },
    { field: 'server.tls.caSecretRef.name', name: spec.server?.tls?.caSecretRef?.name },
    { field: 'connection.credentialsSecretRef.name', name: spec.connection?.credentialsSecretRef?.name },
    { field: 'connection.urlSecretRef.name', name: spec.connection?.urlSecretRef?.name },
    { field: 'connection.tls.caSecretRef.name', name: spec.connection?.tls?.caSecretRef?.name },
    { field: 'supabase.accessTokenSecretRef.name', name: spec.supabase?.accessTokenSecretRef?.name },
    { field: 'supabase.databasePasswordSecretRef.name', name: spec.supabase?.databasePasswordSecretRef?.name },
    { field: 'supabase.serviceRoleKeySecretRef.name', name: spec.supabase?.serviceRoleKeySecretRef?.name },
  ].filter((r): r is { field: string; name: string } => Boolean(r.name));
}

/** Secrets a spec reads, for re-reconciling when one of them changes. */
export function referencedSecrets(spec: StoreDatabaseTemplateSpec): string[] {
  return secretReferences(spec).map((r) => r.name);
}
