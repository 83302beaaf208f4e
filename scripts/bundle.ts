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
 * The V8 heap settings the image runs the operator with (the Dockerfile's NODE_OPTIONS; the tests and
 * bench:fleet run it the same way). Without a limit V8 sizes its heap from the host's memory and lets the
 * old generation grow to about 4x what is live before a full GC; a 256 MB limit keeps that factor near 1.3
 * (room for about 100,000 cached objects; the Deployment's memory limit is 512Mi), and 2 MB semi-spaces
 * keep the young generation small. Measured in bench/README.md, "Memory"; override with NODE_OPTIONS.
 */
export const OPERATOR_NODE_OPTIONS = '--max-old-space-size=256 --max-semi-space-size=2';

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
