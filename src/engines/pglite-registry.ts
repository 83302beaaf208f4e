// One open PGlite per folder in this process: PGlite allows a single opener, so every user of a folder
// (a tenant pipeline, the master DB) shares the instance, and it closes when the last one releases it.
import { mkdirSync } from 'node:fs';
import { resolve } from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { Kysely, PGliteDialect } from 'kysely';
import type { AnyKysely } from './engine.js';

interface Entry {
  db: Promise<AnyKysely>;
  refs: number;
  /** Serialises sessions: PGlite has one connection, so two interleaved transactions would mix. */
  queue: Promise<unknown>;
}

const open = new Map<string, Entry>();

export interface PgliteHandle {
  db: AnyKysely;
  /** Runs fn while no other user of this folder in this process runs an exclusive section. */
  exclusive<T>(fn: () => Promise<T>): Promise<T>;
  release(): Promise<void>;
}

export async function openPglite(dataDir: string): Promise<PgliteHandle> {
  const path = resolve(dataDir);
  let entry = open.get(path);
  if (!entry) {
    mkdirSync(path, { recursive: true });
    const db = PGlite.create(path).then((pglite) => new Kysely({ dialect: new PGliteDialect({ pglite }) }) as AnyKysely);
    entry = { db, refs: 0, queue: Promise.resolve() };
    open.set(path, entry);
    db.catch(() => open.delete(path));
  }
  entry.refs++;
  const current = entry;
  let released = false;
  return {
    db: await current.db,
    exclusive<T>(fn: () => Promise<T>): Promise<T> {
      const run = current.queue.then(fn, fn);
      current.queue = run.catch(() => {});
      return run;
    },
    async release() {
      if (released) return;
      released = true;
      current.refs--;
      if (current.refs === 0 && open.get(path) === current) {
        open.delete(path);
        await (await current.db).destroy();
      }
    },
  };
}

/** Closes the folder's instance if this process has it open (before deleting the folder). */
export async function closePglite(dataDir: string): Promise<void> {
  const path = resolve(dataDir);
  const entry = open.get(path);
  if (!entry) return;
  open.delete(path);
  await (await entry.db).destroy();
}
