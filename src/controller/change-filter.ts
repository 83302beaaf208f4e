// Which informer events are worth a reconcile: each filter keeps a fingerprint per object of what its
// reader acts on, and an event passes when the fingerprint changed (adds and deletes always pass).
// Like controller-runtime's predicates, so status-only updates and storeop's own bookkeeping (its
// finalizer, its identity annotations) do not run a reconcile again.
import { createHash } from 'node:crypto';
import type { KubernetesObject } from '@kubernetes/client-node';
import type { DatabaseServer } from '../api/database-server.js';
import type { Store } from '../api/store.js';
import type { StoreDatabase } from '../api/store-database.js';
import { getCondition } from './conditions.js';
import { APPLIED_ANNOTATION, ATTEMPTED_ANNOTATION, FINALIZER } from './context.js';
import { NamespacedMap } from './namespaced-map.js';

export type InformerEvent = 'add' | 'update' | 'delete';

export class ChangeFilter<T extends KubernetesObject> {
  /**
   * A digest per object, not the fingerprint itself: 48 bits of its SHA-1 as a number (no string), keyed by
   * the object's own namespace and name strings, a few dozen bytes each at 10,000 objects.
   */
  readonly #seen = new NamespacedMap<number>();

  constructor(private readonly fingerprint: (object: T) => unknown) {}

  changed(object: T, event: InformerEvent): boolean {
    const namespace = object.metadata?.namespace ?? '';
    const name = object.metadata?.name ?? '';
    if (event === 'delete') {
      this.#seen.delete(namespace, name);
      return true;
    }
    const print = digest(this.fingerprint(object));
    const before = this.#seen.get(namespace, name);
    if (before !== print) this.#seen.set(namespace, name, print);
    return event === 'add' || before !== print;
  }

  /** Objects with a fingerprint kept (for tests: deleted ones must not stay). */
  get size(): number {
    return this.#seen.size;
  }
}

/** 48 bits of the SHA-1 of the fingerprint's JSON: a chance of 2^-48 that a change goes unnoticed. */
function digest(fingerprint: unknown): number {
  return createHash('sha1').update(JSON.stringify(fingerprint)).digest().readUIntBE(0, 6);
}

/** What a reconcile of the object acts on: spec generation, deletion, finalizers, labels, annotations. */
function metadataFingerprint(object: KubernetesObject, ignore: { finalizer?: string; annotations?: string[] } = {}): unknown {
  const m = object.metadata ?? {};
  const annotations = { ...m.annotations };
  for (const key of ignore.annotations ?? []) delete annotations[key];
  return [
    m.uid,
    m.generation,
    m.deletionTimestamp ?? null,
    (m.finalizers ?? []).filter((f) => f !== ignore.finalizer),
    annotations,
    m.labels ?? {},
  ];
}

/** A Store is reconciled again when its spec or metadata change (its status is storeop's own). */
export function storeChanges(): ChangeFilter<Store> {
  return new ChangeFilter<Store>((s) => metadataFingerprint(s));
}

/**
 * A StoreDatabase is reconciled again when its spec or metadata change, except for the finalizer and the
 * identity annotations storeop itself adds during a reconcile (a removed finalizer is restored by the
 * periodic check).
 */
export function storeDatabaseChanges(): ChangeFilter<StoreDatabase> {
  return new ChangeFilter<StoreDatabase>((d) =>
    metadataFingerprint(d, { finalizer: FINALIZER, annotations: [APPLIED_ANNOTATION, ATTEMPTED_ANNOTATION] }),
  );
}

/** A StoreSchema is reconciled again when its spec or metadata (the rollout annotations) change, not its status. */
export function storeSchemaChanges<T extends KubernetesObject>(): ChangeFilter<T> {
  return new ChangeFilter<T>((s) => metadataFingerprint(s));
}

/** The Store mirrors part of its StoreDatabase: it is reconciled again only when that part changes. */
export function mirroredChanges(): ChangeFilter<StoreDatabase> {
  return new ChangeFilter<StoreDatabase>((d) => {
    const ready = getCondition(d.status?.conditions, 'Ready');
    return [
      d.status?.server,
      d.metadata.uid,
      d.metadata.generation,
      d.metadata.deletionTimestamp ?? null,
      d.metadata.ownerReferences ?? [],
      d.status?.phase,
      d.status?.jobId,
      d.status?.progress,
      d.status?.message,
      d.status?.schemaVersion,
      ready ? [ready.status, ready.reason, ready.message] : null,
    ];
  });
}

/**
 * An inline StoreDatabase its Store has just created, with nothing reported yet: that Store already knows
 * it and waits for its first status, which wakes it; waking it now would only run it for nothing.
 */
export function createdByItsStore(d: StoreDatabase, event: InformerEvent): boolean {
  if (event === 'delete' || d.status?.phase || d.metadata.deletionTimestamp) return false;
  const store = d.spec?.storeRef?.name;
  return (d.metadata.ownerReferences ?? []).some((o) => o.kind === 'Store' && o.name === store && o.controller);
}

/**
 * A DatabaseServer change worth acting on: its spec or labels (placement, limits), its deletion, or whether it
 * is reachable (its stores become Degraded or recover). Its other status fields (connections in use) are not.
 */
export function databaseServerChanges(): ChangeFilter<DatabaseServer> {
  return new ChangeFilter<DatabaseServer>((s) => [metadataFingerprint(s), getCondition(s.status?.conditions, 'Reachable')?.status ?? null]);
}
