// A throw-away master (platform) database for tests: a temp database on the local PostgreSQL, or a PGlite
// folder, each with its own STOREOP_HOME and encryption key; plain-SQL reads of it outside storeop's
// queries; and the storeop CLI run as a separate OS process against it.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CompiledQuery } from 'kysely';
import pg from 'pg';
import { closePglite, openPglite } from '../../src/engines/pglite-registry.js';
import { type MasterDatabase, openMaster } from '../../src/master/database.js';
import { Keyring } from '../../src/master/keyring.js';
import { type CliRun, runStoreop } from './cli.js';
import { createPostgresDatabase } from './databases.js';
import { repoRoot } from './paths.js';

export type Row = Record<string, unknown>;

export interface TestMaster {
  readonly engine: 'postgresql' | 'pglite';
  /** postgres://... or pglite://<folder>, as STOREOP_MASTER_DATABASE_URL or --master-database-url take it. */
  readonly url: string;
  /** A temp STOREOP_HOME, so nothing lands in the checkout's .storeop/. */
  readonly home: string;
  /** STOREOP_ENCRYPTION_KEYS with one key, and the keyring it gives. */
  readonly keysSpec: string;
  readonly keyring: Keyring;
  /** Opens (and by default migrates) the master through storeop. */
  open(options?: { migrate?: boolean }): Promise<MasterDatabase>;
  /**
   * Plain SQL on the master, not through storeop's queries: a connection of its own on PostgreSQL; on
   * PGlite (one opener per folder and process) the process's shared instance of the folder.
   */
  sql(text: string, params?: unknown[]): Promise<Row[]>;
  /** Drops the database / deletes the folder and the home. */
  destroy(): Promise<void>;
}

export interface MasterCase {
  readonly name: string;
  create(): Promise<TestMaster>;
}

function newKeys(): { keysSpec: string; keyring: Keyring } {
  const keysSpec = Keyring.generateSpec(`k-${Math.random().toString(36).slice(2, 10)}`);
  return { keysSpec, keyring: Keyring.parse(keysSpec) };
}

export const postgresMaster: MasterCase = {
  name: 'PostgreSQL master',
  async create() {
    const database = await createPostgresDatabase('t_master');
    const home = mkdtempSync(join(tmpdir(), 'storeop-home-'));
    let client: pg.Client | undefined;
    let connecting: Promise<pg.Client> | undefined;
    const connect = () => {
      connecting ??= (async () => {
        const c = new pg.Client({ connectionString: database.url });
        c.on('error', () => {});
        await c.connect();
        client = c;
        return c;
      })();
      return connecting;
    };
    return {
      engine: 'postgresql',
      url: database.url,
      home,
      ...newKeys(),
      open: (options = {}) => openMaster({ url: database.url, home, ...options }),
      sql: async (text, params = []) => (await (await connect()).query(text, params)).rows,
      async destroy() {
        await client?.end().catch(() => {});
        await database.drop();
        rmSync(home, { recursive: true, force: true });
      },
    };
  },
};

export const pgliteMaster: MasterCase = {
  name: 'PGlite master',
  async create() {
    const home = mkdtempSync(join(tmpdir(), 'storeop-home-'));
    const folder = join(home, 'master');
    return {
      engine: 'pglite',
      url: `pglite://${folder}`,
      home,
      ...newKeys(),
      open: (options = {}) => openMaster({ url: `pglite://${folder}`, home, ...options }),
      async sql(text, params = []) {
        const handle = await openPglite(folder);
        try {
          return (await handle.db.executeQuery<Row>(CompiledQuery.raw(text, params))).rows;
        } finally {
          await handle.release();
        }
      },
      async destroy() {
        await closePglite(folder);
        rmSync(home, { recursive: true, force: true });
      },
    };
  },
};

export const MASTER_CASES: MasterCase[] = [postgresMaster, pgliteMaster];

/** Runs `storeop <args>` as its own OS process (through tsx, as the operator tests do), with a deadline. */
export function runCli(args: string[], env: Record<string, string> = {}, timeoutMs = 90_000): Promise<CliRun> {
  // Only what the test says: no master URL or keys inherited from the environment running the tests.
  const childEnv: NodeJS.ProcessEnv = { ...process.env };
  delete childEnv.STOREOP_MASTER_DATABASE_URL;
  delete childEnv.STOREOP_ENCRYPTION_KEYS;
  delete childEnv.STOREOP_HOME;
  return runStoreop(args, { cwd: repoRoot, env: { ...childEnv, ...env }, timeoutMs });
}
