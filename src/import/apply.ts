// --apply: each importable store through the shared store service, exactly as `storeop apply` applies a
// connect-mode Store: registered in the master DB (its config encrypted), missing tables created, empty
// tables seeded, nothing dropped or altered; a conflict stops that store before anything changes. A
// killed run leaves jobs whose runner is gone: the next run takes them over.
import { applyIntent, type MasterContext } from '../stores/service.js';
import { importIntent } from './intent.js';
import { failureOf } from './plan.js';
import type { LegacyRecord } from './records.js';

export interface ImportOutcome {
  slug: string;
  engine: string;
  result: 'ready' | 'suspended' | 'failed';
  /** Store tables this run created. */
  tablesCreated: number;
  totalTables: number;
  /** Whether this run changed the store's database (tables, seed rows, history). */
  changed: boolean;
  /** code: message, without credentials. */
  error?: string;
  code?: string;
}

export async function importStore(ctx: MasterContext, record: LegacyRecord, home: string): Promise<ImportOutcome> {
  const base = { slug: record.slug, engine: record.engine, tablesCreated: 0, totalTables: 0, changed: false };
  if (record.kind === 'invalid') return { ...base, result: 'failed', code: 'InvalidRecord', error: `InvalidRecord: ${record.problem}` };
  try {
    const applied = await applyIntent(ctx, await importIntent(record, home));
    if (applied.kind === 'suspended') return { ...base, result: 'suspended' };
    const { result } = applied;
    return {
      ...base,
      result: 'ready',
      tablesCreated: result.applied.filter((c) => c.kind === 'createTable').length,
      totalTables: result.totalTables,
      changed: result.changed,
    };
  } catch (error) {
    const { code, message } = failureOf(error, record.secrets);
    return { ...base, result: 'failed', code, error: message };
  }
}
