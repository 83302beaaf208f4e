// --dry-run: what importing each store would do, read without changing anything (the same plan the
// pipeline makes before it acts): whether its database is reachable with the legacy credentials, which
// store tables it has and lacks, the conflicts that would stop it, and the action.
import { isStoreopError, redactSecrets } from '../errors.js';
import { planProvisioning } from '../provisioning/dry-run.js';
import { describeConflicts } from '../schema/plan.js';
import { knownTarget } from '../stores/intent.js';
import { importIntent } from './intent.js';
import type { LegacyRecord } from './records.js';

export interface StoreCheck {
  slug: string;
  engine: string;
  /** yes, no (with the error code), or - when not checked. */
  reachable: string;
  present: number;
  missing: string[];
  conflicts: string[];
  action: string;
  /** Whether importing this store would fail. */
  failed: boolean;
}

/** Why a store failed, in one line that never holds its credentials. */
export function failureOf(error: unknown, secrets: readonly string[]): { code: string; message: string } {
  const code = isStoreopError(error) ? error.code : 'ProvisioningFailed';
  return { code, message: redactSecrets(`${code}: ${(error as Error)?.message ?? String(error)}`, secrets) };
}

export async function checkStore(record: LegacyRecord, home: string): Promise<StoreCheck> {
  const base = { slug: record.slug, engine: record.engine, present: 0, missing: [], conflicts: [] };
  if (record.kind === 'invalid') return { ...base, reachable: '-', action: `skip: ${record.problem}`, failed: true };
  try {
    const intent = await importIntent(record, home);
    const target = knownTarget(intent);
    if (!target) return { ...base, reachable: '-', action: 'connect to the Supabase project and provision on --apply', failed: false };
    const plan = await planProvisioning(target, { slug: record.slug, seed: intent.seed });
    if (!plan.databaseExists)
      return { ...base, reachable: 'no (DatabaseNotFound)', action: 'skip: the database does not exist', failed: true };
    const { schema } = plan;
    const result = { ...base, reachable: 'yes', present: schema.existingTables.length, missing: schema.missingTables };
    if (schema.conflicts.length)
      return {
        ...result,
        conflicts: schema.conflicts.map((c) => describeConflicts([c])),
        action: 'none: conflicts reported, nothing is changed',
        failed: true,
      };
    const count = (kind: string) => schema.changes.filter((c) => c.kind === kind).length;
    const columns = count('addColumn');
    const extras = count('createIndex') + count('addForeignKey');
    const steps = [
      schema.missingTables.length ? `create ${schema.missingTables.length} table(s)` : '',
      columns ? `add ${columns} column(s)` : '',
      extras && !schema.missingTables.length ? `add ${extras} index(es)/foreign key(s)` : '',
      plan.pendingMigrations.length ? `run ${plan.pendingMigrations.length} migration(s)` : '',
      plan.seedPending ? 'seed empty tables' : '',
    ].filter(Boolean);
    return { ...result, action: [...steps, 'register'].join(', '), failed: false };
  } catch (error) {
    const { code, message } = failureOf(error, record.secrets);
    return { ...base, reachable: `no (${code})`, action: `skip: ${message}`, failed: true };
  }
}
