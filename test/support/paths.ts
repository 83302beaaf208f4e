// Where the tests find the repository and how they run the storeop CLI: from src/ through tsx on the
// Node 22 that `npm ci` installs, so that a stale dist/ cannot make a test lie. No vitest imports: the
// global setup uses this too.
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

export const repoRoot = resolve(import.meta.dirname, '../..');
export const nodeBinary = join(repoRoot, 'node_modules/.bin/node');
export const cliEntry = join(repoRoot, 'src/cli/main.ts');
// tsx by absolute URL: `--import tsx` would be resolved from the child's working directory.
const tsxLoader = pathToFileURL(join(repoRoot, 'node_modules/tsx/dist/loader.mjs')).href;

/** The arguments for `nodeBinary` that run `storeop ...args`. */
export function storeopArgs(args: string[]): string[] {
  return ['--import', tsxLoader, cliEntry, ...args];
}
