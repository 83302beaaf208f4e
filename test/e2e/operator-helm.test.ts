// The operator as the Helm chart deploys it: `helm template` of charts/storeop with one watched namespace,
// its ServiceAccount, Secret and RBAC applied for real, and `storeop run` (the image's bundle) started with
// the rendered Deployment's arguments and environment, authenticated as that ServiceAccount (a TokenRequest
// token): nothing hand-written decides what it may do. It then drives objects through the states Argo CD
// shows (Healthy, Progressing, Suspended, Degraded) and checks manifests/argocd/*.lua against them; with
// STOREOP_CAPTURE_FIXTURES=1 it writes them to test/fixtures/argocd/ (test/unit/argocd-health.test.ts).
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { OPERATOR_NODE_OPTIONS } from '../../scripts/bundle.js';
import { argocdHealth } from '../support/argocd-health.js';
import { runEveryStep } from '../support/cleanup.js';
import { createPostgresDatabase, POSTGRES_URL, type TempDatabase } from '../support/databases.js';
import { helmTemplate, type K8sObject, objects } from '../support/helm.js';
import { adminKubeConfig, createTestNamespace } from '../support/kube.js';
import { eventuallyWithLogs, installOperatorPrerequisites, kubectl, removeNamespace, TEST_ENCRYPTION_KEYS } from '../support/operator.js';
import { nodeBinary, repoRoot } from '../support/paths.js';
import { freePort } from '../support/ports.js';
import { dropStoreLeftovers } from '../support/store-db.js';

interface Container {
  args: string[];
  env: { name: string; value?: string; valueFrom?: { fieldRef?: { fieldPath: string }; secretKeyRef?: { name: string; key: string } } }[];
}

interface Status {
  phase?: string;
  observedGeneration?: number;
  conditions?: { type: string; status: string; reason: string; message: string; observedGeneration?: number }[];
}

interface Live {
  kind: string;
  metadata: { name: string; namespace?: string; generation?: number; managedFields?: unknown; [key: string]: unknown };
  spec?: unknown;
  status?: Status;
}

const capture = process.env.STOREOP_CAPTURE_FIXTURES === '1';
const pgUrl = new URL(POSTGRES_URL);

/** The object as a fixture: what a health check reads (no managedFields, uid or resourceVersion). */
function fixture(o: Live): Live {
  const { name, namespace, generation, labels } = o.metadata;
  return { ...o, metadata: { name, ...(namespace ? { namespace } : {}), generation, ...(labels ? { labels } : {}) } } as Live;
}

