// Reads one store's sample: a session as the store's own role/user, one statement, closed again.
import { CompiledQuery } from 'kysely';
import { engineFor } from '../../engines/index.js';
import type { TenantConnection } from '../../engines/target.js';
import { parseSample, type StoreSample, sampleQuery } from './sample-query.js';

export async function readSample(connection: TenantConnection, since: Date): Promise<StoreSample> {
  const tenant = await engineFor(connection.engine).openTenant(connection, { poolSize: 1, idleTimeoutMs: 1_000 });
  try {
    const query = sampleQuery(tenant.dialect, since);
    const result = await tenant.db.executeQuery<Record<string, unknown>>(CompiledQuery.raw(query.sql, query.params));
    return parseSample(result.rows[0]);
  } finally {
    await tenant.close();
  }
}

/** Which server a store's connection goes to: the unit the per-server bound applies to. */
export function serverKey(connection: TenantConnection): string {
  return connection.engine === 'pglite'
    ? `pglite:${connection.dataDir ?? ''}`
    : `${connection.engine}:${connection.host}:${connection.port}`;
}
