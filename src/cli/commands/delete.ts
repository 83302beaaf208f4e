// storeop delete -f FILE|DIR|- / storeop delete store SLUG: deletes stores declared by `storeop apply`,
// without a cluster, by their deletionPolicy (Retain: the store is detached and its database kept; Delete:
// the database and role are dropped), with the same checks as the operator.
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { type LocatedServer, type ManifestSet, parseManifests, readSources, type StoreUnit, storeUnits } from '../../apply/manifests.js';
import { isStoreopError } from '../../errors.js';
import { openMaster, storeopHome } from '../../master/database.js';
import { loadKeyring } from '../../master/keyring.js';
import { findStore } from '../../master/stores.js';
import { slugSchema } from '../../naming.js';
import { knownTarget } from '../../stores/intent.js';
import { placedOnServer } from '../../stores/server-placement.js';
import { type DeleteOutcome, type DeleteRequest, deleteStore } from '../../stores/service.js';
import { parseFlags, UsageError } from '../args.js';
import { formatTable } from '../output.js';
import { APPLY_SOURCE, intentOf } from './apply.js';

export const deleteHelp = `usage: storeop delete -f FILE|DIR|- [-f ...] [--master-database-url URL] [--home DIR]
       storeop delete store SLUG [--master-database-url URL] [--home DIR]

Deletes stores that storeop apply declared, by their deletionPolicy: Retain (the default) marks the
store detached in the master DB and keeps its database and role; Delete drops them (create mode only;
a connect-mode database is never dropped). With -f the manifests give the policy and the server's admin
Secret; "delete store SLUG" uses the policy recorded when the store was applied, and can drop an embedded
(PGlite) store's folder, but needs the manifest to drop a database on a server. A store declared by
another source (the operator, the API) is refused, as is a manifest whose database fields changed since
the store was provisioned.`;

const flags = z.object({
  filename: z.array(z.string().min(1)).optional(),
  'master-database-url': z.string().optional(),
  home: z.string().optional(),
});

const spec = {
  filename: { type: 'string', short: 'f', multiple: true },
  'master-database-url': { type: 'string' },
  home: { type: 'string' },
} as const;

/** The DatabaseServer documents the master DB records the units' stores on. */
async function recordedPlacements(
  units: StoreUnit[],
  set: ManifestSet,
  url: string | undefined,
  home: string,
): Promise<Map<string, LocatedServer>> {
  const placed = new Map<string, LocatedServer>();
  if (!units.some((u) => placedOnServer(u.database, u.databasePath))) return placed;
  const master = await openMaster({ url, home });
  try {
    for (const unit of units) {
      const name = (await findStore(master.db, unit.slug))?.database_server;
      const server = name ? set.servers.find((s) => s.name === name) : undefined;
      if (name && !server)
        throw new UsageError(`store ${unit.slug} is placed on DatabaseServer ${name}: give its manifest (-f) so that storeop can reach it`);
      if (server) placed.set(unit.name, server);
    }
  } finally {
    await master.close();
  }
  return placed;
}

export async function deleteCommand(argv: string[]): Promise<number> {
  const { flags: f, positionals } = parseFlags(argv, spec, flags);
  const home = storeopHome(f.home);
  let requests: DeleteRequest[];
  if (f.filename?.length) {
    if (positionals.length) throw new UsageError('give either -f FILE|DIR|- or "store SLUG", not both');
    const set = parseManifests(readSources(f.filename, () => readFileSync(0, 'utf8')));
    const units = storeUnits(set);
    if (units.length === 0) throw new UsageError('no Store in the manifests');
    requests = [];
    // A store on a DatabaseServer is dropped where the master DB says it was placed (never placed: nothing to drop).
    const placed = await recordedPlacements(units, set, f['master-database-url'], home);
    for (const unit of units) {
      if (placedOnServer(unit.database, unit.databasePath) && !placed.has(unit.name)) {
        requests.push({ slug: unit.slug, source: APPLY_SOURCE, policy: unit.database.deletionPolicy, home });
        continue;
      }
      const intent = await intentOf(unit, set, home, {}, placed.get(unit.name));
      requests.push({
        slug: intent.slug,
        source: APPLY_SOURCE,
        policy: intent.deletionPolicy,
        intent: { identity: intent.identity, target: knownTarget(intent) },
        home,
      });
    }
  } else {
    const [what, slug, ...rest] = positionals;
    if (what !== 'store' || !slug || rest.length)
      throw new UsageError('expected -f FILE|DIR|- or "store SLUG"; see "storeop delete --help"');
    const parsed = slugSchema.safeParse(slug);
    if (!parsed.success) throw new UsageError(`store: ${JSON.stringify(slug)} ${parsed.error.issues[0]?.message}`);
    requests = [{ slug: parsed.data, source: APPLY_SOURCE, home }];
  }

  const master = await openMaster({ url: f['master-database-url'], home });
  const rows: string[][] = [];
  let failed = 0;
  try {
    const keyring = loadKeyring({ home, embedded: master.engine === 'pglite' });
    const ctx = { master, keyring, actor: 'storeop-delete' };
    for (const request of requests) {
      try {
        const done: DeleteOutcome = await deleteStore(ctx, request);
        const what = { dropped: 'database dropped', retained: 'detached; database kept', absent: 'no such store' }[done.outcome];
        rows.push([done.slug, done.policy, what]);
      } catch (error) {
        failed++;
        const message = isStoreopError(error) ? `${error.code}: ${error.message}` : (error as Error).message;
        process.stderr.write(`storeop delete: ${request.slug}: ${message}\n`);
        rows.push([request.slug, request.policy ?? '-', 'failed']);
      }
    }
  } finally {
    await master.close();
  }
  process.stdout.write(`${formatTable(['STORE', 'POLICY', 'RESULT'], rows)}\n`);
  return failed ? 1 : 0;
}
