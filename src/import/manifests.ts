// --write-manifests DIR: per store a Store in connect mode (<slug>.store.yaml) and the Secret with its
// credentials (<slug>.secret.yaml, stringData, mode 0600), ready for Git once the Secrets are sealed:
// DIR/README.md says how, and DIR/.gitignore keeps the plain Secret files out of a commit meanwhile.
// Rewriting the same stores writes the same bytes.
import { chmodSync, mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import type { ImportedStore } from './records.js';

export const SECRET_SUFFIX = '.secret.yaml';
export const STORE_SUFFIX = '.store.yaml';

const README = `# Stores imported by storeop import

Each store has two files: \`<slug>${STORE_SUFFIX}\` (a Store in connect mode) and \`<slug>${SECRET_SUFFIX}\` (a Secret with
the database credentials from the legacy database, in plain text, file mode 0600).

Seal the Secrets before committing: replace each \`*${SECRET_SUFFIX}\` by its sealed form (for example
\`kubeseal --format yaml < shop${SECRET_SUFFIX} > shop.sealedsecret.yaml\`, or encrypt it with SOPS) and delete the
plain file; \`.gitignore\` here keeps the plain files out of Git until then.

Apply them to a cluster with \`kubectl apply -n NAMESPACE -f .\`, or without one with \`storeop apply -f .\`.
`;

/** Writes a file in one step (write then rename), with `mode` from its creation: a Secret is never readable by others. */
function writeAtomically(path: string, text: string, mode: number): void {
  const temporary = `${path}.${process.pid}.tmp`;
  writeFileSync(temporary, text, { mode });
  chmodSync(temporary, mode); // the umask may have taken bits away, and an existing file keeps its own
  renameSync(temporary, path);
}

const header = (store: ImportedStore) => `# storeop import: legacy store ${store.legacyId} (${store.engine})\n`;

export function writeManifests(dir: string, stores: readonly ImportedStore[]): { files: string[] } {
  mkdirSync(dir, { recursive: true });
  const files: string[] = [];
  for (const store of stores) {
    const storeFile = join(dir, `${store.slug}${STORE_SUFFIX}`);
    const secretFile = join(dir, `${store.slug}${SECRET_SUFFIX}`);
    writeAtomically(storeFile, header(store) + stringify(store.store), 0o644);
    writeAtomically(secretFile, header(store) + stringify(store.secret), 0o600);
    files.push(storeFile, secretFile);
  }
  writeAtomically(join(dir, 'README.md'), README, 0o644);
  writeAtomically(join(dir, '.gitignore'), `*${SECRET_SUFFIX}\n`, 0o644);
  return { files };
}
