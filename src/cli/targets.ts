// Turns command-line URLs into a provisioning target.
import type { DatabaseTarget, Isolation } from '../engines/target.js';
import { parseDatabaseUrl } from '../engines/url.js';
import { UsageError } from './args.js';

export function targetFromUrls(options: { databaseUrl: string; adminUrl?: string; isolation?: Isolation }): DatabaseTarget {
  const store = parseDatabaseUrl(options.databaseUrl, '--database-url');
  if (store.engine === 'pglite') {
    if (options.adminUrl) throw new UsageError('--admin-url does not apply to pglite:// databases');
    return { engine: 'pglite', mode: 'create', dataDir: store.dataDir as string };
  }
  const endpoint = store.endpoint;
  if (!endpoint) throw new UsageError('--database-url: no host');
  if (!options.adminUrl) {
    if (options.isolation) throw new UsageError('--isolation needs --admin-url (create mode)');
    if (!endpoint.database)
      throw new UsageError('--database-url must name a database in connect mode, e.g. postgres://user@host:5432/shop');
    return { engine: store.engine as 'postgresql' | 'mysql', mode: 'connect', connection: { ...endpoint, database: endpoint.database } };
  }
  const admin = parseDatabaseUrl(options.adminUrl, '--admin-url');
  if (admin.engine !== store.engine) throw new UsageError('--admin-url and --database-url must use the same engine');
  if (options.isolation === 'schema' && store.engine !== 'postgresql') throw new UsageError('--isolation schema is for PostgreSQL only');
  return {
    engine: store.engine as 'postgresql' | 'mysql',
    mode: 'create',
    admin: admin.endpoint as NonNullable<typeof admin.endpoint>,
    ...(options.isolation ? { isolation: options.isolation } : {}),
    ...(endpoint.database ? { databaseName: endpoint.database } : {}),
    publicHost: endpoint.host,
    publicPort: endpoint.port,
  };
}
