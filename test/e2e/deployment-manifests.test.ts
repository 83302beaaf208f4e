// The ways to deploy the operator (manifests/base with kustomize, the Helm chart) must stay in step with
// each other and with the operator's flags, and yield objects that a real kube-apiserver accepts
// (server-side dry run: validated and admitted, nothing stored).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CoreV1Api } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { parseRunFlags } from '../../src/cli/commands/run.js';
import { renderChart } from '../support/helm-template.js';
import { adminKubeConfig, createTestNamespace } from '../support/kube.js';
import { kubectl } from '../support/operator.js';
import { repoRoot } from '../support/paths.js';

interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string };
  rules?: Array<{ apiGroups: string[]; resources: string[]; verbs: string[] }>;
  roleRef?: { kind: string; name: string };
  spec?: { template: { spec: { containers: { args: string[]; env: { name: string }[] }[] } } };
}

const chartDir = join(repoRoot, 'charts/storeop');

function objects(yamlText: string): K8sObject[] {
  return parseAllDocuments(yamlText)
    .map((doc) => doc.toJS() as K8sObject | null)
    .filter((o): o is K8sObject => o !== null);
}

function only(list: K8sObject[], kind: string): K8sObject {
  const found = list.filter((o) => o.kind === kind);
  expect(found, `exactly one ${kind}`).toHaveLength(1);
  return found[0] as K8sObject;
}

const byResources = (a: { resources: string[] }, b: { resources: string[] }) => a.resources.join().localeCompare(b.resources.join());

