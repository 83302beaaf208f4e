// The ways to deploy the operator (the Helm chart through real Helm 4, manifests/ through kustomize) must
// stay in step with the operator's flags and the rights its e2e identity runs under, and yield objects that
// a real kube-apiserver admits (server-side dry run: validated and admitted, nothing stored).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CoreV1Api } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseRunFlags } from '../../src/cli/commands/run.js';
import { chartDir, grants, helm, helmTemplate, type K8sObject, objects } from '../support/helm.js';
import { adminKubeConfig, createTestNamespace } from '../support/kube.js';
import { kubectl } from '../support/operator.js';
import { repoRoot } from '../support/paths.js';

interface Container {
  image: string;
  args: string[];
  env: { name: string; valueFrom?: { secretKeyRef?: { name: string; key: string } } }[];
}

function only(list: K8sObject[], kind: string): K8sObject {
  const found = list.filter((o) => o.kind === kind);
  expect(found, `exactly one ${kind}`).toHaveLength(1);
  return found[0] as K8sObject;
}

function container(list: K8sObject[]): Container {
  const deployment = only(list, 'Deployment') as K8sObject & { spec: { template: { spec: { containers: Container[] } } } };
  return deployment.spec.template.spec.containers[0] as Container;
}

/** `kubectl apply --dry-run=server` (dryRun=All): every object validated and admitted; the names it reports. */
async function admitted(yamlText: string): Promise<string[]> {
  const { stdout } = await kubectl(['apply', '--dry-run=server', '-o', 'name', '-f', '-'], yamlText);
  return stdout.trim().split('\n').filter(Boolean);
}

/** What manifests/base grants the operator: the e2e tests' operator users are bound to exactly this. */
const baseRbac = objects(readFileSync(join(repoRoot, 'manifests/base/rbac.yaml'), 'utf8'));
const e2eGrants = grants(baseRbac.find((o) => o.kind === 'ClusterRole')?.rules);
const leaderGrants = grants(baseRbac.find((o) => o.kind === 'Role')?.rules);

/** Stand-ins for the prometheus-operator CRDs (open schemas): the test cluster has no prometheus-operator. */
const monitoringCrds = ['ServiceMonitor', 'PrometheusRule'].map((kind) => ({
  apiVersion: 'apiextensions.k8s.io/v1',
  kind: 'CustomResourceDefinition',
  metadata: { name: `${kind.toLowerCase()}s.monitoring.coreos.com` },
  spec: {
    group: 'monitoring.coreos.com',
    scope: 'Namespaced',
    names: { kind, plural: `${kind.toLowerCase()}s`, singular: kind.toLowerCase(), listKind: `${kind}List` },
    versions: [
      {
        name: 'v1',
        served: true,
        storage: true,
        schema: { openAPIV3Schema: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true } },
      },
    ],
  },
}));

