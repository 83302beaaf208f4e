// The operator's KubeConfig reuses keep-alive connections to kube-apiserver: API calls of every kind and a
// watch go through a TCP pass-through proxy that counts the connections opened, which must stay a handful
// for 50 calls (the library alone opens one per call: the same proxy shows that too).
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createConnection, createServer, isIP, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { CoordinationV1Api, CoreV1Api, KubeConfig, Watch } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KubeClient } from '../../src/kube/client.js';
import { loadKubeConfig, type PooledKubeConfig } from '../../src/kube/kubeconfig.js';
import { runEveryStep } from '../support/cleanup.js';
import { adminKubeConfig, createTestNamespace } from '../support/kube.js';

const CALLS = 50;

/** Pipes every connection to the API server and counts them. */
class CountingProxy {
  opened = 0;
  readonly #open = new Set<Socket>();
  readonly #server: Server;

  constructor(target: { host: string; port: number }) {
    this.#server = createServer((client) => {
      this.opened++;
      this.#open.add(client);
      const upstream = createConnection(target);
      client.pipe(upstream).pipe(client);
      const end = () => {
        this.#open.delete(client);
        client.destroy();
        upstream.destroy();
      };
      client.on('close', end).on('error', end);
      upstream.on('close', end).on('error', end);
    });
  }

  get openNow(): number {
    return this.#open.size;
  }

  async listen(): Promise<number> {
    await new Promise<void>((done) => this.#server.listen(0, '127.0.0.1', done));
    const address = this.#server.address();
    if (typeof address !== 'object' || !address) throw new Error('proxy has no port');
    return address.port;
  }

  async close(): Promise<void> {
    for (const socket of this.#open) socket.destroy();
    await new Promise<void>((done) => this.#server.close(() => done()));
  }
}

async function waitFor(what: string, check: () => boolean, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

describe('connections to kube-apiserver', () => {
  const dir = mkdtempSync(join(tmpdir(), 'storeop-pool-'));
  let namespace: string;
  let proxy: CountingProxy;
  let kubeconfigPath: string;
  /** Writes a kubeconfig through the proxy with the CA in `caFile` (as in-cluster configs have it). */
  let writeWithCaFile: (path: string, caFile: string) => void;

  beforeAll(async () => {
    namespace = await createTestNamespace(adminKubeConfig(), 'pool');
    const admin = adminKubeConfig();
    const cluster = admin.getCurrentCluster();
    if (!cluster) throw new Error('the admin kubeconfig has no cluster');
    const server = new URL(cluster.server);
    proxy = new CountingProxy({ host: server.hostname, port: Number(server.port || 443) });
    const port = await proxy.listen();
    // The certificate names the real server: a DNS name is checked through tlsServerName; envtest's is 127.0.0.1.
    const tlsServerName = isIP(server.hostname) ? undefined : server.hostname;
    const user = admin.getCurrentUser();
    const through = new KubeConfig();
    through.loadFromOptions({
      clusters: [{ ...cluster, server: `https://127.0.0.1:${port}`, tlsServerName }],
      users: [user],
      contexts: [{ name: 'through-proxy', cluster: cluster.name, user: user?.name }],
      currentContext: 'through-proxy',
    });
    kubeconfigPath = join(dir, 'kubeconfig');
    writeFileSync(kubeconfigPath, through.exportConfig(), { mode: 0o600 });
    writeWithCaFile = (path, caFile) => {
      const withFile = new KubeConfig();
      withFile.loadFromOptions({
        clusters: [{ name: cluster.name, server: `https://127.0.0.1:${port}`, tlsServerName, caFile }],
        users: [user],
        contexts: [{ name: 'through-proxy', cluster: cluster.name, user: user?.name }],
        currentContext: 'through-proxy',
      });
      writeFileSync(path, withFile.exportConfig(), { mode: 0o600 });
    };
  });

  afterAll(async () => {
    await runEveryStep('cleanup', [
      () => proxy?.close(),
      () => adminKubeConfig().makeApiClient(CoreV1Api).deleteNamespace({ name: namespace }),
      () => rmSync(dir, { recursive: true, force: true }),
    ]);
  });

  /** Sequential calls spread over the APIs the operator uses: custom resources, Secrets, Leases. */
  async function callRepeatedly(kc: KubeConfig, calls = CALLS): Promise<void> {
    const kube = new KubeClient(kc);
    const leases = kc.makeApiClient(CoordinationV1Api);
    for (let i = 0; i < calls; i++) {
      if (i % 3 === 0) expect((await kube.list('Store', namespace)).items).toEqual([]);
      else if (i % 3 === 1) expect(await kube.getSecret(namespace, 'absent')).toBeUndefined();
      else await expect(leases.readNamespacedLease({ namespace, name: 'absent' })).rejects.toMatchObject({ code: 404 });
    }
  }

  it('the library alone opens a new connection for every call (why the pool exists)', async () => {
    const before = proxy.opened;
    const plain = new KubeConfig();
    plain.loadFromFile(kubeconfigPath);
    await callRepeatedly(plain);
    // If this fails, @kubernetes/client-node pools on its own now: src/kube/kubeconfig.ts can go.
    expect(proxy.opened - before).toBeGreaterThanOrEqual(CALLS - 5);
  });

  it('the operator KubeConfig makes 50 calls and a watch over at most 3 connections, and closes them', async () => {
    await waitFor('the previous test’s idle sockets to time out', () => proxy.openNow === 0);
    const before = proxy.opened;
    const kc: PooledKubeConfig = loadKubeConfig(kubeconfigPath);
    try {
      const events: string[] = [];
      const name = `watched-${randomBytes(3).toString('hex')}`;
      const watch = await new Watch(kc).watch(
        `/api/v1/namespaces/${namespace}/configmaps`,
        {},
        (type, object: { metadata?: { name?: string } }) => events.push(`${type} ${object.metadata?.name}`),
        () => {},
      );
      try {
        await callRepeatedly(kc);
        await kc.makeApiClient(CoreV1Api).createNamespacedConfigMap({ namespace, body: { metadata: { name } } });
        await waitFor('the watch to see the ConfigMap', () => events.includes(`ADDED ${name}`));
      } finally {
        watch.abort();
      }
      await callRepeatedly(kc); // the watch's end leaves the pool usable
      expect(proxy.opened - before).toBeLessThanOrEqual(3);
      expect(proxy.openNow).toBeGreaterThan(0); // kept alive between calls
    } finally {
      await kc.close();
    }
    await waitFor('close() to release every connection', () => proxy.openNow === 0);
  });

  it('a rotated CA file takes effect: the next call opens one new connection, which later calls reuse', async () => {
    const caPath = join(dir, 'ca.crt');
    const cluster = adminKubeConfig().getCurrentCluster();
    const caPem = cluster?.caData ? Buffer.from(cluster.caData, 'base64').toString('utf8') : readFileSync(cluster?.caFile ?? '', 'utf8');
    writeFileSync(caPath, caPem);
    const path = join(dir, 'kubeconfig-ca-file');
    writeWithCaFile(path, caPath);
    const kc = loadKubeConfig(path);
    try {
      await callRepeatedly(kc, 10);
      const beforeRotation = proxy.opened;
      // Same CA twice in the bundle: other bytes (as after a rotation), still a valid trust store.
      writeFileSync(caPath, `${caPem.trimEnd()}\n${caPem}`);
      await callRepeatedly(kc, 10);
      expect(proxy.opened - beforeRotation).toBe(1);
      const afterRotation = proxy.opened;
      await callRepeatedly(kc, 10);
      expect(proxy.opened).toBe(afterRotation);
    } finally {
      await kc.close();
    }
  });
});
