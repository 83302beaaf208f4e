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
    expect(JSON.stringify(version.schema)).not.toContain('"additionalProperties":false');
  });
});
