// A store database's tables with their row counts and its schema history, read through the shared
// ConnectionManager (the store's registered connection, credentials decrypted on the server: none reach
// the browser). Table names come from the catalog and are quoted by Kysely, never spliced into SQL.
import type { Kysely } from 'kysely';
import { ConnectionManager } from '../../connections/connection-manager.js';
import type { MasterDatabase } from '../../master/database.js';
import type { Keyring } from '../../master/keyring.js';
import { HISTORY_TABLE } from '../../schema/history.js';

/** Tables counted per page view; beyond, the rest are listed without counts. */
const COUNTED_TABLES = 60;

export interface StoreContents {
  tables: Array<{ schema: string | null; name: string; rows: number | null }>;
  history: Array<{ kind: string; version: string; description: string; appliedAt: string; durationMs: number }>;
}

export class StoreContentsReader {
  constructor(
    private readonly master: MasterDatabase,
    private readonly keyring: Keyring,
  ) {}

  /**
   * The tables and history of the store's database; throws when it cannot be reached (the page says so).
   * Each read opens one connection and closes it: the console looks now and then, and an idle connection
   * it kept would hold a server's slot, hold up a DROP DATABASE, and keep a stopping server alive.
   */
  async read(storeId: string): Promise<StoreContents> {
    const manager = await ConnectionManager.open({ master: this.master, keyring: this.keyring, poolSize: 1, maxStores: 1 });
    try {
      return await manager.withStore(storeId, readContents);
    } finally {
      await manager.close();
    }
  }
}

async function readContents(db: Kysely<Record<string, Record<string, unknown>>>): Promise<StoreContents> {
  const found = await db.introspection.getTables();
  const tables = found.filter((t) => !t.isView).sort((a, b) => a.name.localeCompare(b.name));
  const counted: StoreContents['tables'] = [];
  for (const [i, t] of tables.entries()) {
    if (i >= COUNTED_TABLES) {
      counted.push({ schema: t.schema ?? null, name: t.name, rows: null });
      continue;
    }
    const from = t.schema ? db.withSchema(t.schema) : db;
    const row = await from
      .selectFrom(t.name)
      .select((eb) => eb.fn.countAll<number | string>().as('n'))
      .executeTakeFirst();
    counted.push({ schema: t.schema ?? null, name: t.name, rows: Number(row?.n ?? 0) });
  }
  const historyTable = tables.find((t) => t.name === HISTORY_TABLE);
  const history = historyTable
    ? await (historyTable.schema ? db.withSchema(historyTable.schema) : db)
        .selectFrom(HISTORY_TABLE)
        .select(['kind', 'version', 'description', 'applied_at', 'duration_ms'])
        .orderBy('applied_at', 'desc')
        .limit(20)
        .execute()
    : [];
  return {
    tables: counted,
    history: history.map((h) => ({
      kind: String(h.kind),
      version: String(h.version),
      description: String(h.description),
      appliedAt: new Date(h.applied_at as string).toISOString(),
      durationMs: Number(h.duration_ms),
    })),
  };
}
