// Placement on DatabaseServers: pure functions, no servers.

import { describe, expect, it } from 'vitest';
import { storeDatabaseTemplateSpec } from '../../src/api/store-database.js';
import { selectorMatches } from '../../src/stores/label-selector.js';
import {
  chooseServer,
  type PlacementRequest,
  placedOnServer,
  placementRequest,
  type ServerCandidate,
} from '../../src/stores/server-placement.js';

const server = (name: string, more: Partial<ServerCandidate> = {}): ServerCandidate => ({
  name,
  engine: 'postgresql',
  labels: {},
  maxStores: undefined,
  storeCount: 0,
  reachable: true,
  ...more,
});
const request = (more: Partial<PlacementRequest> = {}): PlacementRequest => ({
  engine: 'postgresql',
  policy: 'LeastStores',
  topologyKey: 'topology.kubernetes.io/zone',
  ...more,
});

/** Places `n` stores one after another, each decision seeing the ones before (as the controller's ledger does). */
function placeMany(n: number, req: PlacementRequest, servers: ServerCandidate[]): Record<string, number> {
  const fleet = servers.map((s) => ({ ...s }));
  for (let i = 0; i < n; i++) {
    const d = chooseServer(req, fleet);
    if (d.kind !== 'placed') throw new Error(d.missing);
    const chosen = fleet.find((s) => s.name === d.server) as ServerCandidate;
    chosen.storeCount++;
  }
  return Object.fromEntries(fleet.map((s) => [s.name, s.storeCount]));
}

function count(counts: Record<string, number>, name: string): number {
  return counts[name] ?? 0;
}

describe('chooseServer', () => {
  it('LeastStores balances 20 stores across two servers within one', () => {
    const counts = placeMany(20, request(), [server('a', { storeCount: 3 }), server('b')]);
    expect(count(counts, 'a') + count(counts, 'b')).toBe(23);
    expect(Math.abs(count(counts, 'a') - count(counts, 'b'))).toBeLessThanOrEqual(1);
  });

  it('keeps to the engine, the region label, the selector and serverRef', () => {
    const fleet = [
      server('pg-eu-gold', { labels: { 'storeop.dev/region': 'eu', tier: 'gold' } }),
      server('pg-eu-std', { labels: { 'storeop.dev/region': 'eu', tier: 'standard' } }),
      server('pg-us-gold', { labels: { 'storeop.dev/region': 'us', tier: 'gold' } }),
      server('my-eu-gold', { engine: 'mysql', labels: { 'storeop.dev/region': 'eu', tier: 'gold' } }),
    ];
    expect(chooseServer(request({ region: 'eu', serverSelector: { matchLabels: { tier: 'gold' } } }), fleet)).toEqual({
      kind: 'placed',
      server: 'pg-eu-gold',
    });
    expect(chooseServer(request({ engine: 'mysql' }), fleet)).toEqual({ kind: 'placed', server: 'my-eu-gold' });
    expect(chooseServer(request({ serverRef: 'pg-us-gold' }), fleet)).toEqual({ kind: 'placed', server: 'pg-us-gold' });
    const wrongRegion = chooseServer(request({ serverRef: 'pg-us-gold', region: 'eu' }), fleet);
    expect(wrongRegion.kind).toBe('unavailable');
  });

  it('names what was missing: engine, region, selector, reachability, capacity', () => {
    const fleet = [server('a', { labels: { 'storeop.dev/region': 'eu' }, maxStores: 1, storeCount: 1 }), server('b', { reachable: false })];
    const missing = (req: PlacementRequest) => {
      const d = chooseServer(req, fleet);
      return d.kind === 'unavailable' ? d.missing : `placed on ${d.server}`;
    };
    expect(missing(request({ engine: 'mysql' }))).toMatch(/no DatabaseServer has engine mysql/);
    expect(missing(request({ region: 'us' }))).toMatch(/region us.*none is labelled storeop\.dev\/region=us/);
    expect(missing(request({ serverSelector: { matchLabels: { tier: 'gold' } } }))).toMatch(/selector tier=gold.*none matches/);
    expect(missing(request({ serverRef: 'b' }))).toMatch(/unreachable/);
    expect(missing(request({ region: 'eu' }))).toMatch(/full \(capacity\.maxStores\)/);
    expect(missing(request())).toMatch(/full/);
  });

  it('maxStores 0 accepts no new store', () => {
    expect(chooseServer(request(), [server('a', { maxStores: 0 })]).kind).toBe('unavailable');
  });

  it('Spread fills the emptiest topology domain first', () => {
    const zone = (z: string) => ({ 'topology.kubernetes.io/zone': z });
    const counts = placeMany(6, request({ policy: 'Spread' }), [
      server('a1', { labels: zone('a'), storeCount: 2 }),
      server('a2', { labels: zone('a'), storeCount: 2 }),
      server('b1', { labels: zone('b') }),
    ]);
    // Zone b catches up with zone a (4 stores) before both grow together.
    expect(counts.b1).toBe(5);
    expect(count(counts, 'a1') + count(counts, 'a2')).toBe(5);
  });
});

describe('selectorMatches', () => {
  const labels = { tier: 'gold', zone: 'a' };
  it('follows metav1.LabelSelector', () => {
    expect(selectorMatches({}, labels)).toBe(true);
    expect(selectorMatches({ matchLabels: { tier: 'gold' } }, labels)).toBe(true);
    expect(selectorMatches({ matchLabels: { tier: 'silver' } }, labels)).toBe(false);
    expect(selectorMatches({ matchExpressions: [{ key: 'zone', operator: 'In', values: ['a', 'b'] }] }, labels)).toBe(true);
    expect(selectorMatches({ matchExpressions: [{ key: 'zone', operator: 'NotIn', values: ['a'] }] }, labels)).toBe(false);
    expect(selectorMatches({ matchExpressions: [{ key: 'ssd', operator: 'Exists' }] }, labels)).toBe(false);
    expect(selectorMatches({ matchExpressions: [{ key: 'ssd', operator: 'DoesNotExist' }] }, labels)).toBe(true);
    // An inherited member is not a label.
    expect(selectorMatches({ matchExpressions: [{ key: 'constructor', operator: 'Exists' }] }, labels)).toBe(false);
  });
});

describe('placedOnServer / placementRequest', () => {
  const spec = (more: Record<string, unknown>) => storeDatabaseTemplateSpec.parse({ engine: 'postgresql', ...more });
  const admin = { name: 'admin' };
  it('places create-mode network databases without an inline server', () => {
    expect(placedOnServer(spec({}))).toBe(true);
    expect(placedOnServer(spec({ serverSelector: { matchLabels: { tier: 'gold' } } }))).toBe(true);
    expect(placedOnServer(spec({ server: { host: 'db', adminSecretRef: admin } }))).toBe(false);
    expect(placedOnServer(storeDatabaseTemplateSpec.parse({ engine: 'pglite' }))).toBe(false);
  });
  it('refuses placement fields that would be ignored, naming them', () => {
    expect(() =>
      placedOnServer(spec({ server: { host: 'db', adminSecretRef: admin }, serverRef: { name: 'a' } }), 'spec.database'),
    ).toThrow(/spec\.database\.serverRef: not allowed here \(spec\.database\.server is set\)/);
    expect(() => placementRequest(spec({ serverRef: { name: 'a' }, serverSelector: {} }), undefined)).toThrow(/set one of them/);
  });
  it('defaults the policy to LeastStores and takes the region from the Store', () => {
    expect(placementRequest(spec({}), 'eu')).toMatchObject({ policy: 'LeastStores', region: 'eu', engine: 'postgresql' });
  });
});