describe('operator deployed by the Helm chart (rendered Deployment arguments and RBAC)', () => {
  let namespace: string;
  let release: string;
  let rendered: string;
  let master: TempDatabase;
  let operator: ChildProcess | undefined;
  let output = '';
  let workDir: string;
  const slugs: string[] = [];
  const servers: string[] = [];

  const get = async (kind: string, name: string, ns: string | undefined = namespace): Promise<Live> =>
    JSON.parse((await kubectl([...(ns ? ['-n', ns] : []), 'get', kind, name, '-o', 'json'])).stdout) as Live;
  const eventually = <T>(what: string, probe: () => Promise<T | undefined | false>) =>
    eventuallyWithLogs(what, probe, () => output, 180_000);
  /** Waits for `kind/name` to satisfy `done`, checks what Argo CD says of it, and captures it when asked. */
  async function expectHealth(
    kind: string,
    name: string,
    ns: string | undefined,
    done: (s: Status) => boolean,
    health: string,
    file: string,
  ) {
    const live = await eventually(`${kind}/${name} (${health})`, async () => {
      const o = await get(kind, name, ns);
      return o.status && done(o.status) ? o : undefined;
    });
    expect((await argocdHealth(live)).status, JSON.stringify(live.status)).toBe(health);
    if (capture) writeFileSync(join(repoRoot, 'test/fixtures/argocd', `${file}.json`), `${JSON.stringify(fixture(live), null, 2)}\n`);
    return live;
  }

  beforeAll(async () => {
    await installOperatorPrerequisites();
    namespace = await createTestNamespace(adminKubeConfig(), 'helmop');
    release = `storeop-${namespace}`;
    master = await createPostgresDatabase('master');
    workDir = mkdtempSync(join(tmpdir(), 'storeop-helmop-'));
    rendered = await helmTemplate(
      { name: release, namespace },
      {
        replicas: 1,
        watchNamespace: namespace,
        crds: { create: false }, // installed for the whole run by the global setup
        rbac: { aggregateToDefaultRoles: false },
        masterSecret: { create: true, existingSecret: '', databaseUrl: master.url, encryptionKeys: TEST_ENCRYPTION_KEYS },
        // The control plane is shared by every test file: this operator manages only its own DatabaseServers.
        extraArgs: [`--database-server-selector=storeop.dev/test=${namespace}`, '--grace-period=5s'],
      },
    );
    await kubectl(['apply', '-f', '-'], rendered);
  });

  afterAll(async () => {
    await runEveryStep('could not clean up the Helm-deployed operator', [
      () => kubectl(['-n', namespace, 'delete', 'stores', '--all', '--wait=true', '--timeout=90s']),
      async () => {
        if (!operator || operator.exitCode !== null) return;
        const exited = new Promise((r) => operator?.once('exit', r));
        operator.kill('SIGTERM');
        const timer = setTimeout(() => operator?.kill('SIGKILL'), 15_000);
        await exited;
        clearTimeout(timer);
      },
      () => Promise.all(servers.map((s) => kubectl(['delete', 'databaseserver', s, '--ignore-not-found']))),
      () =>
        kubectl(
          ['delete', '--ignore-not-found', '-f', '-'],
          objects(rendered)
            .filter((o) => !o.metadata.namespace)
            .map((o) => JSON.stringify(o))
            .join('\n'),
        ),
      () => removeNamespace(namespace),
      () => master.drop(),
      () => Promise.all(slugs.map((slug) => dropStoreLeftovers('postgresql', slug))),
      () => rmSync(workDir, { recursive: true, force: true }),
    ]);
  });

  it('runs from the rendered arguments and environment as the chart ServiceAccount, and makes a Store Ready', async () => {
    const list = objects(rendered);
    const deployment = list.find((o) => o.kind === 'Deployment') as K8sObject & {
      spec: { template: { spec: { serviceAccountName: string; containers: Container[] } } };
    };
    const pod = deployment.spec.template.spec;
    const container = pod.containers[0] as Container;
    const { stdout: token } = await kubectl(['-n', namespace, 'create', 'token', pod.serviceAccountName, '--duration=2h']);
    const kc = new KubeConfig();
    kc.loadFromOptions({
      clusters: [{ name: 'envtest', server: inject('kubeServer'), caData: inject('kubeCaData') }],
      users: [{ name: 'sa', token: token.trim() }],
      contexts: [{ name: 'sa', cluster: 'envtest', user: 'sa' }],
      currentContext: 'sa',
    });
    const kubeconfig = join(workDir, 'kubeconfig');
    writeFileSync(kubeconfig, kc.exportConfig(), { mode: 0o600 });

    // The container's environment, resolved as the kubelet would: the downward API and the chart's Secret.
    const env: Record<string, string> = {};
    for (const e of container.env) {
      if (e.value !== undefined) env[e.name] = e.value;
      else if (e.valueFrom?.fieldRef?.fieldPath === 'metadata.namespace') env[e.name] = namespace;
      else if (e.valueFrom?.secretKeyRef) {
        const secret = await get('secret', e.valueFrom.secretKeyRef.name);
        const data = (secret as unknown as { data: Record<string, string> }).data;
        env[e.name] = Buffer.from(data[e.valueFrom.secretKeyRef.key] as string, 'base64').toString();
      } else throw new Error(`the test cannot resolve env ${e.name}`);
    }
    expect(env.STOREOP_MASTER_DATABASE_URL).toBe(master.url);

    // The rendered arguments, only the listen addresses moved to free loopback ports (tests share the host).
    const [metricsPort, healthPort] = [await freePort(), await freePort()];
    const ports: Record<string, string> = {
      '--metrics-bind-address': `127.0.0.1:${metricsPort}`,
      '--health-probe-bind-address': `127.0.0.1:${healthPort}`,
    };
    const args = container.args.map((arg) => {
      const [flag] = arg.split('=');
      return flag && ports[flag] ? `${flag}=${ports[flag]}` : arg;
    });
    expect(args).toContain(`--namespace=${namespace}`);
    expect(args).toContain('--leader-elect');
    operator = spawn(nodeBinary, [inject('operatorEntry'), ...args, `--kubeconfig=${kubeconfig}`], {
      cwd: workDir,
      env: { PATH: process.env.PATH ?? '', HOME: workDir, NODE_ENV: 'production', NODE_OPTIONS: OPERATOR_NODE_OPTIONS, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    operator.stdout?.on('data', (d: Buffer) => {
      output += d.toString();
    });
    operator.stderr?.on('data', (d: Buffer) => {
      output += d.toString();
    });
    await eventually('the operator to be ready', async () => {
      if (operator?.exitCode !== null) throw new Error(`operator exited with ${operator?.exitCode}`);
      return (await fetch(`http://127.0.0.1:${healthPort}/readyz`).catch(() => undefined))?.ok;
    });

    const secret = {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: 'pg-admin' },
      stringData: { username: pgUrl.username || 'postgres', password: 'trust' },
    };
    const name = `hs-${randomBytes(3).toString('hex')}`;
    slugs.push(name);
    await kubectl(['-n', namespace, 'apply', '-f', '-'], [secret, storeManifest(name)].map((o) => JSON.stringify(o)).join('\n'));
    await expectHealth('store', name, namespace, (s) => s.phase === 'Ready', 'Healthy', 'store-healthy');
    await expectHealth('storedatabase', name, namespace, (s) => s.phase === 'Ready', 'Healthy', 'storedatabase-healthy');
  });

  it('a Store waiting for its StoreDatabase is Reconciling, and Argo CD says Progressing', async () => {
    const name = `hw-${randomBytes(3).toString('hex')}`;
    await kubectl(['-n', namespace, 'apply', '-f', '-'], JSON.stringify(storeManifest(name, { databaseRef: { name: `${name}-db` } })));
    const live = await expectHealth('store', name, namespace, (s) => s.phase === 'Pending', 'Progressing', 'store-progressing');
    expect(live.status?.conditions?.find((c) => c.type === 'Reconciling')).toMatchObject({ status: 'True', reason: 'DatabaseNotFound' });
  });

  it('a suspended Store is Suspended to Argo CD', async () => {
    const name = `hp-${randomBytes(3).toString('hex')}`;
    slugs.push(name);
    await kubectl(['-n', namespace, 'apply', '-f', '-'], JSON.stringify(storeManifest(name)));
    await eventually(`store ${name} Ready`, async () => (await get('store', name)).status?.phase === 'Ready');
    await kubectl(['-n', namespace, 'patch', 'store', name, '--type=merge', '-p', '{"spec":{"suspend":true}}']);
    await expectHealth('store', name, namespace, (s) => s.phase === 'Suspended', 'Suspended', 'store-suspended');
    await expectHealth('storedatabase', name, namespace, (s) => s.phase === 'Suspended', 'Suspended', 'storedatabase-suspended');
  });

  it('a Store whose immutable slug changed is Stalled (InvalidSpec, with observedGeneration), and Argo CD says Degraded', async () => {
    const name = slugs[0] as string;
    await kubectl(['-n', namespace, 'patch', 'store', name, '--type=merge', '-p', '{"spec":{"slug":"another-slug"}}']);
    const generation = (await get('store', name)).metadata.generation;
    const live = await expectHealth('store', name, namespace, (s) => s.phase === 'Failed', 'Degraded', 'store-stalled');
    expect(live.status?.conditions?.find((c) => c.type === 'Stalled')).toMatchObject({
      status: 'True',
      reason: 'InvalidSpec',
      observedGeneration: generation,
    });
    expect(live.status?.conditions?.some((c) => c.type === 'Reconciling')).toBe(false);
    // Reverting the change heals it: Ready again, Stalled gone.
    await kubectl(['-n', namespace, 'patch', 'store', name, '--type=json', '-p', '[{"op":"remove","path":"/spec/slug"}]']);
    const healed = await expectHealth('store', name, namespace, (s) => s.phase === 'Ready', 'Healthy', 'store-healthy-again');
    expect(healed.status?.conditions?.some((c) => c.type === 'Stalled')).toBe(false);
  });

  it('a StoreDatabase whose immutable database name changed is Stalled, and Argo CD says Degraded', async () => {
    // Retain: its deletion at the end detaches the database (dropped by the test), whatever the spec says.
    const name = `hi-${randomBytes(3).toString('hex')}`;
    slugs.push(name);
    await kubectl(['-n', namespace, 'apply', '-f', '-'], JSON.stringify(storeManifest(name, undefined, 'Retain')));
    await eventually(`storedatabase ${name} Ready`, async () => (await get('storedatabase', name)).status?.phase === 'Ready');
    await kubectl([
      '-n',
      namespace,
      'patch',
      'store',
      name,
      '--type=merge',
      '-p',
      '{"spec":{"database":{"databaseName":"other_db_name"}}}',
    ]);
    const live = await expectHealth('storedatabase', name, namespace, (s) => s.phase === 'Failed', 'Degraded', 'storedatabase-stalled');
    expect(live.status?.conditions?.find((c) => c.type === 'Stalled')).toMatchObject({ status: 'True', reason: 'InvalidSpec' });
  });

  it('DatabaseServers: reachable is Healthy, unreachable is Degraded', async () => {
    const server = (suffix: string, port: number) => {
      const name = `${namespace}-${suffix}`;
      servers.push(name);
      return {
        apiVersion: 'storeop.dev/v1alpha1',
        kind: 'DatabaseServer',
        metadata: { name, labels: { 'storeop.dev/test': namespace } },
        spec: { engine: 'postgresql', host: pgUrl.hostname, port, adminSecretRef: { name: 'pg-admin', namespace } },
      };
    };
    const [up, down] = [server('up', Number(pgUrl.port || 5432)), server('down', 1)];
    await kubectl(['apply', '-f', '-'], [up, down].map((o) => JSON.stringify(o)).join('\n'));
    await expectHealth('databaseserver', up.metadata.name, undefined, (s) => s.phase === 'Ready', 'Healthy', 'databaseserver-healthy');
    await expectHealth(
      'databaseserver',
      down.metadata.name,
      undefined,
      (s) => s.phase === 'Unreachable',
      'Degraded',
      'databaseserver-unreachable',
    );
  });
});

function storeManifest(name: string, database?: Record<string, unknown>, deletionPolicy: 'Delete' | 'Retain' = 'Delete') {
  const inline = {
    database: {
      engine: 'postgresql',
      mode: 'create',
      server: { host: pgUrl.hostname, port: Number(pgUrl.port || 5432), adminSecretRef: { name: 'pg-admin' } },
      deletionPolicy,
    },
  };
  return {
    apiVersion: 'storeop.dev/v1alpha1',
    kind: 'Store',
    metadata: { name },
    spec: { displayName: `Store ${name}`, owner: `${name}@example.com`, plan: 'starter', ...(database ?? inline) },
  };
}
