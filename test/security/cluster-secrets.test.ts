// Issue 12, finding 5: in cluster mode the provisioning API replaced any Secret a request named (the
// master's or the API tokens' among them), a connect-mode request could point credentialsSecretRef at
// any Secret and have its password sent to a server the caller controls, and writeConnectionSecretToRef
// overwrote (and, through the ownerReference it added, deleted with the StoreDatabase) any Secret without
// an owner. Now storeop writes only Secrets it owns, the API creates Secrets only under names it derives
// (<slug>-storeop-<name>) and lets a request reference only those. Against the real kube-apiserver, with
// `storeop run --api-bind-address` as a separate process.
import { createServer, type Server, type Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { CoreV1Api, type KubernetesListObject, type V1Secret } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ResilientInformer } from '../../src/controller/informer.js';
import { SECRET_CACHE_SELECTOR } from '../../src/controller/manager.js';
import { TokenVerifier } from '../../src/http/auth.js';
import { createLogger } from '../../src/log.js';
import { adminKubeConfig, createTestNamespace } from '../support/kube.js';
import { type ApiOperatorEnvironment, kubectl, type OperatorProcess, startApiOperatorEnvironment } from '../support/operator.js';

interface Secret {
  metadata: { name: string; labels?: Record<string, string>; ownerReferences?: Array<{ kind: string; name: string; uid: string }> };
  data?: Record<string, string>;
}
interface Condition {
  type: string;
  status: string;
  reason: string;
  message: string;
}

const b64 = (s: string) => Buffer.from(s).toString('base64');

