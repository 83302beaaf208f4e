// `npm run bench` / `npm run bench:provision`: provisions N stores per engine with storeop and, alternating
// with it, applies the same final schema and seed as one script through psql/mysql (the baseline, see
// baseline.ts), then prints per-store median and p95 of both and whether storeop is within 1.5x.
//
//   npm run bench -- [--stores 50] [--engines postgresql,mysql] [--warmup 2]
//
// Servers: STOREOP_BENCH_POSTGRES_URL (default postgres://postgres@127.0.0.1:5432/postgres) and
// STOREOP_BENCH_MYSQL_URL (default mysql://root@127.0.0.1:3306/). Every database, role and user it
// creates is dropped at the end, also after a failure or Ctrl-C. Exits non-zero on errors only.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, freemem, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { engineFor } from '../src/engines/index.js';
import { generatePassword } from '../src/engines/password.js';
import type { CreateTarget, EngineName, TenantConnection } from '../src/engines/target.js';
import { parseDatabaseUrl } from '../src/engines/url.js';
import { storeNames } from '../src/naming.js';
import { provision } from '../src/provisioning/pipeline.js';
import { STEPS, type StepName } from '../src/provisioning/progress.js';
import type { SqlDialect } from '../src/schema/dialect.js';
import { HISTORY_TABLE } from '../src/schema/history.js';
import { introspect } from '../src/schema/introspect.js';
import { storeSchema } from '../src/schema/store-schema.js';
import { applyScript, baselineCommand, baselineScript } from './baseline.js';

const TARGET_RATIO = 1.5;

class Interrupted extends Error {}
/** A mistake in the command line: reported without a stack trace. */
class UsageError extends Error {}

interface Options {
  stores: number;
  warmup: number;
  engines: EngineName[];
}

