// Cluster-wide test prerequisites, installed once per run from the global setup (no vitest imports here).
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { repoRoot } from './paths.js';

export function kubectlWith(kubeconfigPath: string, args: string[], input?: string): Promise<{ stdout: string; stderr: string }> {
  const child = execFile('kubectl', ['--kubeconfig', kubeconfigPath, ...args], { encoding: 'utf8', timeout: 120_000 });
  if (input !== undefined) {
    child.stdin?.end(input);
  }
  return new Promise((resolveRun, reject) => {
    let stdout = '';
    let stderr = '';
    child.stdout?.on('data', (d: string) => {
      stdout += d;
    });
    child.stderr?.on('data', (d: string) => {
      stderr += d;
    });
    child.on('close', (code) =>
      code === 0
        ? resolveRun({ stdout, stderr })
        : reject(Object.assign(new Error(`kubectl ${args.join(' ')} failed: ${stderr}`), { stdout, stderr, code })),
    );
  });
}

/** CRDs, the operator's RBAC from manifests/, and bindings of the test users to it: once per run, from the global setup. */
export async function installOperatorPrerequisites(kubeconfigPath: string): Promise<void> {
  const ctl = (args: string[], input?: string) => kubectlWith(kubeconfigPath, args, input);
  await ctl(['apply', '-f', join(repoRoot, 'crds')]);
  await ctl([
    'wait',
    '--for=condition=Established',
    '--timeout=60s',
    'crd/stores.storeop.dev',
    'crd/storedatabases.storeop.dev',
    'crd/storeschemas.storeop.dev',
  ]);
  await ctl(['apply', '-f', join(repoRoot, 'manifests/base/namespace.yaml')]);
  await ctl(['apply', '-f', join(repoRoot, 'manifests/base/rbac.yaml')]);
  const bindings = ['storeop-operator', 'storeop-operator-2'].flatMap((user) => [
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRoleBinding',
      metadata: { name: `test-${user}` },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'storeop-manager' },
      subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: user }],
    },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'RoleBinding',
      metadata: { name: `test-${user}-leader`, namespace: 'storeop-system' },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'storeop-leader-election' },
      subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: user }],
    },
  ]);
  await ctl(['apply', '-f', '-'], bindings.map((b) => JSON.stringify(b)).join('\n'));
}
