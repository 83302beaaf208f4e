// crds/ is generated from the zod schemas in src/api: this fails when someone changes one without the other.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { crdReference } from '../../src/api/crd-docs.js';
import { CRD_DIRS, CRD_REFERENCE, crdFiles } from '../../src/api/generate.js';
import { repoRoot } from '../support/paths.js';

describe('generated CRDs', () => {
  it.each(CRD_DIRS)('match %s/ (run `npm run generate` after changing src/api)', (folder) => {
    const dir = join(repoRoot, folder);
    const expected = crdFiles();
    const present = readdirSync(dir).filter((f) => f.endsWith('.yaml'));
    expect(present.sort()).toEqual(Object.keys(expected).sort());
    for (const [file, content] of Object.entries(expected)) {
      expect(readFileSync(join(dir, file), 'utf8'), `${folder}/${file} is out of date`).toBe(content);
    }
  });

  it('match the field reference in docs/crds.md (run `npm run generate` after changing src/api)', () => {
    const reference = readFileSync(join(repoRoot, CRD_REFERENCE), 'utf8');
    expect(reference, `${CRD_REFERENCE} is out of date`).toBe(crdReference());
    for (const kind of ['Store', 'StoreDatabase', 'DatabaseServer', 'StoreSchema']) expect(reference).toContain(`## ${kind}\n`);
    expect(reference).toContain('| `database.deletionPolicy` |');
  });

  it('carry the status subresource, printer columns, short names and the storeop category', () => {
    const store = parse(crdFiles()['stores.storeop.dev.yaml'] as string);
    const version = store.spec.versions[0];
    expect(version.subresources).toEqual({ status: {} });
    expect(version.additionalPrinterColumns.map((c: { name: string }) => c.name)).toEqual(
      expect.arrayContaining(['Phase', 'Ready', 'Age']),
    );
    expect(store.spec.names.categories).toEqual(['storeop']);
    const spec = version.schema.openAPIV3Schema.properties.spec;
    expect(spec.required).toContain('displayName');
    expect(spec.properties.plan.enum).toEqual(['free', 'starter', 'professional', 'enterprise']);
    expect(spec.properties.plan.default).toBe('free');
    // Structural: no additionalProperties: false; a map keeps its value schema, so the API server keeps its keys.
    expect(JSON.stringify(version.schema)).not.toContain('"additionalProperties":false');
    const selector = spec.properties.database.properties.serverSelector;
    expect(selector.properties.matchLabels).toEqual({ type: 'object', additionalProperties: { type: 'string', maxLength: 63 } });
  });

  it('make DatabaseServer cluster-scoped, short name dbs, with engine, region, stores/capacity and phase columns', () => {
    const server = parse(crdFiles()['databaseservers.storeop.dev.yaml'] as string);
    expect(server.spec.scope).toBe('Cluster');
    expect(server.spec.names.shortNames).toEqual(['dbs']);
    const version = server.spec.versions[0];
    expect(version.subresources).toEqual({ status: {} });
    expect(version.additionalPrinterColumns.map((c: { jsonPath: string }) => c.jsonPath)).toEqual(
      expect.arrayContaining([
        '.spec.engine',
        '.metadata.labels.storeop\\.dev/region',
        '.status.storeCount',
        '.spec.capacity.maxStores',
        '.status.phase',
      ]),
    );
    const stores = parse(crdFiles()['stores.storeop.dev.yaml'] as string);
    expect(stores.spec.scope).toBe('Namespaced');
  });

  it('make StoreSchema cluster-scoped (short name stsc) with version, phase, updated/total columns and structural unions', () => {
    const crd = parse(crdFiles()['storeschemas.storeop.dev.yaml'] as string);
    expect(crd.spec.scope).toBe('Cluster');
    expect(crd.spec.names).toMatchObject({ kind: 'StoreSchema', shortNames: ['stsc'], categories: ['storeop'] });
    const version = crd.spec.versions[0];
    expect(version.subresources).toEqual({ status: {} });
    expect(version.additionalPrinterColumns.map((c: { name: string; jsonPath: string }) => `${c.name}=${c.jsonPath}`)).toEqual([
      'Version=.spec.version',
      'Phase=.status.phase',
      'Updated=.status.updated',
      'Total=.status.total',
      'Age=.metadata.creationTimestamp',
    ]);
    const spec = version.schema.openAPIV3Schema.properties.spec;
    // A map keeps its value schema (or the API server would prune every table); a scalar union has no anyOf of types.
    const column = spec.properties.tables.additionalProperties.properties.columns.additionalProperties;
    expect(column.properties.kind.enum).toContain('decimal');
    expect(column.properties.default).toMatchObject({ 'x-kubernetes-preserve-unknown-fields': true });
    expect(column.properties.default.anyOf).toBeUndefined();
    expect(spec.properties.rollout.properties.failureBudget).toMatchObject({ 'x-kubernetes-int-or-string': true, default: 0 });
    expect(JSON.stringify(version.schema)).not.toContain('"additionalProperties":false');
  });
});
