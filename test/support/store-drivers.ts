// The three drivers of the store service, each behind one small adapter, for the parity suite: the same
// Store (and Secret) given to `storeop apply`/`storeop delete`, to the standalone API (`storeop api`),
// or to the controller (`storeop run` on the test cluster), and its outcome read back the same way.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { stringify } from 'yaml';
import { sha256, startApiProcess, storeopFreeEnv } from './api-process.js';
import { runStoreop } from './cli.js';
import { createPostgresDatabase, postgresRows, type TempDatabase } from './databases.js';
import { kubectl, type OperatorEnvironment, type OperatorProcess, operatorEnvironment } from './operator.js';
import { nodeBinary, storeopArgs } from './paths.js';

export type DriverName = 'apply' | 'api' | 'controller';

/** One store as every driver is given it: Store fields, its inline database spec and the Secrets it references. */
export interface StoreCase {
  /** metadata.name (the API: the slug). */
  name: string;
  displayName: string;
  settings?: { currency?: string; locale?: string };
  suspend?: boolean;
  database: Record<string, unknown>;
  secrets: Record<string, Record<string, string>>;
}

export interface Outcome {
  /** Ready (or suspended when asked); false: refused or failed. */
  ok: boolean;
  /** What the driver said: CLI output, HTTP error, the Store's Ready condition. */
  message: string;
}

export interface Driver {
  readonly name: DriverName;
  /** stores.source for a store this driver declares. */
  source(store: StoreCase): string;
  /** Declares the store and waits until it has settled. */
  apply(store: StoreCase): Promise<Outcome>;
  /** Deletes the store and waits until the deletion is done. */
  delete(store: StoreCase): Promise<Outcome>;
  /** Declares the store, and kills the process doing the work once its job is running (mid-way). */
  applyAndKill(store: StoreCase, running: () => Promise<boolean>): Promise<void>;
  /** Plain SQL on the driver's master DB. */
  sql<T extends Record<string, unknown> = Record<string, unknown>>(text: string, params?: unknown[]): Promise<T[]>;
  close(): Promise<void>;
}

const ENCRYPTION_KEYS = `svc:${randomBytes(32).toString('base64')}`;
const SETTLE_MS = 300_000;

/** Polls `check` until it answers something other than undefined; fails after `ms`, naming `what`. */
export async function until<T>(what: string, check: () => Promise<T | undefined>, ms = SETTLE_MS): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(250);
  }
}

function secretManifest(name: string, values: Record<string, string>, namespace?: string): Record<string, unknown> {
  return { apiVersion: 'v1', kind: 'Secret', metadata: { name, ...(namespace ? { namespace } : {}) }, stringData: values };
}

function storeManifest(store: StoreCase, namespace?: string): Record<string, unknown> {
  return {
    apiVersion: 'storeop.dev/v1alpha1',
    kind: 'Store',
    metadata: { name: store.name, ...(namespace ? { namespace } : {}) },
    spec: {
      displayName: store.displayName,
      ...(store.settings ? { settings: store.settings } : {}),
      ...(store.suspend !== undefined ? { suspend: store.suspend } : {}),
      database: store.database,
    },
  };
}

const manifests = (store: StoreCase, namespace?: string) =>
  [...Object.entries(store.secrets).map(([n, v]) => secretManifest(n, v, namespace)), storeManifest(store, namespace)]
    .map((doc) => stringify(doc))
    .join('---\n');

function masterSql(url: string) {
  return <T extends Record<string, unknown>>(text: string, params: unknown[] = []) => postgresRows<T>(url, text, params);
}

// ---------------------------------------------------------------------------------------------------
// storeop apply / storeop delete

export async function applyDriver(): Promise<Driver> {
  const master = await createPostgresDatabase('svc_master');
  const home = mkdtempSync(join(tmpdir(), 'svc-parity-'));
  const env: NodeJS.ProcessEnv = { ...process.env, STOREOP_ENCRYPTION_KEYS: ENCRYPTION_KEYS };
  for (const name of ['STOREOP_MASTER_DATABASE_URL', 'STOREOP_HOME']) delete env[name];
  const flags = ['--master-database-url', master.url, '--home', home];
  const write = (store: StoreCase) => {
    const file = join(home, `${store.name}-${randomBytes(3).toString('hex')}.yaml`);
    writeFileSync(file, manifests(store));
    return file;
  };
  const run = async (args: string[]): Promise<Outcome> => {
    const result = await runStoreop([...args, ...flags], { cwd: home, env, timeoutMs: SETTLE_MS });
    return { ok: result.code === 0, message: `${result.stdout}\n${result.stderr}` };
  };
  return {
    name: 'apply',
    source: () => 'apply',
    apply: (store) => run(['apply', '-f', write(store)]),
    delete: (store) => run(['delete', '-f', write(store)]),
    async applyAndKill(store, running) {
      const child = spawn(nodeBinary, storeopArgs(['apply', '-f', write(store), ...flags]), { cwd: home, env, stdio: 'ignore' });
      const exited = new Promise((resolve) => child.once('exit', resolve));
      try {
        await until('the apply run to be mid-way', async () => ((await running()) ? true : undefined));
      } finally {
        child.kill('SIGKILL');
        await exited;
      }
    },
    sql: masterSql(master.url),
    async close() {
      await master.drop();
      rmSync(home, { recursive: true, force: true });
    },
  };
}

// ---------------------------------------------------------------------------------------------------
// storeop api (standalone)

