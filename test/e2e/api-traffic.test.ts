import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { installOperatorPrerequisites, kubectlWith } from '../support/cluster-setup.js';
import { type ControlPlane, startControlPlane } from '../support/control-plane.js';
import { createPostgresDatabase, POSTGRES_URL, type TempDatabase } from '../support/databases.js';
import { fleetStoreManifest } from '../support/fleet-store.js';
import {
  eventuallyWithLogs,
  kubectl,
  type OperatorEnvironment,
  type OperatorProcess,
  operatorEnvironment,
  startOperator,
} from '../support/operator.js';
import { type RecordingProxy, startRecordingProxy } from '../support/recording-proxy.js';
import { dropStoreLeftovers, postgresAdmin, storeName } from '../support/store-db.js';

const FLEET = 5;
const RESYNC_SECONDS = 15;
const WORKERS = 4;
const pgUrl = new URL(POSTGRES_URL);

interface KubeObject {
  metadata: { name: string; resourceVersion: string };
}

interface KubeEvent {
  involvedObject: { kind: string; name: string };
  reason: string;
  count?: number;
}

/** Sums a counter of the operator's /metrics over the samples whose labels include `labels`. */
async function metric(operator: OperatorProcess, name: string, labels: Record<string, string>): Promise<number> {
  const text = await (await fetch(operator.metricsUrl)).text();
  let total = 0;
  for (const line of text.split('\n')) {
    const m = /^(\w+)\{([^}]*)\} (\S+)$/.exec(line);
    if (m?.[1] !== name) continue;
    const has = Object.entries(labels).every(([k, v]) => (m[2] as string).includes(`${k}="${v}"`));
    if (has) total += Number(m[3]);
  }
  return total;
}

