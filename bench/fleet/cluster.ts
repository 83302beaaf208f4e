// Where the fleet runs: a fresh envtest control plane (as the tests use) or the cluster of a kubeconfig,
// a recording proxy in front of it for the operator, and the bench's namespaces in it.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { installOperatorPrerequisites } from '../../test/support/cluster-setup.js';
import { startControlPlane } from '../../test/support/control-plane.js';
import { type RecordingProxy, startRecordingProxy } from '../../test/support/recording-proxy.js';
import { eachLimited, KubeHttp, type KubeHttp as KubeHttpType, type KubeList } from './kube-http.js';
import { GROUP_PATH } from './tracker.js';

/** Every namespace the bench makes starts with this, so a later run can find a killed run's leftovers. */
export const NAMESPACE_PREFIX = 'storeop-fleet-';

export interface Cluster {
  kube: KubeHttpType;
  proxy: RecordingProxy;
  /** A kubeconfig that sends the operator through the recording proxy. */
  operatorKubeconfig: string;
  /** kube-apiserver's pid when the bench started it (its CPU is then reported). */
  apiserverPid: number | undefined;
  description: string;
  stop(): Promise<void>;
}

/** Children of this process named `comm` (the envtest binaries are our direct children). */
function childPid(comm: string): number | undefined {
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const name = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (name === comm && ppid === process.pid) return Number(entry);
    } catch {
      // the process ended while we looked
    }
  }
  return undefined;
}

function writeOperatorKubeconfig(proxyUrl: string, token: string): string {
  const kc = new KubeConfig();
  // client-node accepts a plain-http server only with skipTLSVerify; the proxy is on 127.0.0.1.
  kc.loadFromOptions({
    clusters: [{ name: 'fleet', server: proxyUrl, skipTLSVerify: true }],
    users: [{ name: 'storeop-operator', token }],
    contexts: [{ name: 'fleet', cluster: 'fleet', user: 'storeop-operator' }],
    currentContext: 'fleet',
  });
  const dir = mkdtempSync(join(tmpdir(), 'storeop-fleet-kc-'));
  const path = join(dir, 'kubeconfig');
  writeFileSync(path, kc.exportConfig(), { mode: 0o600 });
  return path;
}

/**
 * Without a kubeconfig: a fresh control plane, the CRDs and RBAC installed, the operator authenticated as
 * the test user bound to manifests/base/rbac.yaml. With one: the CRDs must be installed, and the operator
 * runs with the kubeconfig's own bearer token (the proxy forwards tokens, not client certificates).
 */
export async function openCluster(kubeconfig: string | undefined): Promise<Cluster> {
  if (kubeconfig) {
    const kube = await KubeHttp.fromKubeconfig(kubeconfig);
    if (!kube.token)
      throw new Error(`--kubeconfig: the current user of ${kubeconfig} has no bearer token; the recording proxy forwards tokens only`);
    if (!kube.caData) throw new Error(`--kubeconfig: ${kubeconfig} names no CA for its cluster; the recording proxy needs one`);
    const crd = await kube.call('GET', '/apis/apiextensions.k8s.io/v1/customresourcedefinitions/stores.storeop.dev', undefined, true);
    if (!crd) throw new Error('the storeop CRDs are not installed in that cluster: kubectl apply -f crds/');
    const proxy = await startRecordingProxy({ server: kube.server.toString().replace(/\/$/, ''), caData: kube.caData });
    const operatorKubeconfig = writeOperatorKubeconfig(proxy.url, kube.token);
    return {
      kube,
      proxy,
      operatorKubeconfig,
      apiserverPid: undefined,
      description: `existing cluster ${kube.server.host} (${kubeconfig})`,
      async stop() {
        await proxy.stop();
        kube.close();
        rmSync(join(operatorKubeconfig, '..'), { recursive: true, force: true });
      },
    };
  }
  const plane = await startControlPlane();
  try {
    await installOperatorPrerequisites(plane.kubeconfigPath);
    const kube = await KubeHttp.fromKubeconfig(plane.kubeconfigPath);
    const proxy = await startRecordingProxy({ server: plane.server, caData: plane.caData });
    const token = plane.userTokens['storeop-operator'] as string;
    const operatorKubeconfig = writeOperatorKubeconfig(proxy.url, token);
    return {
      kube,
      proxy,
      operatorKubeconfig,
      apiserverPid: childPid('kube-apiserver'),
      description: 'envtest control plane (etcd + kube-apiserver 1.20, started by the bench)',
      async stop() {
        await proxy.stop();
        kube.close();
        rmSync(join(operatorKubeconfig, '..'), { recursive: true, force: true });
        await plane.stop();
      },
    };
  } catch (error) {
    await plane.stop();
    throw error;
  }
}

export function newNamespaceName(label: string): string {
  return `${NAMESPACE_PREFIX}${label}-${randomBytes(3).toString('hex')}`;
}

export async function createNamespace(kube: KubeHttp, name: string): Promise<void> {
  await kube.call('POST', '/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name } });
}

/** The admin Secret every fleet Store names (PostgreSQL trusts local connections; the password is unused there). */
export async function createAdminSecret(kube: KubeHttp, namespace: string, adminUrl: string): Promise<string> {
  const url = new URL(adminUrl);
  const name = 'fleet-postgres-admin';
  await kube.call('POST', `/api/v1/namespaces/${namespace}/secrets`, {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name },
    stringData: { username: decodeURIComponent(url.username || 'postgres'), password: decodeURIComponent(url.password) },
  });
  return name;
}

/**
 * Removes a bench namespace and everything in it: finalizers first (the operator is stopped), then the
 * objects, then the namespace (finalized by hand where no controller-manager runs, as in envtest).
 */
export async function removeNamespace(kube: KubeHttp, namespace: string): Promise<void> {
  for (const plural of ['stores', 'storedatabases']) {
    const path = `${GROUP_PATH}/namespaces/${namespace}/${plural}`;
    const list = await kube.call<KubeList>('GET', path, undefined, true);
    const held = (list?.items ?? []).filter((o) => o.metadata.finalizers?.length);
    await eachLimited(held, 20, async (o) => {
      await kube.call('PATCH', `${path}/${o.metadata.name}`, { metadata: { finalizers: null } }, true);
    });
    await kube.call('DELETE', path, undefined, true);
  }
  await kube.call('DELETE', `/api/v1/namespaces/${namespace}`, undefined, true);
  const finalize = { apiVersion: 'v1', kind: 'Namespace', metadata: { name: namespace }, spec: { finalizers: [] } };
  await kube.call('PUT', `/api/v1/namespaces/${namespace}/finalize`, finalize, true).catch(() => {});
}

/** Namespaces a killed run left behind (only an existing cluster keeps them between runs). */
export async function leftoverNamespaces(kube: KubeHttp): Promise<string[]> {
  const list = (await kube.call<KubeList>('GET', '/api/v1/namespaces')) as KubeList;
  return list.items.map((n) => n.metadata.name).filter((name) => name.startsWith(NAMESPACE_PREFIX));
}
