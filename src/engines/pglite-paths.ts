// Where an embedded (PGlite) store may live: in its own folder <home>/stores/<slug>, checked after
// resolving symlinks. Without this bound a spec could put a store's tables inside the master database,
// create folders anywhere, and have deprovisioning remove them.
import { lstatSync, realpathSync } from 'node:fs';
import { basename, dirname, isAbsolute, join, relative, resolve } from 'node:path';
import { StoreopError } from '../errors.js';

/** The folder that holds every embedded store database of a storeop home. */
export function storesRoot(home: string): string {
  return join(resolve(home), 'stores');
}

function exists(path: string): boolean {
  try {
    lstatSync(path); // a dangling symlink exists too: realpath below refuses it instead of walking past it
    return true;
  } catch {
    return false;
  }
}

/** The real path of `path`: its nearest existing ancestor with symlinks resolved, then the part not created yet. */
export function realPathOfNearest(path: string): string {
  let existing = resolve(path);
  const rest: string[] = [];
  while (!exists(existing)) {
    const parent = dirname(existing);
    if (parent === existing) break;
    rest.unshift(basename(existing));
    existing = parent;
  }
  return join(realpathSync(existing), ...rest);
}

function inside(path: string, folder: string): boolean {
  const rel = relative(folder, path);
  return rel === '' || (!rel.startsWith('..') && !isAbsolute(rel));
}

/**
 * Throws InvalidSpec unless `dataDir` is the store's folder `<root>/<slug>` or inside it, after symlinks
 * are resolved: one store can reach neither another store's folder nor anything outside `root`.
 */
export function assertStoreFolder(dataDir: string, root: string, slug: string, field: string): void {
  const storeFolder = join(root, slug);
  let allowed = slug !== '' && slug !== '.' && slug !== '..' && basename(slug) === slug;
  try {
    // The stores root's real path plus the slug as a plain name: a store folder that is itself a symlink
    // resolves elsewhere and is refused.
    allowed &&= inside(realPathOfNearest(dataDir), join(realPathOfNearest(root), slug));
  } catch {
    allowed = false; // a dangling symlink or an unreadable ancestor: nothing to trust
  }
  if (!allowed) {
    throw new StoreopError(
      'InvalidSpec',
      `${field}: an embedded database must live in ${storeFolder} (symlinks resolved); ${dataDir} is outside it`,
      {
        retryable: false,
      },
    );
  }
}

/** The folder of a store's embedded database: `<home>/stores/<slug>`, or `requested` (relative to `<home>/stores`) inside it. */
export function embeddedStorePath(home: string, slug: string, requested: string | undefined, field = 'spec.path'): string {
  const root = storesRoot(home);
  const dataDir = requested ? resolve(root, requested) : join(root, slug);
  assertStoreFolder(dataDir, root, slug, field);
  return dataDir;
}