/** A PostgreSQL look-alike that asks every client for a clear-text password and keeps what it gets. */
async function passwordCatcher(): Promise<{ port: number; connections: () => number; passwords: string[]; close(): Promise<void> }> {
  const passwords: string[] = [];
  let connections = 0;
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    connections++;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    let buffered = Buffer.alloc(0);
    let started = false;
    socket.on('data', (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk]);
      if (!started) {
        if (buffered.length < 8) return;
        const length = buffered.readInt32BE(0);
        const code = buffered.readInt32BE(4);
        if (buffered.length < length) return;
        buffered = buffered.subarray(length);
        if (code === 80877103) {
          socket.write('N'); // SSLRequest: no TLS here, go on in the clear
          return;
        }
        started = true;
        socket.write(Buffer.from([0x52, 0, 0, 0, 8, 0, 0, 0, 3])); // AuthenticationCleartextPassword
        return;
      }
      if (buffered.length >= 5 && buffered[0] === 0x70) {
        const length = buffered.readInt32BE(1);
        if (buffered.length < length + 1) return;
        passwords.push(buffered.subarray(5, length).toString('utf8').replace(/\0$/, ''));
        socket.destroy();
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return {
    port,
    connections: () => connections,
    passwords,
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

describe('Secrets in cluster mode', () => {
  const token = 'bnd-cluster-secrets-token-0123456789';
  let env: ApiOperatorEnvironment | undefined;
  let namespace: string;
  let operator: OperatorProcess;
  let api: string;

  const secret = (name: string, data: Record<string, string>, labels?: Record<string, string>) => ({
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name, ...(labels ? { labels } : {}) },
    type: 'Opaque',
    data,
  });
  const secretJson = (...args: Parameters<typeof secret>) => JSON.stringify(secret(...args));
  const readSecret = async (name: string): Promise<Secret | undefined> => {
    const { stdout } = await kubectl(['-n', namespace, 'get', 'secret', name, '-o', 'json', '--ignore-not-found']);
    return stdout.trim() ? (JSON.parse(stdout) as Secret) : undefined;
  };
  const storeExists = async (name: string) =>
    (await kubectl(['-n', namespace, 'get', 'store', name, '-o', 'name', '--ignore-not-found'])).stdout.trim() !== '';
  const post = (body: unknown) =>
    fetch(`${api}/v1/provision`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });

  beforeAll(async () => {
    env = await startApiOperatorEnvironment('bnd-secrets', token, {
      // Secrets the operator must never overwrite or hand out: the master's and the API tokens' (sharing the
      // namespace), and a database password someone keeps for their own app.
      objects: [
        secret('storeop-master', { url: b64('postgres://master:master-password@db/master'), 'encryption-keys': b64('k:abc') }),
        secret('storeop-api-tokens', { 'token-hashes': b64(TokenVerifier.hash(token)) }),
        secret('bnd-app-db', { username: b64('app'), password: b64('bnd-app-db-password-never-leaves') }),
      ],
    });
    ({ namespace, operator, apiUrl: api } = env);
  });

  afterAll(async () => {
    await env?.tearDown();
  });

  it('a request’s secrets are created under names storeop derives, labelled and owned by the Store; no existing Secret is replaced', async () => {
    const before = await readSecret('storeop-master');
    const response = await post({
      store: { slug: 'bnd-sec-named', displayName: 'Named' },
      database: { engine: 'pglite', seed: false },
      secrets: { 'storeop-master': { url: 'postgres://attacker@evil/x' }, 'storeop-api-tokens': { 'token-hashes': 'attacker' } },
    });
    expect(response.status, operator.logs().slice(-2000)).toBe(202);
    const master = await readSecret('storeop-master');
    expect(master?.data).toEqual(before?.data);
    expect(master?.metadata.ownerReferences).toBeUndefined();
    expect((await readSecret('storeop-api-tokens'))?.data).toEqual({ 'token-hashes': b64(TokenVerifier.hash(token)) });

    const derived = await readSecret('bnd-sec-named-storeop-storeop-master');
    expect(derived?.data).toEqual({ url: b64('postgres://attacker@evil/x') });
    expect(derived?.metadata.labels).toMatchObject({ 'app.kubernetes.io/managed-by': 'storeop', 'storeop.dev/store': 'bnd-sec-named' });
    expect(derived?.metadata.ownerReferences).toEqual([expect.objectContaining({ kind: 'Store', name: 'bnd-sec-named' })]);
  });

  it('a request that would replace a Secret storeop did not create for that store is refused with 409 naming the field; nothing changes', async () => {
    // Someone else's Secret already has the name the request's "admin" Secret would get.
    await kubectl(['-n', namespace, 'apply', '-f', '-'], secretJson('bnd-sec-taken-storeop-admin', { password: b64('theirs') }));
    const response = await post({
      store: { slug: 'bnd-sec-taken', displayName: 'Taken' },
      database: { engine: 'pglite', seed: false },
      secrets: { admin: { password: 'mine' } },
    });
    expect(response.status).toBe(409);
    expect(((await response.json()) as { error: string }).error).toMatch(/^secrets\.admin: /);
    expect((await readSecret('bnd-sec-taken-storeop-admin'))?.data).toEqual({ password: b64('theirs') });
    expect(await storeExists('bnd-sec-taken')).toBe(false);
  });

  it('a connect-mode request cannot reference a Secret it did not bring: 400 naming the field, and no password reaches the caller’s server', async () => {
    const catcher = await passwordCatcher();
    try {
      for (const [field, database] of [
        [
          'database.connection.credentialsSecretRef.name',
          {
            engine: 'postgresql',
            mode: 'connect',
            connection: { host: '127.0.0.1', port: catcher.port, database: 'x', credentialsSecretRef: { name: 'bnd-app-db' } },
          },
        ],
        [
          'database.connection.urlSecretRef.name',
          { engine: 'postgresql', mode: 'connect', connection: { urlSecretRef: { name: 'storeop-master', key: 'url' } } },
        ],
        [
          'database.server.adminSecretRef.name',
          {
            engine: 'postgresql',
            mode: 'create',
            server: { host: '127.0.0.1', port: catcher.port, adminSecretRef: { name: 'bnd-app-db' } },
          },
        ],
      ] as const) {
        const response = await post({ store: { slug: 'bnd-sec-leak', displayName: 'Leak' }, database });
        expect(response.status, field).toBe(400);
        expect(((await response.json()) as { error: string }).error, field).toMatch(new RegExp(`^${field.replaceAll('.', '\\.')}: `));
      }
      expect(await storeExists('bnd-sec-leak')).toBe(false);
      // Give a (wrongly) created Store every chance to reach the catcher before concluding nothing did.
      const deadline = Date.now() + 5_000;
      while (Date.now() < deadline && catcher.connections() === 0) await sleep(250);
      expect(catcher.connections()).toBe(0);
      expect(catcher.passwords).toEqual([]);
    } finally {
      await catcher.close();
    }
  });

  it('writeConnectionSecretToRef naming a Secret storeop does not own: SecretConflict condition and event, the Secret kept as it was and not owned', async () => {
    const admin = secretJson('bnd-sec-admin', { username: b64('postgres'), password: b64('bnd-admin-password') });
    await kubectl(['-n', namespace, 'apply', '-f', '-'], admin);
    const before = await readSecret('bnd-sec-admin');
    await kubectl(
      ['-n', namespace, 'apply', '-f', '-'],
      JSON.stringify({
        apiVersion: 'storeop.dev/v1alpha1',
        kind: 'Store',
        metadata: { name: 'bnd-sec-conn' },
        spec: {
          displayName: 'Conn',
          database: { engine: 'pglite', seed: false, deletionPolicy: 'Delete', writeConnectionSecretToRef: { name: 'bnd-sec-admin' } },
        },
      }),
    );
    let conditions: Condition[] = [];
    const deadline = Date.now() + 150_000;
    while (Date.now() < deadline) {
      const { stdout } = await kubectl(['-n', namespace, 'get', 'storedatabase', 'bnd-sec-conn', '-o', 'json', '--ignore-not-found']);
      conditions = stdout.trim() ? ((JSON.parse(stdout) as { status?: { conditions?: Condition[] } }).status?.conditions ?? []) : [];
      if (conditions.some((c) => c.type === 'Ready' && c.status === 'False' && c.reason === 'SecretConflict')) break;
      if (conditions.some((c) => c.type === 'Ready' && c.status === 'True')) break;
      await sleep(500);
    }
    expect(conditions).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ type: 'ConnectionSecretReady', status: 'False', reason: 'SecretConflict' }),
        expect.objectContaining({ type: 'Ready', status: 'False', reason: 'SecretConflict' }),
      ]),
    );
    const message = conditions.find((c) => c.type === 'Ready')?.message ?? '';
    expect(message).toContain('bnd-sec-admin');
    expect(message).not.toContain('bnd-admin-password');
    const { stdout: events } = await kubectl([
      '-n',
      namespace,
      'get',
      'events',
      '--field-selector',
      'involvedObject.name=bnd-sec-conn,reason=SecretConflict',
      '-o',
      'json',
    ]);
    expect((JSON.parse(events) as { items: Array<{ type: string }> }).items).toEqual(
      expect.arrayContaining([expect.objectContaining({ type: 'Warning' })]),
    );
    const after = await readSecret('bnd-sec-admin');
    expect(after?.data).toEqual(before?.data);
    expect(after?.metadata.ownerReferences).toBeUndefined(); // so deleting the StoreDatabase cannot take it along
    expect(after?.metadata.labels?.['app.kubernetes.io/managed-by']).toBeUndefined();
  });
});

