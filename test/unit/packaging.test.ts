// What a release ships besides the code: an image a security reviewer accepts (checked statically: no
// Docker here), scripts that pass shellcheck, a LICENSE that matches package.json, a CHANGELOG, the
// Node.js guard and the kubectl-style store list of the CLI.
import { execFile } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { nodeVersionProblem } from '../../src/cli/node-version.js';
import { formatStores, storeList } from '../../src/cli/store-list.js';
import type { StoreRow } from '../../src/master/stores.js';
import { repoRoot } from '../support/paths.js';

const run = promisify(execFile);
const read = (file: string) => readFileSync(join(repoRoot, file), 'utf8');

describe('Dockerfile', () => {
  const dockerfile = read('Dockerfile');
  const stages = dockerfile.split(/^FROM /m).slice(1);
  const runtime = stages.at(-1) ?? '';

  it('is multi-stage, with a runtime stage that has neither npm nor a shell package manager', () => {
    expect(stages.length).toBeGreaterThanOrEqual(2);
    expect(runtime).toMatch(/^gcr\.io\/distroless\/nodejs22/);
    expect(runtime).not.toMatch(/\bnpm\b|\bapt-get\b|^RUN /m);
  });

  it('runs as a numeric non-root user with NODE_ENV=production, the bundle and the operator heap settings', async () => {
    const user = /^USER (\d+)(?::(\d+))?$/m.exec(runtime);
    expect(Number(user?.[1])).toBeGreaterThan(0);
    // The chart's pod security context runs the same uid.
    expect(read('charts/storeop/values.yaml')).toContain(`runAsUser: ${user?.[1]}`);
    expect(runtime).toContain('ENV NODE_ENV=production');
    const { OPERATOR_NODE_OPTIONS, BUNDLE_ENTRY } = await import('../../scripts/bundle.js');
    expect(runtime).toContain(`ENV NODE_OPTIONS="${OPERATOR_NODE_OPTIONS}"`);
    expect(runtime).toContain(`/app/dist/bundle/${BUNDLE_ENTRY}`);
  });

  it('carries the OCI labels', () => {
    for (const label of ['title', 'description', 'version', 'revision', 'created', 'licenses'])
      expect(runtime).toContain(`org.opencontainers.image.${label}=`);
  });
});

describe('release files', () => {
  it('LICENSE is the license package.json names, and the image says the same', () => {
    const pkg = JSON.parse(read('package.json')) as { license: string };
    expect(pkg.license).toBe('Apache-2.0');
    expect(read('LICENSE')).toMatch(/Apache License\s+Version 2\.0, January 2004/);
    expect(read('Dockerfile')).toContain(`org.opencontainers.image.licenses="${pkg.license}"`);
  });

  it('CHANGELOG has an entry for the current version or Unreleased', () => {
    const changelog = read('CHANGELOG.md');
    expect(changelog).toContain('## [Unreleased]');
    expect(changelog).toContain(`## [${(JSON.parse(read('package.json')) as { version: string }).version}]`);
  });

  it('every shell script passes shellcheck', async () => {
    const scripts = readdirSync(join(repoRoot, 'scripts'))
      .filter((f) => !f.includes('.'))
      .map((f) => join(repoRoot, 'scripts', f));
    expect(scripts.map((s) => s.split('/').at(-1))).toEqual(expect.arrayContaining(['kind-e2e', 'helm-assets', 'test-env']));
    const { stdout } = await run('shellcheck', ['--format=gcc', ...scripts, join(repoRoot, '.ci/run')]).catch((e: { stdout: string }) => e);
    expect(stdout).toBe('');
  });
});

describe('CLI', () => {
  it('refuses a Node.js older than 22 with one line, and accepts 22 and later', () => {
    expect(nodeVersionProblem('v20.20.2')).toMatch(/^storeop needs Node.js 22 or later \(this is Node.js v20.20.2\)/);
    expect(nodeVersionProblem('v18.0.0')).toBeDefined();
    expect(nodeVersionProblem('v22.0.0')).toBeUndefined();
    expect(nodeVersionProblem('v24.1.0')).toBeUndefined();
  });

  const row = (slug: string): StoreRow =>
    ({
      id: `id-${slug}`,
      slug,
      name: `Shop ${slug}`,
      subscription_plan: 'starter',
      subscription_status: 'active',
      database_type: 'postgresql',
      database_host: '127.0.0.1',
      database_name: `store_${slug}`,
      database_status: 'active',
      database_server: null,
      deletion_policy: 'Retain',
      schema_name: 'storeop-default',
      schema_version: '1',
      source: 'apply',
      created_at: new Date('2026-01-01T00:00:00Z'),
      updated_at: new Date('2026-01-02T00:00:00Z'),
    }) as unknown as StoreRow;

  it('lists stores as a kubectl List of Store objects with camelCase fields, by name, and wide', () => {
    const stores = [
      { row: row('a-shop'), tables: '13/13' },
      { row: row('b-shop'), tables: undefined },
    ];
    const list = storeList(stores) as { apiVersion: string; kind: string; items: Record<string, unknown>[] };
    expect(list).toMatchObject({ apiVersion: 'v1', kind: 'List' });
    expect(list.items[0]).toEqual({
      apiVersion: 'storeop.dev/v1alpha1',
      kind: 'Store',
      metadata: { name: 'a-shop', uid: 'id-a-shop', creationTimestamp: '2026-01-01T00:00:00.000Z' },
      spec: {
        displayName: 'Shop a-shop',
        plan: 'starter',
        database: { engine: 'postgresql', databaseName: 'store_a-shop', host: '127.0.0.1', deletionPolicy: 'Retain' },
      },
      status: {
        phase: 'Ready',
        storeId: 'id-a-shop',
        tables: '13/13',
        schema: { name: 'storeop-default', version: '1' },
        subscriptionStatus: 'active',
        source: 'apply',
        updatedAt: '2026-01-02T00:00:00.000Z',
      },
    });
    const keys = JSON.stringify(list).match(/"[a-z]+_[a-z_]+":/g);
    expect(keys, 'no snake_case keys').toBeNull();
    expect(formatStores(stores, 'name')).toBe('store/a-shop\nstore/b-shop\n');
    const wide = formatStores(stores, 'wide').split('\n');
    expect(wide[0]).toMatch(/^STORE +NAME +PLAN +ENGINE +DATABASE +PHASE +TABLES +SERVER +SCHEMA +SOURCE +ID$/);
    expect(wide[1]).toMatch(/storeop-default@1 +apply +id-a-shop$/);
    expect(formatStores([], 'table')).toBe('no stores\n');
    expect(JSON.parse(formatStores([], 'json'))).toMatchObject({ kind: 'List', items: [] });
  });
});