describe('API traffic of the control loop', () => {
  let env: OperatorEnvironment | undefined;
  let proxy: RecordingProxy | undefined;
  let operator: OperatorProcess;
  let namespace: string;
  const names = Array.from({ length: FLEET }, (_, i) => `traffic-${i}-${Math.random().toString(36).slice(2, 7)}`);

  const eventually = <T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 240_000) =>
    eventuallyWithLogs(what, probe, () => operator.logs(), timeoutMs);

  async function objects(kind: string): Promise<KubeObject[]> {
    const { stdout } = await kubectl(['-n', namespace, 'get', kind, '-o', 'json']);
    return (JSON.parse(stdout) as { items: KubeObject[] }).items;
  }

  async function versions(): Promise<Record<string, string>> {
    const found: Record<string, string> = {};
    for (const kind of ['stores.storeop.dev', 'storedatabases.storeop.dev', 'secrets']) {
      for (const o of await objects(kind)) found[`${kind}/${o.metadata.name}`] = o.metadata.resourceVersion;
    }
    return found;
  }

  /** What the operator wrote (anything but get, list and watch), as "verb resource/name[/subresource]". */
  function writes(): string[] {
    return (proxy as RecordingProxy).requests
      .filter((r) => !['get', 'list', 'watch'].includes(r.verb))
      .map((r) => `${r.verb} ${r.resource}/${r.name ?? ''}${r.subresource ? `/${r.subresource}` : ''}`);
  }

  beforeAll(async () => {
    proxy = await startRecordingProxy({ server: inject('kubeServer'), caData: inject('kubeCaData') });
    env = await operatorEnvironment('traffic');
    namespace = env.namespace;
    await kubectl(
      ['-n', namespace, 'apply', '-f', '-'],
      JSON.stringify({
        apiVersion: 'v1',
        kind: 'Secret',
        metadata: { name: 'pg-admin' },
        stringData: { username: pgUrl.username || 'postgres', password: 'trust-auth-ignores-it' },
      }),
    );
    operator = await env.start({
      server: proxy.url,
      args: ['--resync-period', `${RESYNC_SECONDS}s`, '--max-concurrent-reconciles', String(WORKERS)],
    });
    // The informers have listed once their caches are synced.
    await eventually('the caches to sync', async () => ((await fetch(`${operator.healthUrl}/readyz`)).ok ? true : undefined));
  });

  afterAll(async () => {
    try {
      await env?.tearDown();
      await proxy?.stop();
    } finally {
      for (const name of names) await dropStoreLeftovers('postgresql', name);
    }
  });

  it('provisions a fleet with one list per informer, bounded status writes and events, a quiet resync, and conflict-free deletion', async () => {
    const p = proxy as RecordingProxy;
    // Start-up: the CLI checks the cluster (its version, and that the Store CRD answers a list), then each
    // informer lists once. From here on, nothing is listed again.
    const startup = p.requests.filter((r) => r.verb === 'list').map((r) => r.resource);
    for (const resource of ['secrets', 'storedatabases', 'stores']) expect(startup).toContain(resource);
    p.reset();

    // Provisioning: 5 Stores at once.
    await kubectl(['-n', namespace, 'apply', '-f', '-'], names.map((name) => fleetStoreManifest(name)).join('\n'));
    for (const name of names) {
      await kubectl(['-n', namespace, 'wait', '--for=condition=Ready', '--timeout=240s', `store/${name}`]).catch((error) => {
        throw new Error(`${error.message}\n${operator.logs().slice(-6000)}`);
      });
    }

    // (a) Every read came from the caches: no LIST after the initial ones, and no GET of these kinds.
    expect(p.count({ verb: 'list' }), 'LIST requests after start-up').toBe(0);
    for (const resource of ['stores', 'storedatabases', 'secrets']) expect(p.count({ verb: 'get', resource }), `GET ${resource}`).toBe(0);

    // (b) Status writes per object, from creation to Ready: Provisioning, maybe one progress, Ready.
    for (const name of names) {
      const store = p.count({ verb: 'patch', resource: 'stores', name, subresource: 'status' });
      const database = p.count({ verb: 'patch', resource: 'storedatabases', name, subresource: 'status' });
      expect(store, `status writes of Store ${name}`).toBeGreaterThanOrEqual(1);
      expect(store, `status writes of Store ${name}`).toBeLessThanOrEqual(3);
      expect(database, `status writes of StoreDatabase ${name}`).toBeGreaterThanOrEqual(1);
      expect(database, `status writes of StoreDatabase ${name}`).toBeLessThanOrEqual(3);
      // Metadata: the Store's finalizer; the StoreDatabase is created with its finalizer and the attempt's
      // identity, so its only metadata write records the applied identity.
      const metadata = (resource: string) =>
        p.requests.filter((r) => r.verb === 'patch' && r.resource === resource && r.name === name && !r.subresource).length;
      expect(metadata('stores'), `metadata patches of Store ${name}`).toBe(1);
      expect(metadata('storedatabases'), `metadata patches of StoreDatabase ${name}`).toBe(1);
    }

    // (c) Events on transitions only: each reason once per object, none repeated (no count bumps).
    const { stdout } = await kubectl(['-n', namespace, 'get', 'events', '-o', 'json']);
    const events = (JSON.parse(stdout) as { items: KubeEvent[] }).items;
    for (const name of names) {
      const of = (kind: string) => events.filter((e) => e.involvedObject.kind === kind && e.involvedObject.name === name);
      const store = of('Store');
      const database = of('StoreDatabase');
      expect(store.map((e) => e.reason)).toEqual(['StoreDatabaseCreated']);
      expect(database.map((e) => e.reason).sort()).toEqual(['ConnectionSecretWritten', 'Provisioning', 'Ready']);
      for (const e of [...store, ...database]) expect(e.count ?? 1, `${e.involvedObject.kind} ${name} ${e.reason}`).toBe(1);
    }
    expect(p.count({ verb: 'patch', resource: 'events' }), 'event count bumps').toBe(0);

    // (d) A no-op resync writes nothing. Settled: every StoreDatabase has had its first periodic check
    // (the first check after Ready may still have had something to do while other stores were provisioning).
    const reconciled = () =>
      metric(operator, 'controller_runtime_reconcile_total', { controller: 'storedatabase', result: 'requeue_after' });
    const failed = () => metric(operator, 'controller_runtime_reconcile_errors_total', { controller: 'storedatabase' });
    const afterReady = await reconciled();
    await eventually('a first periodic check of every StoreDatabase', async () =>
      (await reconciled()) >= afterReady + 2 * FLEET ? true : undefined,
    );
    const before = await versions();
    const [checksBefore, errorsBefore] = [await reconciled(), await failed()];
    p.reset();
    // Each StoreDatabase is checked again every 13.5–16.5 s (the period ±10%): 2 checks per StoreDatabase in
    // all cannot happen before every one of them was checked at least once (one missed would leave the others
    // at most 2 each, 2×(FLEET−1) in all).
    await eventually('every StoreDatabase checked again', async () =>
      (await reconciled()) >= checksBefore + 2 * FLEET ? true : undefined,
    );
    expect(await failed(), 'failed reconciles during the resync window').toBe(errorsBefore);
    expect(writes(), 'writes during a no-op resync').toEqual([]);
    expect(p.count({ verb: 'list' }), 'LIST requests during the resync window').toBe(0);
    expect(p.count({ verb: 'get' }), 'GET requests during the resync window').toBe(0);
    expect(await versions()).toEqual(before);

    // (e) Deletion with deletionPolicy Delete: every database and role dropped; each finalizer removed by
    // one patch (no 409 on the operator's own Deleting status write, no retries).
    p.reset();
    const errorsBeforeDelete = await failed();
    await kubectl(['-n', namespace, 'delete', 'stores.storeop.dev', '--all', '--wait=false']);
    await eventually('every Store and StoreDatabase to be gone', async () => {
      const left = [...(await objects('stores.storeop.dev')), ...(await objects('storedatabases.storeop.dev'))];
      return left.length === 0 ? true : undefined;
    });
    for (const name of names) {
      const warnings = () =>
        [
          ...operator
            .logs()
            .split('\n')
            .filter((l) => l.includes('"level":"warn"')),
          ...p.requests.filter((r) => r.name === name).map((r) => `${r.at} ${r.verb} ${r.resource} ${r.subresource ?? ''}`),
        ].join('\n');
      const metadataPatches = (resource: string) =>
        p.requests.filter((r) => r.verb === 'patch' && r.resource === resource && r.name === name && !r.subresource).length;
      expect(metadataPatches('storedatabases'), `metadata patches of StoreDatabase ${name}\n${warnings()}`).toBe(1);
      expect(metadataPatches('stores'), `metadata patches of Store ${name}\n${warnings()}`).toBe(1);
      const facts = await postgresAdmin(
        async (c) =>
          (
            await c.query(
              `select exists(select 1 from pg_database where datname = $1) as database,
                      exists(select 1 from pg_roles where rolname = $1) as role`,
              [storeName(name)],
            )
          ).rows[0],
      );
      expect(facts, `database and role of ${name}`).toEqual({ database: false, role: false });
    }
    expect(await failed(), 'failed reconciles during deletion').toBe(errorsBeforeDelete);
    expect(operator.logs()).not.toMatch(/Operation cannot be fulfilled|the object has been modified/);
  });
});

