// The image runs the operator the way the tests and bench:fleet do: the bundle scripts/bundle.ts builds,
// with the same V8 heap settings (measured in bench/README.md, "Memory").
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { BUNDLE_ENTRY, OPERATOR_NODE_OPTIONS } from '../../scripts/bundle.js';
import { repoRoot } from '../support/paths.js';

const dockerfile = readFileSync(join(repoRoot, 'Dockerfile'), 'utf8');

describe('the operator image', () => {
  it('runs the bundle that npm run build (and the image build) makes', () => {
    expect(dockerfile).toMatch(new RegExp(`^ENTRYPOINT \\["[^"]*node", "/app/dist/bundle/${BUNDLE_ENTRY.replace('.', '\\.')}"\\]$`, 'm'));
    const pkg = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
    expect(pkg.scripts.prepare).toContain('scripts/bundle.ts');
    expect(pkg.scripts.build).toContain('scripts/bundle.ts');
  });

  it('sets the heap settings the tests run the operator with', () => {
    expect(dockerfile).toContain(`ENV NODE_OPTIONS="${OPERATOR_NODE_OPTIONS}"`);
  });
});