function options(): Options {
  const { values } = parseArgs({
    options: {
      stores: { type: 'string', default: '50' },
      warmup: { type: 'string', default: '2' },
      engines: { type: 'string', default: 'postgresql,mysql' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    console.log('usage: npm run bench -- [--stores 50] [--engines postgresql,mysql] [--warmup 2]');
    process.exit(0);
  }
  const count = (name: string, raw: string, min: number) => {
    const n = Number(raw);
    if (!Number.isInteger(n) || n < min || n > 999) throw new UsageError(`--${name} must be a whole number from ${min} to 999`);
    return n;
  };
  const engines = values.engines.split(',').map((e) => e.trim());
  for (const e of engines) {
    if (e !== 'postgresql' && e !== 'mysql') throw new UsageError(`--engines: unknown engine ${JSON.stringify(e)} (postgresql, mysql)`);
  }
  return { stores: count('stores', values.stores, 1), warmup: count('warmup', values.warmup, 0), engines: engines as EngineName[] };
}

function targetOf(engine: EngineName): CreateTarget {
  const url =
    engine === 'postgresql'
      ? (process.env.STOREOP_BENCH_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres')
      : (process.env.STOREOP_BENCH_MYSQL_URL ?? 'mysql://root@127.0.0.1:3306/');
  const parsed = parseDatabaseUrl(url, engine === 'postgresql' ? 'STOREOP_BENCH_POSTGRES_URL' : 'STOREOP_BENCH_MYSQL_URL');
  if (parsed.engine !== engine || !parsed.endpoint) throw new Error(`${url} is not a ${engine} URL`);
  return { engine, mode: 'create', isolation: 'database', admin: parsed.endpoint } as CreateTarget;
}

const dialectOf = (engine: EngineName): SqlDialect => (engine === 'postgresql' ? 'postgres' : 'mysql');

function median(values: readonly number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
}

/** Nearest-rank percentile. */
function percentile(values: readonly number[], p: number): number {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.max(0, Math.ceil((p / 100) * s.length) - 1)] as number;
}

interface EngineResult {
  engine: EngineName;
  serverVersion: string;
  storeop: number[];
  baseline: number[];
  steps: Map<StepName, number[]>;
  verified: string;
}

/** The names one run uses; every one of them is dropped before (leftovers of a killed run) and after. */
function slugsFor(opts: Options): { storeop: string[]; baseline: string[] } {
  const storeop: string[] = [];
  const baseline: string[] = [];
  const pad = (i: number) => String(i).padStart(3, '0');
  for (let i = 1; i <= opts.warmup; i++) {
    storeop.push(`bench-s-w${pad(i)}`);
    baseline.push(`bench-b-w${pad(i)}`);
  }
  for (let i = 1; i <= opts.stores; i++) {
    storeop.push(`bench-s-${pad(i)}`);
    baseline.push(`bench-b-${pad(i)}`);
  }
  return { storeop, baseline };
}

async function dropAll(target: CreateTarget, slugs: readonly string[]): Promise<void> {
  const engine = engineFor(target.engine);
  for (const slug of slugs) await engine.deprovision(target, slug);
}

/** Schema (tables, columns, indexes, foreign keys) and row counts of a store database, to compare both sides. */
async function fingerprint(connection: TenantConnection): Promise<string> {
  const engine = engineFor(connection.engine);
  const tenant = await engine.openTenant(connection, { poolSize: 1 });
  try {
    const tables = [...Object.keys(storeSchema), HISTORY_TABLE];
    const live = await introspect(tenant.db, tenant.dialect, tables);
    const shape: Record<string, unknown> = { tableNames: live.tableNames };
    for (const name of [...live.tables.keys()].sort()) {
      const t = live.tables.get(name);
      if (!t) continue;
      const count = await tenant.db
        .selectFrom(name)
        .select((eb) => eb.fn.countAll().as('n'))
        .executeTakeFirst();
      shape[name] = {
        columns: [...t.columns.entries()].sort(([a], [b]) => a.localeCompare(b)),
        indexes: [...t.indexes].sort(),
        foreignKeys: [...t.foreignKeys].sort(),
        rows: Number(count?.n ?? 0),
      };
    }
    return JSON.stringify(shape);
  } finally {
    await tenant.close();
  }
}

async function benchEngine(
  engineName: EngineName,
  opts: Options,
  slugs: { storeop: string[]; baseline: string[] },
  workDir: string,
  checkInterrupt: () => void,
): Promise<EngineResult> {
  const target = targetOf(engineName);
  const dialect = dialectOf(engineName);
  const serverVersion = await engineFor(engineName).testConnection(target);
  const result: EngineResult = { engine: engineName, serverVersion, storeop: [], baseline: [], steps: new Map(), verified: '' };
  process.stderr.write(`${engineName} (${serverVersion}): ${opts.warmup} warm-up + ${opts.stores} stores per side `);

  const runStoreop = async (slug: string, measured: boolean): Promise<TenantConnection> => {
    const marks: [StepName, number][] = [];
    const started = performance.now();
    const provisioned = await provision({
      slug,
      target,
      onProgress: (p) => {
        if (marks.at(-1)?.[0] !== p.step) marks.push([p.step, performance.now()]);
      },
    });
    const ended = performance.now();
    if (measured) {
      result.storeop.push(ended - started);
      marks.forEach(([step, at], i) => {
        const until = marks[i + 1]?.[1] ?? ended;
        const list = result.steps.get(step) ?? [];
        list.push(until - at);
        result.steps.set(step, list);
      });
    }
    return provisioned.connection;
  };

  const runBaseline = async (slug: string, measured: boolean): Promise<TenantConnection> => {
    const password = generatePassword();
    const script = join(workDir, `${slug}.sql`);
    writeFileSync(script, await baselineScript(dialect, slug, password));
    const ms = await applyScript(dialect, target, script);
    if (measured) result.baseline.push(ms);
    const names = storeNames(slug);
    return {
      engine: engineName,
      host: target.admin.host,
      port: target.admin.port,
      database: names.database,
      user: engineName === 'postgresql' ? names.role : names.mysqlUser,
      password,
    };
  };

  const runPairs = async (): Promise<void> => {
    const total = slugs.storeop.length;
    for (let i = 0; i < total; i++) {
      checkInterrupt();
      const measured = i >= opts.warmup;
      const s = slugs.storeop[i] as string;
      const b = slugs.baseline[i] as string;
      // Alternate which side goes first so drift and noise hit both sides alike.
      let ours: TenantConnection;
      let theirs: TenantConnection;
      if (i % 2 === 0) {
        ours = await runStoreop(s, measured);
        theirs = await runBaseline(b, measured);
      } else {
        theirs = await runBaseline(b, measured);
        ours = await runStoreop(s, measured);
      }
      if (i === opts.warmup) {
        // Both sides must end with the same database: same tables, columns, indexes, foreign keys and rows.
        const [a, c] = [await fingerprint(ours), await fingerprint(theirs)];
        if (a !== c) throw new Error(`${engineName}: the baseline database differs from storeop's:\n storeop:  ${a}\n baseline: ${c}`);
        const shape = JSON.parse(a) as Record<string, { rows?: number; indexes?: string[]; foreignKeys?: string[] }>;
        const tables = Object.keys(shape).filter((k) => k !== 'tableNames');
        const rows = tables.reduce((n, t) => n + (shape[t]?.rows ?? 0), 0);
        const indexes = tables.reduce((n, t) => n + (shape[t]?.indexes?.length ?? 0), 0);
        const fks = tables.reduce((n, t) => n + (shape[t]?.foreignKeys?.length ?? 0), 0);
        result.verified = `${tables.length} tables, ${indexes} indexes (incl. primary keys), ${fks} foreign keys, ${rows} rows`;
      }
      if ((i + 1) % 10 === 0) process.stderr.write('.');
    }
    process.stderr.write(' done');
  };
  try {
    await runPairs();
  } finally {
    process.stderr.write('\n');
  }
  return result;
}

function fmt(ms: number): string {
  return ms >= 100 ? ms.toFixed(0) : ms.toFixed(1);
}

function table(rows: string[][]): string {
  const widths = rows[0]?.map((_, c) => Math.max(...rows.map((r) => (r[c] ?? '').length))) ?? [];
  return rows.map((r) => r.map((cell, c) => (c === 0 ? cell.padEnd(widths[c] ?? 0) : cell.padStart(widths[c] ?? 0))).join('  ')).join('\n');
}

function report(results: EngineResult[], opts: Options): void {
  const cpu = cpus();
  console.log('');
  console.log(
    `machine: ${cpu.length} x ${cpu[0]?.model.trim() ?? 'cpu'}, ${(totalmem() / 2 ** 30).toFixed(1)} GiB RAM (${(freemem() / 2 ** 30).toFixed(1)} GiB free), Node ${process.version}`,
  );
  for (const r of results) console.log(`${r.engine}: server ${r.serverVersion}; both sides end with ${r.verified}`);
  console.log(
    `per store, ${opts.stores} stores per engine after ${opts.warmup} unmeasured warm-up store(s) per side, the two sides alternating which goes first`,
  );
  console.log(
    '  storeop:  provision() end to end, in-process: connect, create role + database, lock, introspect, plan, DDL, history, seed',
  );
  for (const r of results) {
    const d = dialectOf(r.engine);
    console.log(
      `  baseline (${r.engine}): write script (untimed), then \`${baselineCommand(d)}\` timed from spawn to exit: ` +
        (d === 'postgres'
          ? "CREATE ROLE + CREATE DATABASE + REVOKE, \\connect, SET ROLE, the same DDL, history and seed SQL (storeop's transactions)"
          : 'CREATE DATABASE + CREATE USER + GRANT, USE, the same DDL, history and seed SQL'),
    );
  }
  console.log('');
  const rows = [
    ['engine', 'stores', 'storeop median ms', 'p95 ms', 'baseline median ms', 'p95 ms', 'ratio (medians)', `within ${TARGET_RATIO}x`],
  ];
  for (const r of results) {
    const ratio = median(r.storeop) / median(r.baseline);
    rows.push([
      r.engine,
      String(r.storeop.length),
      fmt(median(r.storeop)),
      fmt(percentile(r.storeop, 95)),
      fmt(median(r.baseline)),
      fmt(percentile(r.baseline, 95)),
      `${ratio.toFixed(2)}x`,
      ratio <= TARGET_RATIO ? 'yes' : 'NO',
    ]);
  }
  console.log(table(rows));
  console.log('');
  console.log('storeop per step, median ms (from onProgress timestamps):');
  const stepRows = [['engine', ...STEPS]];
  for (const r of results) stepRows.push([r.engine, ...STEPS.map((s) => (r.steps.get(s) ? fmt(median(r.steps.get(s) ?? [])) : '-'))]);
  console.log(table(stepRows));
}

async function main(): Promise<void> {
  const opts = options();
  const slugs = slugsFor(opts);
  const workDir = mkdtempSync(join(tmpdir(), 'storeop-bench-'));
  let interrupted = false;
  const onSignal = () => {
    if (interrupted) return;
    interrupted = true;
    process.stderr.write('\ninterrupted: cleaning up\n');
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const checkInterrupt = () => {
    if (interrupted) throw new Interrupted('interrupted');
  };
  const results: EngineResult[] = [];
  let failed: unknown;
  try {
    for (const engine of opts.engines) {
      const target = targetOf(engine);
      try {
        await dropAll(target, [...slugs.storeop, ...slugs.baseline]);
        results.push(await benchEngine(engine, opts, slugs, workDir, checkInterrupt));
      } finally {
        process.stderr.write(`${engine}: dropping the bench databases, roles and users\n`);
        await dropAll(target, [...slugs.storeop, ...slugs.baseline]).catch((error) => {
          process.stderr.write(`${engine}: cleanup failed: ${(error as Error).message}\n`);
          process.exitCode = 1;
        });
      }
    }
  } catch (error) {
    failed = error;
  } finally {
    rmSync(workDir, { recursive: true, force: true });
  }
  if (failed instanceof Interrupted) {
    process.exitCode = 130;
    return;
  }
  if (failed) throw failed;
  report(results, opts);
}

main().catch((error) => {
  if (error instanceof UsageError) console.error(error.message);
  else console.error(error instanceof Error ? (error.stack ?? error.message) : error);
  process.exitCode = 1;
});