describe('Helm chart charts/storeop (helm 4.1.4)', () => {
  const kc = adminKubeConfig();
  let namespace: string;
  let release: string;

  beforeAll(async () => {
    namespace = await createTestNamespace(kc, 'helm');
    release = `storeop-${namespace}`;
    await kubectl(['apply', '-f', '-'], monitoringCrds.map((crd) => JSON.stringify(crd)).join('\n'));
    await kubectl(['wait', '--for=condition=Established', '--timeout=60s', ...monitoringCrds.map((c) => `crd/${c.metadata.name}`)]);
  });
  afterAll(async () => {
    await kc.makeApiClient(CoreV1Api).deleteNamespace({ name: namespace });
  });

  it('passes helm lint --strict', async () => {
    const out = await helm(['lint', '--strict', chartDir]);
    expect(out).toContain('0 chart(s) failed');
  });

  const matrix: [string, Record<string, unknown>, string[]][] = [
    ['defaults', {}, ['PodDisruptionBudget', 'CustomResourceDefinition', 'ClusterRole', 'Deployment']],
    ['replicas 1', { replicas: 1 }, ['Deployment']],
    ['watchNamespace set', { watchNamespace: 'WATCHED' }, ['Role', 'RoleBinding']],
    ['api enabled', { api: { enabled: true } }, ['Service']],
    [
      'existingSecret with its own key names',
      { masterSecret: { existingSecret: 'platform-db', keys: { databaseUrl: 'MASTER_URL', encryptionKeys: 'KEYS' } } },
      [],
    ],
    [
      'Secret created by the chart',
      {
        masterSecret: {
          create: true,
          existingSecret: '',
          databaseUrl: 'postgres://storeop@db:5432/storeop',
          encryptionKeys: 'k1:MDEyMzQ1Njc4OTAxMjM0NTY3ODkwMTIzNDU2Nzg5MDE=',
        },
      },
      ['Secret'],
    ],
    [
      'ServiceMonitor and PrometheusRule on',
      { monitoring: { serviceMonitor: { enabled: true }, prometheusRule: { enabled: true } } },
      ['ServiceMonitor', 'PrometheusRule'],
    ],
    ['image digest', { image: { digest: `sha256:${'a'.repeat(64)}` } }, []],
    [
      'conventions: scheduling, extras, no CRDs',
      {
        crds: { create: false },
        nodeSelector: { 'kubernetes.io/os': 'linux' },
        tolerations: [{ key: 'storeop', operator: 'Exists' }],
        priorityClassName: '',
        podAnnotations: { 'example.com/a': 'b' },
        podLabels: { team: 'shop' },
        extraEnv: [{ name: 'STOREOP_LOG_LEVEL', value: 'debug' }],
        extraArgs: ['--grace-period=20s'],
        imagePullSecrets: [{ name: 'registry' }],
        topologySpreadConstraints: [
          {
            maxSkew: 1,
            topologyKey: 'kubernetes.io/hostname',
            whenUnsatisfiable: 'ScheduleAnyway',
            labelSelector: { matchLabels: { 'app.kubernetes.io/name': 'storeop' } },
          },
        ],
      },
      [],
    ],
  ];

  it.each(matrix)('renders (%s) objects that kube-apiserver admits in a server-side dry run', async (_, raw, kinds) => {
    const values = JSON.parse(JSON.stringify(raw).replaceAll('WATCHED', namespace)) as Record<string, unknown>;
    const rendered = await helmTemplate({ name: release, namespace }, values);
    const list = objects(rendered);
    for (const kind of kinds)
      expect(
        list.map((o) => o.kind),
        kind,
      ).toContain(kind);
    const names = await admitted(rendered);
    expect(names).toHaveLength(list.length);
    // Every object carries the chart's standard labels.
    for (const o of list)
      expect(o.metadata.labels, `${o.kind}/${o.metadata.name}`).toMatchObject({
        'helm.sh/chart': 'storeop-0.1.0',
        'app.kubernetes.io/instance': release,
      });
    // The operator gets only flags `storeop run` accepts.
    const [command, ...args] = container(list).args;
    expect(command).toBe('run');
    const flags = parseRunFlags(args);
    expect(flags['leader-elect']).toBe(true);
    expect(flags['leader-election-id']).toBe(`${release}-leader`);
  });

  it('refuses a value of the wrong type (values.schema.json) and an unknown value, naming it', async () => {
    await expect(helmTemplate({ name: release, namespace }, { replicas: 'abc' })).rejects.toThrow(/replicas/);
    await expect(helmTemplate({ name: release, namespace }, { image: { pullPolicy: 'Sometimes' } })).rejects.toThrow(/pullPolicy/);
    await expect(helmTemplate({ name: release, namespace }, { replicaCount: 3 })).rejects.toThrow(/replicaCount/);
    await expect(helmTemplate({ name: release, namespace }, { masterSecret: { create: true, existingSecret: '' } })).rejects.toThrow(
      /masterSecret.databaseUrl is required/,
    );
  });

  it('defaults the image tag to appVersion, and a digest wins over the tag', async () => {
    const emptyTag = container(objects(await helmTemplate({ name: release, namespace }, {}, ['--set', 'image.tag='])));
    expect(emptyTag.image).toBe('storeop:0.1.0');
    const digest = `sha256:${'b'.repeat(64)}`;
    const pinned = container(
      objects(await helmTemplate({ name: release, namespace }, { image: { repository: 'ghcr.io/x/storeop', tag: '1.2.3', digest } })),
    );
    expect(pinned.image).toBe(`ghcr.io/x/storeop@${digest}`);
  });

  it('reads the master Secret under the configured name and keys, and the PDB follows the replicas', async () => {
    const list = objects(
      await helmTemplate(
        { name: release, namespace },
        { replicas: 1, masterSecret: { existingSecret: 'platform-db', keys: { databaseUrl: 'MASTER_URL', encryptionKeys: 'KEYS' } } },
      ),
    );
    const env = Object.fromEntries(container(list).env.map((e) => [e.name, e.valueFrom?.secretKeyRef]));
    expect(env.STOREOP_MASTER_DATABASE_URL).toEqual({ name: 'platform-db', key: 'MASTER_URL' });
    expect(env.STOREOP_ENCRYPTION_KEYS).toEqual({ name: 'platform-db', key: 'KEYS' });
    expect(list.some((o) => o.kind === 'PodDisruptionBudget')).toBe(false);
    expect(list.some((o) => o.kind === 'Secret')).toBe(false);
  });

  it('renders the CRDs as templates behind crds.create, kept on uninstall', async () => {
    const crds = objects(await helmTemplate({ name: release, namespace })).filter((o) => o.kind === 'CustomResourceDefinition');
    expect(crds.map((c) => c.metadata.name).sort()).toEqual([
      'databaseservers.storeop.dev',
      'storedatabases.storeop.dev',
      'storeplans.storeop.dev',
      'stores.storeop.dev',
      'storeschemas.storeop.dev',
    ]);
    for (const crd of crds) expect(crd.metadata.annotations?.['helm.sh/resource-policy']).toBe('keep');
    const none = objects(await helmTemplate({ name: release, namespace }, { crds: { create: false } }));
    expect(none.some((o) => o.kind === 'CustomResourceDefinition')).toBe(false);
  });

  it('grants cluster-wide exactly what the e2e operator identity runs under (manifests/base/rbac.yaml)', async () => {
    const list = objects(await helmTemplate({ name: release, namespace }));
    const manager = list.find((o) => o.kind === 'ClusterRole' && o.metadata.name === `${release}-manager`);
    expect(grants(manager?.rules)).toEqual(e2eGrants);
    const leader = list.find((o) => o.kind === 'Role' && o.metadata.name === `${release}-leader-election`);
    expect(grants(leader?.rules)).toEqual(leaderGrants);
    const binding = list.find((o) => o.kind === 'ClusterRoleBinding' && o.metadata.name === `${release}-manager`);
    expect(binding?.subjects).toEqual([{ kind: 'ServiceAccount', name: `${release}-controller`, namespace }]);
  });

  it('with watchNamespace, grants Secrets and Stores only in that namespace: no ClusterRole grants Secrets', async () => {
    const list = objects(await helmTemplate({ name: release, namespace }, { watchNamespace: namespace }));
    const clusterRoles = list.filter((o) => o.kind === 'ClusterRole');
    for (const role of clusterRoles)
      expect(
        grants(role.rules).filter((g) => g.startsWith('/secrets')),
        role.metadata.name,
      ).toEqual([]);
    const operatorClusterGrants = grants(clusterRoles.find((o) => o.metadata.name === `${release}-cluster-scoped`)?.rules);
    expect(operatorClusterGrants.every((g) => /^storeop\.dev\/(storeschemas|databaseservers|storeplans)/.test(g))).toBe(true);
    const manager = list.find((o) => o.kind === 'Role' && o.metadata.name === `${release}-manager`);
    expect(manager?.metadata.namespace).toBe(namespace);
    // Together the namespaced Role and the cluster-scoped ClusterRole grant what the e2e identity has.
    expect([...new Set([...grants(manager?.rules), ...operatorClusterGrants])].sort()).toEqual(e2eGrants);
    const args = parseRunFlags(container(list).args.slice(1));
    expect(args.namespace).toBe(namespace);
  });

  it('aggregates read and manage rights on Stores into the built-in view/edit/admin roles', async () => {
    const list = objects(await helmTemplate({ name: release, namespace }));
    const edit = list.find((o) => o.metadata.name === `${release}-edit`);
    const view = list.find((o) => o.metadata.name === `${release}-view`);
    expect(edit?.metadata.labels).toMatchObject({
      'rbac.authorization.k8s.io/aggregate-to-edit': 'true',
      'rbac.authorization.k8s.io/aggregate-to-admin': 'true',
    });
    expect(grants(edit?.rules)).toContain('storeop.dev/stores:create');
    expect(view?.metadata.labels).toMatchObject({ 'rbac.authorization.k8s.io/aggregate-to-view': 'true' });
    expect(grants(view?.rules).every((g) => /:(get|list|watch)$/.test(g))).toBe(true);
    expect(grants([...(edit?.rules ?? []), ...(view?.rules ?? [])]).some((g) => g.startsWith('/secrets'))).toBe(false);
  });
});