export async function apiDriver(): Promise<Driver> {
  const master = await createPostgresDatabase('svc_master');
  const home = mkdtempSync(join(tmpdir(), 'svc-parity-'));
  const token = randomBytes(24).toString('hex');
  const env = storeopFreeEnv({
    STOREOP_ENCRYPTION_KEYS: ENCRYPTION_KEYS,
    STOREOP_API_TOKEN_HASHES: sha256(token),
  });
  const start = () => startApiProcess({ args: ['--master-database-url', master.url, '--home', home], env });
  let api = await start();
  const call = (path: string, init: RequestInit = {}) =>
    fetch(`${api.url}${path}`, {
      ...init,
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', ...(init.headers as Record<string, string>) },
    });
  const body = (store: StoreCase) => ({
    store: {
      slug: store.name,
      displayName: store.displayName,
      ...(store.settings ? { settings: store.settings } : {}),
      ...(store.suspend !== undefined ? { suspend: store.suspend } : {}),
    },
    database: store.database,
    secrets: store.secrets,
  });
  const submit = (store: StoreCase) => call('/v1/provision', { method: 'POST', body: JSON.stringify(body(store)) });
  return {
    name: 'api',
    source: () => 'api',
    async apply(store) {
      const response = await submit(store);
      const text = await response.text();
      const answer = JSON.parse(text) as { jobId?: string };
      // A refusal's whole body: its error and, for an invalid body, the issues with their paths.
      if (response.status !== 202 || !answer.jobId) return { ok: false, message: `${response.status} ${text}` };
      const job = await until('the job to finish', async () => {
        const status = (await (await call(`/v1/provision/${answer.jobId}/status`)).json()) as { status: string; error: string | null };
        return ['succeeded', 'failed'].includes(status.status) ? status : undefined;
      });
      return { ok: job.status === 'succeeded', message: `${job.status} ${job.error ?? ''}` };
    },
    async delete(store) {
      const { database, secrets } = body(store);
      const response = await call(`/v1/stores/${store.name}`, { method: 'DELETE', body: JSON.stringify({ database, secrets }) });
      return { ok: response.status === 200, message: `${response.status} ${await response.text()}` };
    },
    async applyAndKill(store, running) {
      const response = await submit(store);
      if (response.status !== 202) throw new Error(`POST answered ${response.status}: ${await response.text()}`);
      try {
        await until('the API job to be mid-way', async () => ((await running()) ? true : undefined));
      } finally {
        await api.stop('SIGKILL');
        api = await start();
      }
    },
    sql: masterSql(master.url),
    async close() {
      await api.stop();
      await master.drop();
      rmSync(home, { recursive: true, force: true });
    },
  };
}

// ---------------------------------------------------------------------------------------------------
// The controller (storeop run) on the test cluster

interface Condition {
  type: string;
  status: string;
  reason?: string;
  message?: string;
}
interface KubeObject {
  metadata: { generation?: number; deletionTimestamp?: string };
  status?: { phase?: string; observedGeneration?: number; conditions?: Condition[] };
}

export async function controllerDriver(): Promise<Driver> {
  const environment: OperatorEnvironment = await operatorEnvironment('svc-parity');
  const namespace = environment.namespace;
  let operator: OperatorProcess = await environment.start();
  const get = async (kind: string, name: string): Promise<KubeObject | undefined> => {
    const { stdout } = await kubectl(['-n', namespace, 'get', kind, name, '--ignore-not-found', '-o', 'json']);
    return stdout.trim() ? (JSON.parse(stdout) as KubeObject) : undefined;
  };
  const ready = (o: KubeObject | undefined) => o?.status?.conditions?.find((c) => c.type === 'Ready');
  const TERMINAL = ['InvalidSpec', 'Conflict', 'SchemaConflict', 'MigrationChanged'];
  return {
    name: 'controller',
    source: (store) => `kubernetes:${namespace}/${store.name}`,
    async apply(store) {
      await kubectl(['apply', '-f', '-'], manifests(store, namespace));
      return until(`Store ${store.name} to settle`, async () => {
        const s = await get('store', store.name);
        const d = await get('storedatabase', store.name);
        const condition = ready(s);
        if (!s || s.status?.observedGeneration !== s.metadata.generation || !condition) return undefined;
        const refused = { ok: false, message: `${condition.reason}: ${condition.message}` };
        // Refused before its StoreDatabase exists (an invalid slug, a slug another source declared).
        if (!d) return TERMINAL.includes(condition.reason ?? '') ? refused : undefined;
        // Otherwise the StoreDatabase must have seen this spec, and the Store must mirror what it says.
        if (d.status?.observedGeneration !== d.metadata.generation) return undefined;
        const database = ready(d);
        if (TERMINAL.includes(database?.reason ?? '')) return condition.reason === database?.reason ? refused : undefined;
        if (store.suspend)
          return d.status?.phase === 'Suspended' && s.status?.phase === 'Suspended' ? { ok: true, message: 'Suspended' } : undefined;
        return database?.status === 'True' && condition.status === 'True' ? { ok: true, message: condition.message ?? '' } : undefined;
      });
    },
    async delete(store) {
      await kubectl(['-n', namespace, 'delete', 'store', store.name, '--wait=false']);
      await until(`Store ${store.name} to be gone`, async () =>
        (await get('store', store.name)) || (await get('storedatabase', store.name)) ? undefined : true,
      );
      return { ok: true, message: 'deleted' };
    },
    async applyAndKill(store, running) {
      await kubectl(['apply', '-f', '-'], manifests(store, namespace));
      try {
        await until('the controller job to be mid-way', async () => ((await running()) ? true : undefined));
      } finally {
        await operator.stop('SIGKILL');
        operator = await environment.start();
      }
    },
    sql: masterSql(environment.master.url),
    close: () => environment.tearDown(),
  };
}

export const DRIVERS: Record<DriverName, () => Promise<Driver>> = { apply: applyDriver, api: apiDriver, controller: controllerDriver };

export type { TempDatabase };
