// The StoreSchema CRD on a real kube-apiserver: cluster-scoped, its short name and category, the example
// manifest and the generated storeop-default admitted with every value intact (column defaults of any
// scalar kind, a failure budget as a count or a percentage, seed rows), printer columns from status, and
// the operator's RBAC on storeschemas and their status.
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { storeSchemaSpec } from '../../src/api/store-schema.js';
import { kubectlWith } from '../support/cluster-setup.js';
import { kubectl, userKubeconfig } from '../support/operator.js';
import { repoRoot } from '../support/paths.js';

interface SchemaObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string };
  spec: Record<string, unknown>;
}

const readManifest = (path: string) => parse(readFileSync(join(repoRoot, path), 'utf8')) as SchemaObject;
const suffix = randomBytes(3).toString('hex');
const created: string[] = [];

async function applyRenamed(path: string): Promise<{ sent: SchemaObject; stored: SchemaObject }> {
  const sent = readManifest(path);
  sent.metadata.name = `${sent.metadata.name}-${suffix}`;
  await kubectl(['apply', '-f', '-'], stringify(sent));
  created.push(sent.metadata.name);
  const { stdout } = await kubectl(['get', 'storeschema', sent.metadata.name, '-o', 'json']);
  return { sent, stored: JSON.parse(stdout) as SchemaObject };
}

describe('StoreSchema CRD', () => {
  afterAll(async () => {
    for (const name of created) await kubectl(['delete', 'storeschema', name, '--ignore-not-found']);
  });

  it('admits the example manifest unchanged: cluster-scoped, scalar defaults, count and percentage budgets, seed rows', async () => {
    const { sent, stored } = await applyRenamed('manifests/examples/storeschema.yaml');
    expect(stored.metadata.namespace).toBeUndefined();
    // Nothing pruned: what zod parses from the stored object is what it parses from the file.
    expect(storeSchemaSpec.parse(stored.spec)).toEqual(storeSchemaSpec.parse(sent.spec));
    const products = (stored.spec.tables as Record<string, { columns: Record<string, { default?: unknown }> }>).products;
    expect(products?.columns.gift_wrap?.default).toBe(false);
    expect(products?.columns.price?.default).toBe('0.00');
    expect(products?.columns.created_at?.default).toBe('now');
    const rollout = stored.spec.rollout as { failureBudget: unknown; stages: Array<{ failureBudget?: unknown; pause: boolean }> };
    expect(rollout.failureBudget).toBe('5%');
    expect(rollout.stages.map((s) => [s.failureBudget, s.pause])).toEqual([
      [0, false],
      [undefined, true],
    ]);
  });

  it('admits the generated storeop-default schema with every table', async () => {
    const { sent, stored } = await applyRenamed('manifests/base/storeop-default-schema.yaml');
    expect(Object.keys(stored.spec.tables as object).sort()).toEqual(Object.keys(sent.spec.tables as object).sort());
    expect(storeSchemaSpec.parse(stored.spec)).toEqual(storeSchemaSpec.parse(sent.spec));
  });

  it('is listed by its short name and the storeop category, with version, phase and updated/total columns from status', async () => {
    const name = created[0] as string;
    await kubectl([
      'patch',
      'storeschema',
      name,
      '--subresource=status',
      '--type=merge',
      '-p',
      JSON.stringify({ status: { phase: 'Progressing', updated: 3, total: 10 } }),
    ]);
    const { stdout } = await kubectl(['get', 'stsc', name]);
    const [header, row] = stdout.trim().split('\n');
    expect(header?.split(/\s+/)).toEqual(['NAME', 'VERSION', 'PHASE', 'UPDATED', 'TOTAL', 'AGE']);
    expect(row?.split(/\s+/).slice(0, 5)).toEqual([name, '2.0.0', 'Progressing', '3', '10']);
    const all = await kubectl(['get', 'storeop', '-o', 'name']);
    expect(all.stdout).toContain(`storeschema.storeop.dev/${name}`);
  });

  it('lets the operator (bound to manifests/base/rbac.yaml) read, write and update the status of storeschemas', async () => {
    const config = userKubeconfig('storeop-operator');
    for (const verb of ['get', 'list', 'watch', 'create', 'update', 'patch']) {
      const { stdout } = await kubectlWith(config, ['auth', 'can-i', verb, 'storeschemas.storeop.dev']);
      expect(stdout.trim(), verb).toBe('yes');
    }
    const status = await kubectlWith(config, ['auth', 'can-i', 'patch', 'storeschemas.storeop.dev', '--subresource=status']);
    expect(status.stdout.trim()).toBe('yes');
    const name = created[0] as string;
    await kubectlWith(config, [
      'patch',
      'storeschema',
      name,
      '--subresource=status',
      '--type=merge',
      '-p',
      JSON.stringify({ status: { phase: 'Complete', updated: 10, total: 10 } }),
    ]);
    const { stdout } = await kubectl(['get', 'storeschema', name, '-o', 'jsonpath={.status.phase}']);
    expect(stdout).toBe('Complete');
  });
});
