// crds/ is generated from the zod schemas in src/api: this fails when someone changes one without the other.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { CRD_DIRS, crdFiles } from '../../src/api/generate.js';
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
});