describe('manifests/ (kustomize base and overlays)', () => {
  const kustomize = async (dir: string) => objects((await kubectl(['kustomize', join(repoRoot, 'manifests', dir)])).stdout);

  beforeAll(async () => {
    // The single-namespace overlay watches `shops`: a namespace must exist for a dry run of objects in it.
    await kubectl(['apply', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'shops' } }));
  });

  it.each([
    ['base', undefined, undefined],
    ['overlays/single-namespace', 'shops', undefined],
    ['overlays/api', undefined, ':8090'],
  ])(
    '%s passes `storeop run` flags it accepts, carries CRDs and common labels, and is admitted in a server-side dry run',
    async (dir, watched, api) => {
      const list = await kustomize(dir);
      const [command, ...args] = container(list).args;
      expect(command).toBe('run');
      const flags = parseRunFlags(args);
      expect(flags['leader-elect']).toBe(true);
      expect(flags.namespace).toBe(watched);
      expect(flags['api-bind-address']).toBe(api);
      expect(list.filter((o) => o.kind === 'CustomResourceDefinition')).toHaveLength(5);
      for (const o of list) expect(o.metadata.labels?.['app.kubernetes.io/part-of'], `${o.kind}/${o.metadata.name}`).toBe('storeop');
      const { stdout } = await kubectl(['apply', '--dry-run=server', '-o', 'name', '-k', join(repoRoot, 'manifests', dir)]);
      expect(stdout.trim().split('\n')).toHaveLength(list.length);
      if (watched) {
        const clusterBindings = list.filter((o) => o.kind === 'ClusterRoleBinding');
        expect(clusterBindings.map((o) => o.roleRef?.name)).toEqual(['storeop-cluster-scoped']);
      }
    },
  );
});
