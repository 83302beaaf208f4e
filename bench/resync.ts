// `npm run bench:resync`: what a periodic check of an unchanged store costs, the fast path (verifyStore: one
// login as the store's role, one fingerprint query) beside the full pipeline that every check ran before
// (provision() on a store that is already in place), on the same stores in the same run. Prints operator CPU
// (user + system of this process) and wall time per check, and the connections, round trips and
// statements each side sent, counted on the wire by a relay the stores' public host/port point at.
//
//   npm run bench:resync -- [--stores 20] [--rounds 3] [--engines postgresql,mysql]
//
// Servers: STOREOP_BENCH_POSTGRES_URL (default postgres://postgres@127.0.0.1:5432/postgres) and
// STOREOP_BENCH_MYSQL_URL (default mysql://root@127.0.0.1:3306/). Stores are named store_bench_r_*; every
// one is dropped at the end, also after an error.
import { randomBytes } from 'node:crypto';
import { cpus, loadavg, totalmem } from 'node:os';
import { parseArgs } from 'node:util';
import { engineFor } from '../src/engines/index.js';
import type { CreateTarget, EngineName } from '../src/engines/target.js';
import { parseDatabaseUrl } from '../src/engines/url.js';
import { type ProvisionResult, provision } from '../src/provisioning/pipeline.js';
import { verifyStore } from '../src/provisioning/verify.js';
import { startWireCounter, type WireCounter } from '../test/support/wire-counter.js';

const { values } = parseArgs({
  options: {
    stores: { type: 'string', default: '20' },
    rounds: { type: 'string', default: '3' },
    engines: { type: 'string', default: 'postgresql,mysql' },
  },
});
const STORES = Number(values.stores);
const ROUNDS = Number(values.rounds);
const ENGINES = values.engines.split(',') as EngineName[];
const URLS: Record<string, string> = {
  postgresql: process.env.STOREOP_BENCH_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres',
  mysql: process.env.STOREOP_BENCH_MYSQL_URL ?? 'mysql://root@127.0.0.1:3306/',
};
const PASSWORD = `Bench-${randomBytes(8).toString('hex')}`;

interface Store {
  slug: string;
  target: CreateTarget;
  result: ProvisionResult;
}

interface SideStats {
  cpuMs: number[];
  wallMs: number[];
  connections: number;
  roundTrips: number;
  statements: number;
  checks: number;
}

const newStats = (): SideStats => ({ cpuMs: [], wallMs: [], connections: 0, roundTrips: 0, statements: 0, checks: 0 });

function quantile(values: number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? Number.NaN;
}

/** Runs `check` once per store, one at a time; CPU is measured over the whole batch and divided by the count. */
async function batch(stores: Store[], stats: SideStats, check: (store: Store, relayed: boolean) => Promise<void>): Promise<void> {
  const cpu = process.cpuUsage();
  for (const store of stores) {
    const started = performance.now();
    await check(store, false);
    stats.wallMs.push(performance.now() - started);
  }
  const used = process.cpuUsage(cpu);
  stats.cpuMs.push((used.user + used.system) / 1000 / stores.length);
}

/** The untimed pass through the relay: what each check sends on the wire. */
async function count(stores: Store[], relay: WireCounter, stats: SideStats, check: (store: Store, relayed: boolean) => Promise<void>) {
  relay.reset();
  for (const store of stores) await check(store, true);
  stats.connections = relay.connections;
  stats.roundTrips = relay.roundTrips;
  stats.statements = relay.statements.length;
  stats.checks = stores.length;
}

function report(engine: string, side: string, s: SideStats): string {
  const per = (n: number) => (n / s.checks).toFixed(1);
  return [
    `${engine.padEnd(10)} ${side.padEnd(15)}`,
    `cpu ${quantile(s.cpuMs, 0.5).toFixed(2).padStart(6)} ms/check (batches: ${s.cpuMs.map((v) => v.toFixed(2)).join(', ')})`,
    `wall p50 ${quantile(s.wallMs, 0.5).toFixed(1).padStart(6)} ms p95 ${quantile(s.wallMs, 0.95).toFixed(1).padStart(6)} ms`,
    `on the wire per check: ${per(s.connections)} connections, ${per(s.roundTrips)} round trips, ${per(s.statements)} statements`,
  ].join(' | ');
}