// Cluster-wide, the users' admin Secrets carry no storeop label, so the labelled Secret informer does not hold
// them: the operator caches the unlabelled Secrets of the namespaces where a StoreDatabase names a Secret
// (one list and watch per such namespace), and of no other. A cluster-wide operator would reconcile the
// other test files' Stores on the shared control plane, so this one has a control plane of its own.
describe('API traffic of a cluster-wide operator', () => {
  const RESYNC = 15;
  const names = Array.from({ length: 3 }, (_, i) => `wide-${i}-${Math.random().toString(36).slice(2, 7)}`);
  const [storesNs, otherNs] = ['wide-stores', 'wide-other'];
  let plane: ControlPlane | undefined;
  let proxy: RecordingProxy | undefined;
  let master: TempDatabase | undefined;
  let operator: OperatorProcess | undefined;
  let home: string | undefined;

  const k = (args: string[], input?: string) => kubectlWith((plane as ControlPlane).kubeconfigPath, args, input);
  const eventually = <T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 240_000) =>
    eventuallyWithLogs(what, probe, () => operator?.logs() ?? '', timeoutMs);
  const secretRequests = (verb: string) =>
    (proxy as RecordingProxy).requests
      .filter((r) => r.resource === 'secrets' && r.verb === verb)
      .map((r) => `${r.namespace ?? '(all)'}/${r.name ?? ''}`);

  beforeAll(async () => {
    plane = await startControlPlane();
    await installOperatorPrerequisites(plane.kubeconfigPath);
    proxy = await startRecordingProxy({ server: plane.server, caData: plane.caData });
    master = await createPostgresDatabase('master');
    home = mkdtempSync(join(tmpdir(), 'storeop-home-'));
    const secret = (name: string) =>
      JSON.stringify({
        apiVersion: 'v1',
        kind: 'Secret',
        metadata: { name },
        stringData: { username: pgUrl.username || 'postgres', password: 'unused' },
      });
    for (const ns of [storesNs, otherNs]) await k(['create', 'namespace', ns]);
    await k(['-n', storesNs, 'apply', '-f', '-'], secret('pg-admin'));
    await k(['-n', otherNs, 'apply', '-f', '-'], secret('unrelated'));
    operator = await startOperator({
      masterUrl: master.url,
      home,
      server: proxy.url,
      token: plane.userTokens['storeop-operator'],
      args: ['--resync-period', `${RESYNC}s`],
    });
    await eventually('the caches to sync', async () => ((await fetch(`${operator?.healthUrl}/readyz`)).ok ? true : undefined));
  });

  afterAll(async () => {
    try {
      await operator?.stop();
      await proxy?.stop();
      await plane?.stop();
      await master?.drop();
      if (home) rmSync(home, { recursive: true, force: true });
    } finally {
      for (const name of names) await dropStoreLeftovers('postgresql', name);
    }
  });

  it('reads every Secret from its caches: one list of the Secrets of the namespace that holds StoreDatabases, none of any other namespace', async () => {
    const p = proxy as RecordingProxy;
    // Start-up: only the labelled Secrets are listed, cluster-wide; no StoreDatabase names a Secret yet.
    expect(secretRequests('list')).toEqual(['(all)/']);
    p.reset();

    await k(['-n', storesNs, 'apply', '-f', '-'], names.map((name) => fleetStoreManifest(name, storesNs)).join('\n'));
    for (const name of names) {
      await k(['-n', storesNs, 'wait', '--for=condition=Ready', '--timeout=240s', `store/${name}`]).catch((error) => {
        throw new Error(`${error.message}\n${operator?.logs().slice(-6000)}`);
      });
    }
    // The first StoreDatabase started the informer of its namespace's unlabelled Secrets: one list, then a watch.
    expect(secretRequests('get'), 'Secret GETs while provisioning').toEqual([]);
    expect(secretRequests('list'), 'Secret LISTs while provisioning').toEqual([`${storesNs}/`]);
    expect(p.count({ verb: 'list', resource: 'stores' }) + p.count({ verb: 'list', resource: 'storedatabases' })).toBe(0);
    expect(
      p.requests.filter((r) => r.namespace === otherNs).map((r) => `${r.verb} ${r.resource}`),
      'requests in a namespace without StoreDatabases',
    ).toEqual([]);

    // A periodic check of every StoreDatabase reads its admin Secret and connection Secret from the caches.
    p.reset();
    const checks = async () => {
      const text = await (await fetch((operator as OperatorProcess).metricsUrl)).text();
      return [...text.matchAll(/^controller_runtime_reconcile_total\{[^}]*controller="storedatabase"[^}]*\} (\S+)$/gm)].reduce(
        (sum, m) => sum + Number(m[1]),
        0,
      );
    };
    const before = await checks();
    await eventually('a periodic check of every StoreDatabase', async () =>
      (await checks()) >= before + 2 * names.length ? true : undefined,
    );
    expect(secretRequests('get'), 'Secret GETs during periodic checks').toEqual([]);
    expect(p.count({ verb: 'list' }), 'LISTs during periodic checks').toBe(0);

    // Deletion reads the admin Secret too (to drop the database); the last StoreDatabase gone stops the watch.
    p.reset();
    await k(['-n', storesNs, 'delete', 'stores.storeop.dev', '--all', '--wait=false']);
    await eventually('every Store and StoreDatabase to be gone', async () => {
      const { stdout } = await k(['-n', storesNs, 'get', 'stores.storeop.dev,storedatabases.storeop.dev', '-o', 'name']);
      return stdout.trim() === '' ? true : undefined;
    });
    expect(secretRequests('get'), 'Secret GETs during deletion').toEqual([]);
    for (const name of names) {
      const facts = await postgresAdmin(
        async (c) =>
          (
            await c.query(
              `select exists(select 1 from pg_database where datname = $1) as database,
                      exists(select 1 from pg_roles where rolname = $1) as role`,
              [storeName(name)],
            )
          ).rows[0],
      );
      expect(facts, `database and role of ${name}`).toEqual({ database: false, role: false });
    }
  });
});
