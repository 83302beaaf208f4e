// What the operator asks of the master DB per store it provisions, counted on the wire: the master DB is
// reached through a relay that counts round trips (issue 19: the master DB's serial round trips were most of
// what the operator adds to the raw DDL at fleet scale).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { POSTGRES_URL } from '../support/databases.js';
import { fleetStoreManifest } from '../support/fleet-store.js';
import {
  eventuallyWithLogs,
  kubectl,
  type OperatorEnvironment,
  type OperatorProcess,
  operatorEnvironment,
  startOperator,
} from '../support/operator.js';
import { dropStoreLeftovers } from '../support/store-db.js';
import { startWireCounter, type WireCounter } from '../support/wire-counter.js';

const FLEET = 3;
/**
 * The rollout controller's passes over storeop-default (its lock, stage update, admissions and members' facts):
 * how many run depends on timing (Store changes are gathered for 2 s), not on the job, so they are counted apart.
 */
const ROLLOUT_PASS =
  /"schema_rollouts" where "schema_name" = \$1 for update|update "schema_rollouts"|insert into "schema_rollouts"|insert into "store_schema_versions"|from "schema_rollout_stores" where "schema_name"|where "id" in \(/;
/** Job progress: written at most every 500 ms, so how many depends on how long the DDL takes on this machine. */
const PROGRESS = /^update "provisioning_jobs" set "step"/;
/** Measured for issue 19: 33.3 per store after the cuts (40.3 before), with a little headroom. */
const JOB_ROUND_TRIPS_PER_STORE = 36;
const pgUrl = new URL(POSTGRES_URL);

/** Statements with their literals and parameters folded, counted: what a person reads to see where round trips go. */
function tally(statements: readonly string[]): string {
  const counts = new Map<string, number>();
  for (const s of statements) {
    const key = s.replace(/\s+/g, ' ').slice(0, 160);
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  return [...counts.entries()]
    .sort((a, b) => b[1] - a[1])
    .map(([s, n]) => `${String(n).padStart(4)}  ${s}`)
    .join('\n');
}

describe('master DB round trips of the operator', () => {
  let env: OperatorEnvironment | undefined;
  let counter: WireCounter | undefined;
  let operator: OperatorProcess | undefined;
  const names = Array.from({ length: FLEET }, (_, i) => `mrt-${i}-${Math.random().toString(36).slice(2, 7)}`);

  const eventually = <T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 240_000) =>
    eventuallyWithLogs(what, probe, () => operator?.logs() ?? '', timeoutMs);

  beforeAll(async () => {
    env = await operatorEnvironment('mrt');
    const masterUrl = new URL(env.master.url);
    counter = await startWireCounter('postgres', { host: masterUrl.hostname, port: Number(masterUrl.port || 5432) });
    masterUrl.host = `127.0.0.1:${counter.port}`;
    await env.apply({
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: 'pg-admin' },
      stringData: { username: pgUrl.username || 'postgres', password: 'trust-auth-ignores-it' },
    });
    operator = await startOperator({ masterUrl: masterUrl.toString(), home: env.home, namespace: env.namespace });
    const started = operator;
    await eventually('the caches to sync', async () => ((await fetch(`${started.healthUrl}/readyz`)).ok ? true : undefined));
  });

  afterAll(async () => {
    try {
      await operator?.stop();
      await env?.tearDown();
      await counter?.close();
    } finally {
      for (const name of names) await dropStoreLeftovers('postgresql', name);
    }
  });

  it('provisions each store with a bounded number of master DB round trips', async () => {
    const c = counter as WireCounter;
    const namespace = (env as OperatorEnvironment).namespace;
    c.reset();
    // One store at a time: the count of each is its own, and the Store's reconciles after Ready settle.
    for (const name of names) {
      await kubectl(['-n', namespace, 'apply', '-f', '-'], fleetStoreManifest(name));
      await kubectl(['-n', namespace, 'wait', '--for=condition=Ready', '--timeout=240s', `store/${name}`]).catch((error) => {
        throw new Error(`${error.message}\n${operator?.logs().slice(-6000)}`);
      });
    }
    // The Store's last reconciles (its status after the StoreDatabase's Ready) may trail the condition.
    let last = -1;
    await eventually('the master DB to go quiet', async () => {
      const now = c.roundTrips;
      const quiet = now === last;
      last = now;
      await new Promise((r) => setTimeout(r, 3_000));
      return quiet && c.roundTrips === now ? true : undefined;
    });
    const rollout = c.statements.filter((s) => ROLLOUT_PASS.test(s));
    // Each rollout pass is one transaction: its begin and commit go with it.
    const rolloutTransactions = rollout.filter((s) => s.includes('for update')).length;
    const progress = c.statements.filter((s) => PROGRESS.test(s)).length;
    const job = c.roundTrips - c.connections - rollout.length - 2 * rolloutTransactions - progress;
    const perStore = job / FLEET;
    console.log(
      `master DB: ${c.roundTrips} round trips, ${c.connections} connections for ${FLEET} stores; ` +
        `${rollout.length + 2 * rolloutTransactions} in rollout passes, ${progress} progress writes, ` +
        `${perStore.toFixed(1)} per store for the rest\n${tally(c.statements)}`,
    );
    expect(perStore, 'master DB round trips per store, besides rollout passes and progress').toBeLessThanOrEqual(JOB_ROUND_TRIPS_PER_STORE);
    // A job writes its progress at most every 500 ms: never one write per step or table.
    expect(progress / FLEET, 'progress writes per store').toBeLessThan(12);
  });
});
