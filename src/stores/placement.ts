// Where a target puts a store's tables, described as the connection the engine registers: how a store
// provisioned before identities were recorded is recognised (or refused) by the database it already has.
import { DEFAULT_SHARED_DATABASE } from '../engines/postgres.js';
import type { DatabaseTarget, TenantConnection } from '../engines/target.js';
import { storeNames } from '../naming.js';

export type Placement = Pick<TenantConnection, 'engine'> & Partial<Pick<TenantConnection, 'host' | 'port' | 'database' | 'schema'>>;

export function placement(target: DatabaseTarget, slug: string): Placement {
  if (target.engine === 'pglite') return { engine: 'pglite', host: 'localhost', port: 0, database: target.dataDir, schema: 'public' };
  if (target.engine === 'supabase') return { engine: 'supabase', database: target.project.ref };
  const pg = target.engine === 'postgresql';
  if (target.mode === 'connect') {
    const c = target.connection;
    return {
      engine: target.engine,
      host: c.host,
      port: c.port,
      database: c.database,
      ...(pg ? { schema: target.schema ?? 'public' } : {}),
    };
  }
  const names = storeNames(slug);
  const shared = pg && target.isolation === 'schema';
  return {
    engine: target.engine,
    host: target.publicHost ?? target.admin.host,
    port: target.publicPort ?? target.admin.port,
    database: target.databaseName ?? (shared ? DEFAULT_SHARED_DATABASE : names.database),
    ...(pg ? { schema: shared ? names.schema : 'public' } : {}),
  };
}

/** One line naming a placement, for messages: "postgresql 127.0.0.1:5432/store_x schema s". */
export function describePlacement(p: Partial<Placement>): string {
  const where = p.engine === 'pglite' ? '' : `${p.host}:${p.port}/`;
  return `${p.engine} ${where}${p.database}${p.schema && p.schema !== 'public' ? ` schema ${p.schema}` : ''}`;
}
