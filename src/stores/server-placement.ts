// Which DatabaseServer a store's database is placed on: pure functions over the servers as the driver sees
// them (the controller's caches, or the documents `storeop apply` reads), so every driver places the same way.
// A placement is made once and recorded; these functions are asked only for a store that has none yet.

import type { LabelSelector } from '../api/common.js';
import { REGION_LABEL } from '../api/database-server.js';
import { DEFAULT_TOPOLOGY_KEY, type PLACEMENT_POLICIES, type StoreDatabaseTemplateSpec } from '../api/store-database.js';
import { StoreopError } from '../errors.js';
import { describeSelector, selectorMatches } from './label-selector.js';

/** A DatabaseServer as placement sees it. */
export interface ServerCandidate {
  name: string;
  engine: string;
  labels: Readonly<Record<string, string>>;
  /** capacity.maxStores; undefined = no cap. */
  maxStores: number | undefined;
  /** Stores placed on it, this decision's own earlier ones included. */
  storeCount: number;
  /** False when its last check failed: no new store goes to a server that is down. */
  reachable: boolean;
}

export interface PlacementRequest {
  engine: string;
  serverRef?: string | undefined;
  serverSelector?: LabelSelector | undefined;
  policy: (typeof PLACEMENT_POLICIES)[number];
  topologyKey: string;
  /** The Store's spec.region. */
  region?: string | undefined;
}

export type PlacementDecision = { kind: 'placed'; server: string } | { kind: 'unavailable'; missing: string };

/**
 * Whether a database spec is placed on a DatabaseServer: create mode on a network engine without an inline
 * server. Placement fields beside an inline server (or outside create mode) are InvalidSpec, never ignored.
 */
export function placedOnServer(spec: StoreDatabaseTemplateSpec, path = 'spec'): boolean {
  const fields = (['serverRef', 'serverSelector', 'placement'] as const).filter((f) => spec[f] !== undefined);
  const network = spec.engine === 'postgresql' || spec.engine === 'mysql';
  if (fields.length && (spec.server || spec.mode !== 'create' || !network)) {
    const why = spec.server ? `${path}.server is set` : 'they are for postgresql and mysql in create mode';
    throw new StoreopError('InvalidSpec', `${fields.map((f) => `${path}.${f}`).join(', ')}: not allowed here (${why})`, {
      retryable: false,
    });
  }
  return spec.mode === 'create' && network && !spec.server;
}

/** The placement request a database spec and its Store's region make; contradictory fields are InvalidSpec. */
export function placementRequest(spec: StoreDatabaseTemplateSpec, region: string | undefined, path = 'spec'): PlacementRequest {
  if (spec.serverRef && spec.serverSelector)
    throw new StoreopError('InvalidSpec', `${path}.serverRef and ${path}.serverSelector: set one of them, not both`, { retryable: false });
  return {
    engine: spec.engine,
    serverRef: spec.serverRef?.name,
    serverSelector: spec.serverSelector,
    policy: spec.placement?.policy ?? 'LeastStores',
    topologyKey: spec.placement?.topologyKey ?? DEFAULT_TOPOLOGY_KEY,
    region,
  };
}

const hasRoom = (s: ServerCandidate) => s.maxStores === undefined || s.storeCount < s.maxStores;
const byName = (a: ServerCandidate, b: ServerCandidate) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
const fewestStores = (a: ServerCandidate, b: ServerCandidate) => a.storeCount - b.storeCount || byName(a, b);

/**
 * The server for a new store, or what was missing. Servers are narrowed step by step (engine, serverRef,
 * region, selector, reachable, room); the first step that leaves none names what was missing.
 */
export function chooseServer(request: PlacementRequest, servers: readonly ServerCandidate[]): PlacementDecision {
  const wanted = [`engine ${request.engine}`];
  const steps: Array<{ keep: (s: ServerCandidate) => boolean; none: () => string }> = [
    { keep: (s) => s.engine === request.engine, none: () => `no DatabaseServer has engine ${request.engine}` },
  ];
  if (request.serverRef !== undefined) {
    const ref = request.serverRef;
    wanted.push(`serverRef ${ref}`);
    steps.push({ keep: (s) => s.name === ref, none: () => `DatabaseServer ${ref} does not exist or is not a ${request.engine} server` });
  }
  if (request.region !== undefined) {
    const region = request.region;
    wanted.push(`region ${region}`);
    steps.push({ keep: (s) => s.labels[REGION_LABEL] === region, none: () => `none is labelled ${REGION_LABEL}=${region}` });
  }
  if (request.serverSelector) {
    const selector = request.serverSelector;
    wanted.push(`selector ${describeSelector(selector)}`);
    steps.push({ keep: (s) => selectorMatches(selector, s.labels), none: () => `none matches the selector ${describeSelector(selector)}` });
  }
  steps.push(
    { keep: (s) => s.reachable, none: () => 'every matching server is unreachable' },
    { keep: hasRoom, none: () => 'every matching server is full (capacity.maxStores)' },
  );
  let eligible = [...servers];
  for (const step of steps) {
    eligible = eligible.filter(step.keep);
    if (eligible.length === 0)
      return { kind: 'unavailable', missing: `no DatabaseServer with room for ${wanted.join(', ')}: ${step.none()}` };
  }
  const chosen = request.policy === 'Spread' ? spread(eligible, request.topologyKey) : [...eligible].sort(fewestStores)[0];
  return { kind: 'placed', server: (chosen as ServerCandidate).name };
}

/** Spread: the topology domain (value of `key`; unlabelled servers form one domain) with the fewest stores, then its emptiest server. */
function spread(eligible: readonly ServerCandidate[], key: string): ServerCandidate {
  const domains = new Map<string, ServerCandidate[]>();
  for (const s of eligible) {
    const domain = s.labels[key] ?? '';
    domains.set(domain, [...(domains.get(domain) ?? []), s]);
  }
  const total = (servers: ServerCandidate[]) => servers.reduce((n, s) => n + s.storeCount, 0);
  const [, servers] = [...domains.entries()].sort(([a, x], [b, y]) => total(x) - total(y) || (a < b ? -1 : a > b ? 1 : 0))[0] as [
    string,
    ServerCandidate[],
  ];
  return [...servers].sort(fewestStores)[0] as ServerCandidate;
}
