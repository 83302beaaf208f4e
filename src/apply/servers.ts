// DatabaseServers without a cluster: `storeop apply` places the stores of the applied files on the
// DatabaseServer documents among them, with the same pure placement code as the controller. A store keeps the
// server the master DB recorded for it; a new one is counted against the stores the master DB has per server.
// Admin credentials come from a Secret document in the files, else from the environment.
import { z } from 'zod';
import { ownValue } from '../api/common.js';
import type { SecretReader } from '../stores/resolve-target.js';
import { chooseServer, placedOnServer, placementRequest, type ServerCandidate } from '../stores/server-placement.js';
import type { PlacedServer } from '../stores/server-target.js';
import type { LocatedServer, ManifestSet, StoreUnit } from './manifests.js';

/** STOREOP_SECRET_<SECRET>_<KEY>, upper case, other characters as "_": e.g. STOREOP_SECRET_PG_ADMIN_PASSWORD. */
export function secretEnvName(secret: string, key: string): string {
  return `STOREOP_SECRET_${`${secret}_${key}`.toUpperCase().replace(/[^A-Z0-9]/g, '_')}`;
}

const envValue = z.string().max(4096, 'is longer than 4096 characters');

/**
 * Reads a DatabaseServer's Secrets: the Secret document of that name in the files, else the environment
 * (secretEnvName). A document that exists but lacks the key is not filled in from the environment.
 */
export function serverSecretReader(set: ManifestSet, env: NodeJS.ProcessEnv = process.env): SecretReader {
  return async (name, key) => {
    const document = set.secrets.get(name);
    if (document) return ownValue(document, key);
    const variable = secretEnvName(name, key);
    const value = ownValue(env as Record<string, string | undefined>, variable);
    if (value === undefined) return undefined;
    const parsed = envValue.safeParse(value);
    if (!parsed.success) throw new Error(`${variable}: ${parsed.error.issues[0]?.message}`);
    return parsed.data;
  };
}

export interface Placements {
  /** Store name → the server it is (or will be) on. */
  servers: Map<string, LocatedServer>;
  /** One line per store that cannot be placed, naming what was missing. */
  problems: string[];
}

/**
 * Places every unit whose database goes on a DatabaseServer: the recorded server when the master DB has one
 * (it must be among the files), else one chosen now, each choice counted for the next. Pure but for `recorded`.
 */
export async function placeUnits(
  units: readonly StoreUnit[],
  set: ManifestSet,
  recorded: (slug: string) => Promise<string | undefined>,
  storesPerServer: ReadonlyMap<string, number>,
): Promise<Placements> {
  const servers = new Map<string, LocatedServer>();
  const problems: string[] = [];
  const counts = new Map(storesPerServer);
  const candidates = (): ServerCandidate[] =>
    set.servers.map((s) => ({
      name: s.name,
      engine: s.spec.engine,
      labels: s.labels,
      maxStores: s.spec.capacity?.maxStores,
      storeCount: counts.get(s.name) ?? 0,
      reachable: true, // no periodic check here: an unreachable server fails the store's run instead
    }));
  for (const unit of units) {
    try {
      if (!placedOnServer(unit.database, unit.databasePath)) continue;
      const known = await recorded(unit.slug);
      let name = known;
      if (!name) {
        const decision = chooseServer(placementRequest(unit.database, unit.spec.region, unit.databasePath), candidates());
        if (decision.kind === 'unavailable') {
          problems.push(`${unit.databaseOrigin}: NoServerAvailable: ${decision.missing}`);
          continue;
        }
        name = decision.server;
        counts.set(name, (counts.get(name) ?? 0) + 1);
      }
      const server = set.servers.find((s) => s.name === name);
      if (!server) {
        problems.push(`${unit.databaseOrigin}: store ${unit.slug} is placed on DatabaseServer ${name}, which is not in the manifests`);
        continue;
      }
      servers.set(unit.name, server);
    } catch (error) {
      problems.push(`${unit.databaseOrigin}: ${(error as Error).message}`);
    }
  }
  return { servers, problems };
}

export function placedServer(server: LocatedServer): PlacedServer {
  return { name: server.name, spec: server.spec };
}
