// Bundles the storeop CLI (the operator's entry point) with esbuild, minified, into dist/bundle/.
//
// Why: V8 keeps the source text of every loaded module, and @kubernetes/client-node's `KubeConfig` loads
// its whole generated client (about 16 MB of source). A tree-shaken, minified bundle keeps about 4 MB:
// the idle operator's JS heap drops by about half (bench/README.md, "Memory"). Commands stay in chunks
// of their own (code splitting), so the operator still never loads what `apply` or `api` need.
//
//   node --import tsx scripts/bundle.ts [OUTDIR]      (default dist/bundle; run by `npm run build`)
import { resolve } from 'node:path';
import { build } from 'esbuild';

const root = resolve(import.meta.dirname, '..');

/** The CLI's file in a bundle folder: `node <outdir>/storeop.mjs run ...`. */
export const BUNDLE_ENTRY = 'storeop.mjs';

/**
 * Left as ordinary imports from node_modules: PGlite finds its WebAssembly and data files next to its own
 * module, pg-native is an optional native add-on, and supabase-js is only loaded for a Supabase store.
 */
const EXTERNAL = ['@electric-sql/pglite', '@electric-sql/pglite/*', 'pg-native', '@supabase/supabase-js'];

// CommonJS dependencies (pg, pino, prom-client ...) call require() for Node's own modules.
const REQUIRE_SHIM =
  "import { createRequire as __storeopCreateRequire } from 'node:module'; const require = __storeopCreateRequire(import.meta.url);";

/**
 * Writes the bundle into `outdir`. The folder must sit two levels below a folder with storeop's package.json
 * (dist/bundle/ in a checkout or the image: `storeop version` reads ../../package.json) and inside a tree
 * whose node_modules holds the external packages.
 */
export async function bundleCli(outdir: string): Promise<void> {
  await build({
    entryPoints: { storeop: resolve(root, 'src/cli/main.ts') },
    outdir,
    outExtension: { '.js': '.mjs' },
    bundle: true,
    splitting: true,
    format: 'esm',
    platform: 'node',
    target: 'node22',
    minify: true,
    // Error messages and logs name classes (SecretConflictError, StoreopError ...): keep the names.
    keepNames: true,
    sourcemap: 'linked',
    external: EXTERNAL,
    banner: { js: REQUIRE_SHIM },
    logLevel: 'warning',
  });
}

if (process.argv[1] && resolve(process.argv[1]) === resolve(import.meta.filename)) {
  await bundleCli(resolve(process.argv[2] ?? resolve(root, 'dist/bundle')));
}
