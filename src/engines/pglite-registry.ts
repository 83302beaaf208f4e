// One open PGlite per folder: PGlite allows a single opener, so every user of a folder in this process
// (a tenant pipeline, the master DB) shares the instance, and a lock file keeps other processes out
// until the last user releases it.
import { closeSync, mkdirSync, openSync, readFileSync, unlinkSync, writeSync } from 'node:fs';
import { resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Kysely, PGliteDialect } from 'kysely';
import { StoreopError } from '../errors.js';
import type { AnyKysely } from './engine.js';

interface Entry {
  db: Promise<AnyKysely>;
  refs: number;
  /** Serialises sessions: PGlite has one connection, so two interleaved transactions would mix. */
  queue: Promise<unknown>;
}

const open = new Map<string, Entry>();
const LOCK_WAIT_MS = 30_000;

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

const heldLocks = new Set<string>();
process.once('exit', () => {
  for (const lock of heldLocks) {
    try {
      unlinkSync(lock);
    } catch {
      // already gone
    }
  }
});

/** Takes `<folder>.lock` for this process, waiting while another live process holds it. */
async function lockFolder(path: string): Promise<string> {
  const lock = `${path}.lock`;
  const deadline = Date.now() + LOCK_WAIT_MS;
  for (;;) {
    try {
      const fd = openSync(lock, 'wx', 0o600);
      writeSync(fd, String(process.pid));
      closeSync(fd);
      heldLocks.add(lock);
      return lock;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    let holder = Number.NaN;
    try {
      holder = Number(readFileSync(lock, 'utf8'));
    } catch {
      continue; // released meanwhile
    }
    if (!Number.isInteger(holder) || !processAlive(holder)) {
      try {
        unlinkSync(lock); // left behind by a process that died
      } catch {
        // another process cleaned it up first
      }
      continue;
    }
    if (Date.now() > deadline) {
      throw new StoreopError('ConnectionFailed', `the embedded database ${path} is in use by process ${holder}`, {
        target: { engine: 'pglite', database: path },
      });
    }
    await sleep(100);
  }
}

function unlockFolder(lock: string): void {
  heldLocks.delete(lock);
  try {
    unlinkSync(lock);
  } catch {
    // already gone
  }
}

async function start(path: string): Promise<AnyKysely> {
  mkdirSync(path, { recursive: true });
  const lock = await lockFolder(path);
  try {
    // Loaded on first use: an operator without embedded stores or master never needs PGlite's runtime.
    const { PGlite } = await import('@electric-sql/pglite');
    // BIGINT as number, as the network drivers are set up (ids and counters stay below 2^53).
    const pglite = await PGlite.create(path, { parsers: { 20: (value: string) => Number(value) } });
    const db: AnyKysely = new Kysely({ dialect: new PGliteDialect({ pglite }) });
    const destroy = db.destroy.bind(db);
    db.destroy = async () => {
      try {
        await destroy();
      } finally {
        unlockFolder(lock);
      }
    };
    return db;
  } catch (error) {
    unlockFolder(lock);
    throw error;
  }
}

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
    const db = start(path);
    entry = { db, refs: 0, queue: Promise.resolve() };
    open.set(path, entry);
    db.catch(() => open.delete(path));
  }
  entry.refs++;
  const current = entry;
  let released = false;
  const release = async () => {
    if (released) return;
    released = true;
    current.refs--;
    if (current.refs === 0 && open.get(path) === current) {
      open.delete(path);
      await (await current.db).destroy();
    }
  };
  let db: AnyKysely;
  try {
    db = await current.db;
  } catch (error) {
    await release().catch(() => {});
    throw error;
  }
  return {
    db,
    exclusive<T>(fn: () => Promise<T>): Promise<T> {
      const run = current.queue.then(fn, fn);
      current.queue = run.catch(() => {});
      return run;
    },
    release,
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
