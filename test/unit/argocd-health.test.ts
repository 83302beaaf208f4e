// The Argo CD health checks of manifests/argocd/ run on lua5.1 against status objects captured from the
// e2e run of the Helm-deployed operator (test/e2e/operator-helm.test.ts, STOREOP_CAPTURE_FIXTURES=1), and
// the argocd-cm snippet carries exactly the .lua files.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { argocdSnippet } from '../../scripts/argocd-snippet.js';
import { argocdHealth } from '../support/argocd-health.js';
import { repoRoot } from '../support/paths.js';

const fixtures = join(repoRoot, 'test/fixtures/argocd');

const EXPECTED: Record<string, string> = {
  'store-healthy.json': 'Healthy',
  'store-healthy-again.json': 'Healthy',
  'store-progressing.json': 'Progressing',
  'store-suspended.json': 'Suspended',
  'store-stalled.json': 'Degraded',
  'storedatabase-healthy.json': 'Healthy',
  'storedatabase-suspended.json': 'Suspended',
  'storedatabase-stalled.json': 'Degraded',
  'databaseserver-healthy.json': 'Healthy',
  'databaseserver-unreachable.json': 'Degraded',
};

const load = (file: string) =>
  JSON.parse(readFileSync(join(fixtures, file), 'utf8')) as { kind: string; metadata: { generation?: number }; status?: unknown };

describe('Argo CD health checks (manifests/argocd/*.lua on lua5.1)', () => {
  it('every captured object has an expected health', () => {
    expect(readdirSync(fixtures).sort()).toEqual(Object.keys(EXPECTED).sort());
  });

  it.each(Object.entries(EXPECTED))('%s is %s', async (file, health) => {
    const result = await argocdHealth(load(file));
    expect(result.status).toBe(health);
    expect(result.message).not.toBe('');
  });

  it('a stalled Store says why (the reason and message of Stalled)', async () => {
    const stalled = load('store-stalled.json');
    expect((await argocdHealth(stalled)).message).toMatch(/^InvalidSpec: spec.slug is immutable/);
  });

  it('a spec change the operator has not observed yet is Progressing, whatever the old status says', async () => {
    for (const file of ['store-healthy.json', 'store-stalled.json', 'databaseserver-healthy.json']) {
      const object = load(file);
      const next = { ...object, metadata: { ...object.metadata, generation: (object.metadata.generation ?? 1) + 1 } };
      expect((await argocdHealth(next)).status, file).toBe('Progressing');
    }
  });

  it('an object without status yet is Progressing', async () => {
    for (const kind of ['Store', 'StoreDatabase', 'DatabaseServer', 'StoreSchema'])
      expect((await argocdHealth({ kind, metadata: { name: 'x', generation: 1 } } as never)).status, kind).toBe('Progressing');
  });

  it('StoreSchema: Complete is Healthy, Paused is Suspended, Failed is Degraded', async () => {
    const schema = (phase: string) => ({
      kind: 'StoreSchema',
      metadata: { name: 's', generation: 2 },
      status: { phase, observedGeneration: 2, message: phase },
    });
    expect((await argocdHealth(schema('Complete'))).status).toBe('Healthy');
    expect((await argocdHealth(schema('Progressing'))).status).toBe('Progressing');
    expect((await argocdHealth(schema('Paused'))).status).toBe('Suspended');
    expect((await argocdHealth(schema('Failed'))).status).toBe('Degraded');
  });

  it('manifests/argocd/argocd-cm.yaml carries the .lua files (run `npm run generate` after changing one)', () => {
    expect(readFileSync(join(repoRoot, 'manifests/argocd/argocd-cm.yaml'), 'utf8')).toBe(argocdSnippet());
  });
});
