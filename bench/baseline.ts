// The baseline side of the provisioning benchmark: what a person with the final DDL in hand would do by
// hand. For each store it writes one SQL script (role/user, database, the schema storeop would create,
// storeop's history rows and the seed rows, all generated from storeop's own definition) and applies it
// with one `psql` / `mysql` process. Only running that process is timed.
import { spawn } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import {
  type CompiledQuery,
  type DatabaseConnection,
  type Driver,
  Kysely,
  MysqlAdapter,
  MysqlIntrospector,
  MysqlQueryCompiler,
  PostgresAdapter,
  PostgresIntrospector,
  PostgresQueryCompiler,
  type QueryResult,
} from 'kysely';
import mysql from 'mysql2/promise';
import pg from 'pg';
import type { AnyKysely } from '../src/engines/engine.js';
import type { CreateTarget } from '../src/engines/target.js';
import { storeNames } from '../src/naming.js';
import { SEED_VERSION, seedStore } from '../src/provisioning/seed.js';
import type { SqlDialect } from '../src/schema/dialect.js';
import { ensureHistoryTable, recordHistory } from '../src/schema/history.js';
import { planSchema, schemaHash } from '../src/schema/plan.js';
import { STORE_SCHEMA_VERSION, storeSchema } from '../src/schema/store-schema.js';

/** Same per-store connection cap storeop's engines set by default. */
const CONNECTION_LIMIT = 50;

/** A Kysely whose driver records the compiled queries instead of running them. */
function recorder(dialect: SqlDialect): { db: AnyKysely; queries: CompiledQuery[] } {
  const queries: CompiledQuery[] = [];
  const connection: DatabaseConnection = {
    async executeQuery<R>(query: CompiledQuery): Promise<QueryResult<R>> {
      queries.push(query);
      return { rows: [], numAffectedRows: 0n };
    },
    streamQuery() {
      throw new Error('streaming is not recorded');
    },
  };
  const driver: Driver = {
    init: async () => {},
    acquireConnection: async () => connection,
    beginTransaction: async () => {},
    commitTransaction: async () => {},
    rollbackTransaction: async () => {},
    releaseConnection: async () => {},
    destroy: async () => {},
  };
  const db =
    dialect === 'postgres'
      ? new Kysely({
          dialect: {
            createAdapter: () => new PostgresAdapter(),
            createDriver: () => driver,
            createIntrospector: (k) => new PostgresIntrospector(k),
            createQueryCompiler: () => new PostgresQueryCompiler(),
          },
        })
      : new Kysely({
          dialect: {
            createAdapter: () => new MysqlAdapter(),
            createDriver: () => driver,
            createIntrospector: (k) => new MysqlIntrospector(k),
            createQueryCompiler: () => new MysqlQueryCompiler(),
          },
        });
  return { db, queries };
}

function pgLiteral(value: unknown): string {
  if (value === null || value === undefined) return 'NULL';
  if (typeof value === 'number' || typeof value === 'bigint') return String(value);
  if (typeof value === 'boolean') return value ? 'TRUE' : 'FALSE';
  if (value instanceof Date) return pg.escapeLiteral(value.toISOString());
  return pg.escapeLiteral(String(value));
}

/** A compiled query as SQL text with its parameters written in as literals. */
function inline(query: CompiledQuery, dialect: SqlDialect): string {
  if (dialect === 'mysql') return mysql.format(query.sql, [...query.parameters] as Parameters<typeof mysql.format>[1], false, 'Z');
  return query.sql.replace(/\$(\d+)/g, (_, n: string) => pgLiteral(query.parameters[Number(n) - 1]));
}

/** The SQL storeop runs inside a fresh store database, in storeop's order, as text: schema, history, seed. */
export async function storeScriptParts(dialect: SqlDialect, slug: string): Promise<{ history: string; schema: string[]; seed: string[] }> {
  const empty = { tableNames: [], tables: new Map() };
  const plan = await planSchema(storeSchema, empty, dialect, async () => false);
  const history = recorder(dialect);
  await ensureHistoryTable(history.db, dialect);
  const schemaRow = recorder(dialect);
  await recordHistory(schemaRow.db, {
    kind: 'schema',
    version: STORE_SCHEMA_VERSION,
    checksum: schemaHash(storeSchema, STORE_SCHEMA_VERSION),
    description: `${plan.changes.length} change(s)`,
    duration_ms: 0,
  });
  const seed = recorder(dialect);
  await seedStore(seed.db, dialect, slug, {});
  await recordHistory(seed.db, {
    kind: 'seed',
    version: SEED_VERSION,
    checksum: SEED_VERSION,
    description: 'default rows',
    duration_ms: 0,
  });
  const text = (queries: CompiledQuery[]) => queries.map((q) => inline(q, dialect));
  return {
    history: text(history.queries).join(''),
    schema: [...plan.changes.map((c) => c.statement.sql), ...text(schemaRow.queries)],
    seed: text(seed.queries),
  };
}