describe('Helm chart charts/storeop', () => {
  const kc = adminKubeConfig();
  let namespace: string;

  beforeAll(async () => {
    namespace = await createTestNamespace(kc, 'helm');
  });
  afterAll(async () => {
    await kc.makeApiClient(CoreV1Api).deleteNamespace({ name: namespace });
  });

  it('grants exactly the RBAC of manifests/base/rbac.yaml (the rules the e2e tests run the operator under)', () => {
    const chart = objects(renderChart(chartDir, { name: 'storeop', namespace }));
    const base = objects(readFileSync(join(repoRoot, 'manifests/base/rbac.yaml'), 'utf8'));
    expect(only(chart, 'ClusterRole').rules).toEqual(only(base, 'ClusterRole').rules);
    expect(only(chart, 'Role').rules).toEqual(only(base, 'Role').rules);
  });

  it.each([
    ['default values', {}],
    ['API enabled, one watched namespace', { api: { enabled: true }, watchNamespace: 'shops' }],
  ])('passes the operator only flags that `storeop run` accepts (%s)', (_, overrides) => {
    const deployment = only(objects(renderChart(chartDir, { name: 'storeop', namespace }, overrides)), 'Deployment');
    const [command, ...args] = deployment.spec?.template.spec.containers[0]?.args ?? [];
    expect(command).toBe('run');
    const flags = parseRunFlags(args);
    expect(flags['leader-elect']).toBe(true);
    expect(flags['leader-election-id']).toBe('storeop-leader');
    expect(flags['metrics-bind-address']).toBe(':8080');
    if ('watchNamespace' in overrides) {
      expect(flags.namespace).toBe('shops');
      expect(flags['api-bind-address']).toBe(':8090');
    } else {
      expect(flags.namespace).toBeUndefined();
      expect(flags['api-bind-address']).toBeUndefined();
    }
  });

  it.each([
    ['default values', {}],
    ['API enabled', { api: { enabled: true } }],
  ])('renders objects that kube-apiserver admits in a server-side dry run (%s)', async (_, overrides) => {
    const rendered = renderChart(chartDir, { name: `storeop-${namespace}`, namespace }, overrides);
    const { stdout } = await kubectl(['apply', '--dry-run=server', '-o', 'name', '-f', '-'], rendered);
    const applied = stdout.trim().split('\n').sort();
    const expected = ['serviceaccount', 'clusterrole', 'clusterrolebinding', 'role', 'rolebinding', 'deployment', 'service'];
    expect(applied.map((line) => line.split('/')[0]?.split('.')[0])).toEqual(expect.arrayContaining(expected));
    expect(applied).toHaveLength(objects(rendered).length);
  });

  it('with watchNamespace, grants the operator its rights in that namespace only: a Role there; cluster-wide only the cluster-scoped DatabaseServers, StoreSchemas and StorePlans, nothing on Secrets', async () => {
    const release = `storeop-${namespace}`;
    const rendered = renderChart(chartDir, { name: release, namespace }, { watchNamespace: namespace });
    const list = objects(rendered);
    const clusterWide = list.filter((o) => o.kind === 'ClusterRole' || o.kind === 'ClusterRoleBinding');
    expect(clusterWide.map((o) => `${o.kind}/${o.metadata.name}`).sort()).toEqual([
      `ClusterRole/${release}-cluster-scoped`,
      `ClusterRoleBinding/${release}-cluster-scoped`,
    ]);
    const clusterRules = only(list, 'ClusterRole').rules ?? [];
    expect(clusterRules.flatMap((r) => r.resources)).toEqual([
      'databaseservers',
      'databaseservers/status',
      'storeschemas',
      'storeschemas/status',
      'storeplans',
    ]);
    const manager = list.find((o) => o.kind === 'Role' && o.metadata.name === `${release}-manager`);
    expect(manager?.metadata.namespace).toBe(namespace);
    // The same rules the cluster-wide install grants: the namespaced ones confined to the namespace.
    const base = objects(readFileSync(join(repoRoot, 'manifests/base/rbac.yaml'), 'utf8'));
    const baseRules = only(base, 'ClusterRole').rules ?? [];
    const isClusterScoped = (r: { resources: string[] }) =>
      r.resources.every((name) => ['storeschemas', 'databaseservers', 'storeplans'].some((kind) => name.startsWith(kind)));
    expect(manager?.rules).toEqual(baseRules.filter((r) => !isClusterScoped(r)));
    expect([...clusterRules].sort(byResources)).toEqual(baseRules.filter(isClusterScoped).sort(byResources));
    expect(manager?.rules?.some((r) => r.resources.includes('secrets'))).toBe(true);
    const binding = list.find((o) => o.kind === 'RoleBinding' && o.metadata.name === `${release}-manager`);
    expect(binding).toMatchObject({ metadata: { namespace }, roleRef: { kind: 'Role', name: `${release}-manager` } });

    const { stdout } = await kubectl(['apply', '--dry-run=server', '-o', 'name', '-f', '-'], rendered);
    const kinds = stdout
      .trim()
      .split('\n')
      .map((line) => line.split('/')[0]?.split('.')[0]);
    expect(kinds.filter((k) => k === 'clusterrole' || k === 'clusterrolebinding').sort()).toEqual(['clusterrole', 'clusterrolebinding']);
    expect(kinds).toEqual(expect.arrayContaining(['serviceaccount', 'role', 'rolebinding', 'deployment']));
    expect(kinds).toHaveLength(list.length);
  });
});

describe('manifests/base (kubectl apply -k, as the README says)', () => {
  it('passes the operator only flags that `storeop run` accepts, with leader election on', async () => {
    const { stdout } = await kubectl(['kustomize', join(repoRoot, 'manifests/base')]);
    const deployment = only(objects(stdout), 'Deployment');
    const [command, ...args] = deployment.spec?.template.spec.containers[0]?.args ?? [];
    expect(command).toBe('run');
    expect(parseRunFlags(args)['leader-elect']).toBe(true);
  });

  it('is admitted by kube-apiserver in a server-side dry run', async () => {
    const { stdout } = await kubectl(['apply', '--dry-run=server', '-o', 'name', '-k', join(repoRoot, 'manifests/base')]);
    expect(stdout.trim().split('\n').sort()).toEqual(
      expect.arrayContaining([
        'namespace/storeop-system',
        'deployment.apps/storeop-controller',
        'clusterrole.rbac.authorization.k8s.io/storeop-manager',
      ]),
    );
  });
});
