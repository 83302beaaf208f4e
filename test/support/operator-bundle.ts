// The operator the tests run is the one the image runs: the minified esbuild bundle of src/cli/main.ts
// (scripts/bundle.ts), built from src/ once per test run into a folder of its own, so that a stale dist/
// cannot make a test lie and concurrent runs do not overwrite each other's files.
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { BUNDLE_ENTRY, bundleCli } from '../../scripts/bundle.js';
import { repoRoot } from './paths.js';

export interface OperatorBundle {
  /** The file to run with node: `node ENTRY run ...`. */
  entry: string;
  remove(): void;
}

export async function buildOperatorBundle(): Promise<OperatorBundle> {
  // Two levels below the repository like dist/bundle, so node_modules and package.json are found the same way.
  const outdir = join(repoRoot, 'dist', `test-bundle-${process.pid}`);
  rmSync(outdir, { recursive: true, force: true });
  await bundleCli(outdir);
  return { entry: join(outdir, BUNDLE_ENTRY), remove: () => rmSync(outdir, { recursive: true, force: true }) };
}