describe('the Secret cache of a cluster-wide operator', () => {
  it('holds only the Secrets storeop labels, through the initial list and the watch', async () => {
    const kc = adminKubeConfig();
    const core = kc.makeApiClient(CoreV1Api);
    const namespace = await createTestNamespace(kc, 'bnd-cache');
    const secret = (name: string, labels?: Record<string, string>) => ({
      metadata: { name, ...(labels ? { labels } : {}) },
      data: { password: b64(`${name}-password`) },
    });
    // The cache reads the namespace's Secrets here, as the operator reads every namespace's, with its selector.
    const informer = new ResilientInformer<V1Secret>({
      name: 'secrets',
      kubeConfig: kc,
      path: `/api/v1/namespaces/${namespace}/secrets`,
      labelSelector: SECRET_CACHE_SELECTOR,
      list: async () =>
        (await core.listNamespacedSecret({ namespace, labelSelector: SECRET_CACHE_SELECTOR })) as KubernetesListObject<V1Secret>,
      onChange: () => {},
      log: createLogger({ level: 'silent' }),
    });
    try {
      await core.createNamespacedSecret({ namespace, body: secret('bnd-listed-foreign') });
      await core.createNamespacedSecret({ namespace, body: secret('bnd-listed-own', { 'app.kubernetes.io/managed-by': 'storeop' }) });
      await informer.start();
      await core.createNamespacedSecret({ namespace, body: secret('bnd-watched-foreign') });
      await core.createNamespacedSecret({ namespace, body: secret('bnd-watched-own', { 'app.kubernetes.io/managed-by': 'storeop' }) });
      const deadline = Date.now() + 60_000;
      while (Date.now() < deadline && !informer.get('bnd-watched-own', namespace)) await sleep(200);
      // Events arrive in order: once the last labelled Secret is in, the unlabelled one before it was filtered out.
      expect(
        informer
          .list(namespace)
          .map((s) => s.metadata?.name)
          .sort(),
      ).toEqual(['bnd-listed-own', 'bnd-watched-own']);
    } finally {
      await informer.stop();
      await core.deleteNamespace({ name: namespace });
    }
  });
});