const pgIdent = (name: string) => pg.escapeIdentifier(name);
const myIdent = (name: string) => `\`${name.replaceAll('`', '``')}\``;

/**
 * The whole baseline for one store as one script, mirroring what storeop ends with: a login role/user
 * with a password and connection limit, a database it owns (PostgreSQL) or is granted (MySQL), the
 * schema, the history table and rows, and the seed rows, with PostgreSQL's transactions where storeop has them.
 */
export async function baselineScript(dialect: SqlDialect, slug: string, password: string): Promise<string> {
  const names = storeNames(slug);
  const parts = await storeScriptParts(dialect, slug);
  const lines: string[] = [];
  if (dialect === 'postgres') {
    const role = pgIdent(names.role);
    const database = pgIdent(names.database);
    lines.push(
      `CREATE ROLE ${role} WITH LOGIN PASSWORD ${pg.escapeLiteral(password)} CONNECTION LIMIT ${CONNECTION_LIMIT};`,
      `CREATE DATABASE ${database} OWNER ${role} ENCODING 'UTF8';`,
      `REVOKE ALL ON DATABASE ${database} FROM PUBLIC;`,
      `\\connect ${database}`,
      `SET ROLE ${role};`,
      `${parts.history};`,
      'BEGIN;',
      ...parts.schema.map((s) => `${s};`),
      'COMMIT;',
      'BEGIN;',
      ...parts.seed.map((s) => `${s};`),
      'COMMIT;',
    );
  } else {
    const database = myIdent(names.database);
    const user = mysql.escape(names.mysqlUser);
    const grantPattern = myIdent(names.database.replace(/[_%\\]/g, (c) => `\\${c}`));
    lines.push(
      `CREATE DATABASE ${database} CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;`,
      `CREATE USER ${user}@'%' IDENTIFIED BY ${mysql.escape(password)} WITH MAX_USER_CONNECTIONS ${CONNECTION_LIMIT};`,
      `GRANT ALL PRIVILEGES ON ${grantPattern}.* TO ${user}@'%';`,
      `USE ${database};`,
      `${parts.history};`,
      ...parts.schema.map((s) => `${s};`),
      ...parts.seed.map((s) => `${s};`),
    );
  }
  return `${lines.join('\n')}\n`;
}

/** How the baseline is applied, for the report. */
export function baselineCommand(dialect: SqlDialect): string {
  return dialect === 'postgres' ? 'psql -X -q -v ON_ERROR_STOP=1 -d postgres -f script.sql' : 'mysql --batch < script.sql';
}

/** Runs one script with the engine's command-line client; resolves with the wall time in ms, process start included. */
export async function applyScript(dialect: SqlDialect, target: CreateTarget, scriptPath: string): Promise<number> {
  const admin = target.admin;
  const env = { ...process.env };
  let command: string;
  let args: string[];
  let stdin: number | 'ignore' = 'ignore';
  if (dialect === 'postgres') {
    command = 'psql';
    args = [
      '-X',
      '-q',
      '-v',
      'ON_ERROR_STOP=1',
      '-h',
      admin.host,
      '-p',
      String(admin.port),
      '-U',
      admin.user,
      '-d',
      'postgres',
      '-f',
      scriptPath,
    ];
    if (admin.password !== undefined) env.PGPASSWORD = admin.password;
  } else {
    command = 'mysql';
    args = ['--batch', '--protocol=TCP', '-h', admin.host, '-P', String(admin.port), '-u', admin.user];
    env.MYSQL_PWD = admin.password ?? '';
    stdin = openSync(scriptPath, 'r');
  }
  try {
    const started = performance.now();
    const { code, stderr } = await new Promise<{ code: number | null; stderr: string }>((resolve, reject) => {
      const child = spawn(command, args, { env, stdio: [stdin, 'ignore', 'pipe'] });
      let stderr = '';
      child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
        stderr += chunk;
      });
      child.on('error', reject);
      child.on('close', (exitCode) => resolve({ code: exitCode, stderr }));
    });
    const elapsed = performance.now() - started;
    if (code !== 0) throw new Error(`${command} exited with ${code}: ${stderr.trim()}`);
    return elapsed;
  } finally {
    if (typeof stdin === 'number') closeSync(stdin);
  }
}
