// A create-mode target on a DatabaseServer: the server's address, TLS and admin credentials, its default
// isolation and per-store connection limit, and its bound on concurrent admin work. Shared by the controller
// (the admin Secret from the cluster) and `storeop apply` (from the applied documents or the environment).
import type { DatabaseServerSpec } from '../api/database-server.js';
import type { StoreDatabaseTemplateSpec } from '../api/store-database.js';
import { setServerOperationLimit } from '../engines/admin-limit.js';
import type { CreateTarget, SecretReader, ServerEndpoint } from '../engines/target.js';
import { StoreopError } from '../errors.js';
import { DEFAULT_PORT, required, tls } from './resolve-target.js';

export interface PlacedServer {
  name: string;
  spec: DatabaseServerSpec;
}

/** The server's admin endpoint (maintenance database), read with `readAdmin` (which reads the admin Secret's namespace). */
export async function serverAdminEndpoint(server: PlacedServer, readAdmin: SecretReader): Promise<ServerEndpoint> {
  const { spec } = server;
  const ref = spec.adminSecretRef;
  const field = `DatabaseServer ${server.name} spec.adminSecretRef`;
  const port = spec.port ?? DEFAULT_PORT[spec.engine];
  const endpoint: ServerEndpoint = {
    host: spec.host,
    port,
    user: await required(readAdmin, ref.name, ref.usernameKey, field),
    password: await required(readAdmin, ref.name, ref.passwordKey, field),
  };
  const t = await tls(spec.tls, readAdmin, `DatabaseServer ${server.name} spec.tls`);
  if (t) endpoint.tls = t;
  // Every admin session on this host:port, whoever opens it, stays within the server's bound.
  setServerOperationLimit(spec.host, port, spec.limits?.maxConcurrentOperations);
  return endpoint;
}

/** The store's create-mode target on `server`; the store's own spec wins over the server's defaults. */
export async function serverTarget(
  database: StoreDatabaseTemplateSpec,
  server: PlacedServer,
  readAdmin: SecretReader,
): Promise<CreateTarget> {
  if (database.engine !== server.spec.engine)
    throw new StoreopError('InvalidSpec', `DatabaseServer ${server.name} is a ${server.spec.engine} server, not ${database.engine}`, {
      retryable: false,
    });
  const isolation = database.isolation ?? server.spec.isolation ?? 'database';
  if (isolation === 'schema' && server.spec.engine !== 'postgresql')
    throw new StoreopError('InvalidSpec', 'isolation: schema is for PostgreSQL only', { retryable: false });
  const connectionLimit = database.connectionLimit ?? server.spec.limits?.connectionsPerStore;
  return {
    engine: server.spec.engine,
    mode: 'create',
    admin: await serverAdminEndpoint(server, readAdmin),
    isolation,
    ...(database.databaseName ? { databaseName: database.databaseName } : {}),
    ...(connectionLimit ? { connectionLimit } : {}),
  };
}
