// What the operator asked of the API server in a window, from the recording proxy: counts by verb and
// resource, and the figures the targets name (LISTs, status writes, events).
import type { RecordedRequest } from '../../test/support/recording-proxy.js';

export interface Traffic {
  total: number;
  /** "verb resource[/subresource]" → count, e.g. "patch storedatabases/status". */
  byVerb: Record<string, number>;
  /** LISTs, besides the initial list of each namespace's Secret informer (below). */
  lists: number;
  /**
   * The first LIST of a namespace's Secrets: the initial list of the informer a cluster-wide operator starts
   * when a StoreDatabase there first names a Secret (src/controller/secret-cache.ts), once per namespace.
   */
  informerLists: number;
  writes: number;
  storeStatusWrites: number;
  databaseStatusWrites: number;
  events: number;
}

const WRITE_VERBS = new Set(['create', 'update', 'patch', 'delete', 'deletecollection']);

export function summarize(requests: readonly RecordedRequest[]): Traffic {
  const byVerb: Record<string, number> = {};
  let lists = 0;
  let informerLists = 0;
  const secretNamespaces = new Set<string>();
  let writes = 0;
  let storeStatusWrites = 0;
  let databaseStatusWrites = 0;
  let events = 0;
  for (const r of requests) {
    const key = `${r.verb} ${r.resource}${r.subresource ? `/${r.subresource}` : ''}`;
    byVerb[key] = (byVerb[key] ?? 0) + 1;
    const namespacedSecrets = r.verb === 'list' && r.resource === 'secrets' && r.namespace !== undefined;
    if (namespacedSecrets && !secretNamespaces.has(r.namespace as string)) {
      secretNamespaces.add(r.namespace as string);
      informerLists++;
    } else if (r.verb === 'list') lists++;
    // Leases are the leader election's heartbeat, not work on the fleet (off by default anyway).
    if (WRITE_VERBS.has(r.verb) && r.resource !== 'leases') writes++;
    const statusWrite = r.subresource === 'status' && (r.verb === 'patch' || r.verb === 'update');
    if (statusWrite && r.resource === 'stores') storeStatusWrites++;
    if (statusWrite && r.resource === 'storedatabases') databaseStatusWrites++;
    if (r.resource === 'events' && (r.verb === 'create' || r.verb === 'patch')) events++;
  }
  return { total: requests.length, byVerb, lists, informerLists, writes, storeStatusWrites, databaseStatusWrites, events };
}
