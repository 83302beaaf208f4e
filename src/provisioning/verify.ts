// The periodic check's fast path: one session as the store's own role/user and one query, compared with the
// fingerprint the last full run returned. Unchanged: nothing to do, and nothing was written anywhere. Anything
// else (a login that fails, a dropped table, a changed column, a history row gone, an upgraded schema) is
// drift: the caller runs provision() again, which repairs and returns the new fingerprint.
import { toStoreopError } from '../engines/driver-errors.js';
import { engineFor } from '../engines/index.js';
import type { TenantConnection } from '../engines/target.js';
import { expectationKey, STORE_TARGET_SCHEMA, type TargetSchema } from './pipeline.js';

export interface VerifyRequest {
  /** How the store connects, as the last full run returned it (ProvisionResult.connection, password included). */
  connection: TenantConnection;
  /** ProvisionResult.fingerprint of that run. */
  fingerprint: string;
  schema?: TargetSchema;
  /** Whether seeding is on (a different answer than the recorded run's is drift). */
  seeded: boolean;
}

export type VerifyOutcome = { kind: 'unchanged'; serverVersion: string } | { kind: 'drifted'; reason: string };

/** Never throws: a failure to check is drift, and the full pipeline that follows reports it properly. */
export async function verifyStore(request: VerifyRequest): Promise<VerifyOutcome> {
  const schema = request.schema ?? STORE_TARGET_SCHEMA;
  const { connection } = request;
  const [key, recorded] = request.fingerprint.split('/', 2);
  if (key !== expectationKey(schema, request.seeded) || !recorded)
    return { kind: 'drifted', reason: 'the schema, migrations or seed asked for changed since the last full run' };
  try {
    const found = await engineFor(connection.engine).fingerprint(connection, Object.keys(schema.definition));
    if (found.value === recorded) return { kind: 'unchanged', serverVersion: found.serverVersion };
    return { kind: 'drifted', reason: 'the store database differs from how the last full run left it' };
  } catch (error) {
    const target = { engine: connection.engine, host: connection.host, port: connection.port, database: connection.database };
    return { kind: 'drifted', reason: toStoreopError(error, target, [connection.password], 'checking the store database').message };
  }
}