async function benchEngine(engine: EngineName): Promise<string[]> {
  const parsed = parseDatabaseUrl(URLS[engine] as string, `${engine} URL`);
  const admin = parsed.endpoint;
  if (!admin) throw new Error(`no server endpoint in the ${engine} URL`);
  const relay = await startWireCounter(engine === 'postgresql' ? 'postgres' : 'mysql', admin);
  const stores: Store[] = [];
  try {
    for (let i = 0; i < STORES; i++) {
      const slug = `bench-r-${randomBytes(4).toString('hex')}`;
      const target: CreateTarget = { engine: engine as 'postgresql' | 'mysql', mode: 'create', admin };
      stores.push({ slug, target, result: await provision({ slug, target, password: PASSWORD, seed: {} }) });
    }
    const full = newStats();
    const fast = newStats();
    // One warm-up check each (JIT, module state), then rounds that alternate which side goes first.
    await provision({ slug: stores[0]?.slug as string, target: stores[0]?.target as CreateTarget, password: PASSWORD, seed: {} });
    const viaRelay = { host: '127.0.0.1', port: relay.port };
    const fullCheck = async (s: Store, relayed: boolean) => {
      const target = relayed ? { ...s.target, admin: { ...s.target.admin, ...viaRelay } } : s.target;
      const r = await provision({ slug: s.slug, target, password: PASSWORD, seed: {} });
      if (r.changed) throw new Error(`the full check changed ${s.slug}: the stores are not unchanged`);
    };
    const fastCheck = async (s: Store, relayed: boolean) => {
      const connection = relayed ? { ...s.result.connection, ...viaRelay } : s.result.connection;
      const outcome = await verifyStore({ connection, fingerprint: s.result.fingerprint, seeded: true });
      if (outcome.kind !== 'unchanged') throw new Error(`the fast check found drift in ${s.slug}: ${outcome.reason}`);
    };
    const runFull = () => batch(stores, full, fullCheck);
    const runFast = () => batch(stores, fast, fastCheck);
    for (let round = 0; round < ROUNDS; round++) {
      if (round % 2 === 0) {
        await runFull();
        await runFast();
      } else {
        await runFast();
        await runFull();
      }
    }
    await count(stores, relay, full, fullCheck);
    await count(stores, relay, fast, fastCheck);
    const ratio = quantile(full.cpuMs, 0.5) / quantile(fast.cpuMs, 0.5);
    return [
      report(engine, 'full pipeline', full),
      report(engine, 'fast path', fast),
      `${engine.padEnd(10)} fast path uses ${ratio.toFixed(1)}x less operator CPU per check; target <= 10 ms: ${quantile(fast.cpuMs, 0.5) <= 10 ? 'met' : 'MISSED'}`,
    ];
  } finally {
    for (const s of stores)
      await engineFor(engine)
        .deprovision(s.target, s.slug)
        .catch((e) => console.error(`cleanup ${s.slug}: ${e}`));
    await relay.close();
  }
}

console.log(
  `machine: ${cpus().length} x ${cpus()[0]?.model ?? 'cpu'}, ${Math.round(totalmem() / 2 ** 30)} GiB, load ${loadavg()
    .map((l) => l.toFixed(2))
    .join(' ')}; node ${process.version}; ${STORES} stores x ${ROUNDS} rounds per side`,
);
console.log('full pipeline = provision() on an unchanged store (what every periodic check ran before, without its master DB queries)');
for (const engine of ENGINES) for (const line of await benchEngine(engine)) console.log(line);
console.log(
  `load after: ${loadavg()
    .map((l) => l.toFixed(2))
    .join(' ')}`,
);
