// What the last full check of each StoreDatabase found, kept in this process: the periodic check compares
// the store database's fingerprint with it and runs the full pipeline only when they differ.
//
// Kept in memory, not in status or in the store database: it is only trusted when this process ran the full
// pipeline itself, so a crash or restart forgets it and the first check after start is a full one (the
// same as every check was before). Status would make every no-op check's comparison depend on a write to
// the API server, and a row in the store database would be writable by the store's own role.
import { createHash } from 'node:crypto';
import type { StoreDatabase } from '../../api/store-database.js';
import type { DatabaseTarget } from '../../engines/target.js';
import type { ProvisionResult } from '../../provisioning/pipeline.js';
import type { StoreIntent } from '../../stores/intent.js';
import type { ControllerContext } from '../context.js';

export interface Verified {
  /** checkKey() of the inputs the full run had: other inputs (a new spec or target) need a full run. */
  key: string;
  /**
   * What the full run returned. Its connection holds the store's password, which the check logs in with: a
   * secret this process already holds (the connection Secret, the master DB); never logged or written.
   */
  result: ProvisionResult;
}

interface Memory {
  entries: Map<string, Verified>;
  prunedAt: number;
}

const memories = new WeakMap<ControllerContext, Memory>();

/** Where a StoreDatabase's entry is kept: its uid, so a re-created object of the same name starts afresh. */
export function verifiedId(sdb: StoreDatabase): string {
  return sdb.metadata.uid ?? `${sdb.metadata.namespace}/${sdb.metadata.name}`;
}

/** The inputs of a full check, hashed (the target holds the admin's secrets, never kept in clear here). */
export function checkKey(sdb: StoreDatabase, intent: StoreIntent, target: DatabaseTarget): string {
  const inputs = JSON.stringify({ generation: sdb.metadata.generation, slug: intent.slug, seed: intent.seed, target });
  return createHash('sha256').update(inputs).digest('hex');
}

/** The memory of this controller, without the entries of StoreDatabases that are gone (swept once a resync period). */
export function verifiedStores(ctx: ControllerContext): Map<string, Verified> {
  let memory = memories.get(ctx);
  if (!memory) {
    memory = { entries: new Map(), prunedAt: Date.now() };
    memories.set(ctx, memory);
  }
  if (Date.now() - memory.prunedAt > ctx.resyncPeriodMs && ctx.caches.databases.informer.synced) {
    memory.prunedAt = Date.now();
    const live = new Set(ctx.caches.databases.informer.list().map((d) => d.metadata.uid));
    for (const uid of memory.entries.keys()) if (!live.has(uid)) memory.entries.delete(uid);
  }
  return memory.entries;
}
