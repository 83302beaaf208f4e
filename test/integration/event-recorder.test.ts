// The operator's Events against kube-apiserver: a repeat bumps the count of the Event already written, a
// repeat after that Event is gone (kube-apiserver expires Events after an hour) or after the repeat window
// is a new Event, and the dedup memory stays within its bound.
import { CoreV1Api, type CoreV1Event } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Store } from '../../src/api/store.js';
import { EventRecorder } from '../../src/controller/events.js';
import { createLogger } from '../../src/log.js';
import { runEveryStep } from '../support/cleanup.js';
import { adminKubeConfig, createTestNamespace } from '../support/kube.js';

const core = adminKubeConfig().makeApiClient(CoreV1Api);
let namespace: string;

function store(name: string): Store {
  return {
    apiVersion: 'storeop.dev/v1alpha1',
    kind: 'Store',
    metadata: { name, namespace, uid: `00000000-0000-0000-0000-${name.padStart(12, '0')}` },
    spec: {},
  } as unknown as Store;
}

async function eventsOf(name: string): Promise<CoreV1Event[]> {
  const list = await core.listNamespacedEvent({ namespace, fieldSelector: `involvedObject.name=${name}` });
  return list.items.sort((a, b) => (a.metadata?.name ?? '').localeCompare(b.metadata?.name ?? ''));
}

beforeAll(async () => {
  namespace = await createTestNamespace(adminKubeConfig(), 'mem-events');
});

afterAll(async () => {
  await runEveryStep('event recorder cleanup', [() => core.deleteNamespace({ name: namespace })]);
});

describe('EventRecorder', () => {
  it('counts a repeat on the Event it wrote, and writes a new Event once that one is gone or the window has passed', async () => {
    let now = Date.parse('2026-12-02T10:00:00Z');
    const recorder = new EventRecorder(core, createLogger({ level: 'silent' }), { now: () => now });
    await recorder.record(store('one'), 'Normal', 'Ready', 'store is ready');
    now += 1000;
    await recorder.record(store('one'), 'Normal', 'Ready', 'store is ready');
    let events = await eventsOf('one');
    expect(events.map((e) => [e.reason, e.count])).toEqual([['Ready', 2]]);

    // Expired by kube-apiserver (deleted here): the next repeat is a new Event, not a failed patch.
    await core.deleteNamespacedEvent({ namespace, name: events[0]?.metadata?.name as string });
    now += 1000;
    await recorder.record(store('one'), 'Normal', 'Ready', 'store is ready');
    events = await eventsOf('one');
    expect(events.map((e) => [e.reason, e.count])).toEqual([['Ready', 1]]);

    // A repeat after the 10-minute window starts a new Event as well.
    now += 11 * 60_000;
    await recorder.record(store('one'), 'Normal', 'Ready', 'store is ready');
    events = await eventsOf('one');
    expect(events.map((e) => e.count)).toEqual([1, 1]);

    // Another message is another Event.
    await recorder.record(store('one'), 'Warning', 'Failed', 'it broke');
    expect((await eventsOf('one')).length).toBe(3);
  });

  it('remembers at most its bound of events, the most recent ones', async () => {
    const recorder = new EventRecorder(core, createLogger({ level: 'silent' }), { maxRemembered: 3 });
    for (const name of ['a', 'b', 'c', 'd', 'e']) await recorder.record(store(name), 'Normal', 'Created', `created ${name}`);
    expect(recorder.remembered).toBe(3);
    // "e" is remembered: its repeat is counted; "a" was forgotten: its repeat is a second Event.
    await recorder.record(store('e'), 'Normal', 'Created', 'created e');
    await recorder.record(store('a'), 'Normal', 'Created', 'created a');
    expect((await eventsOf('e')).map((e) => e.count)).toEqual([2]);
    expect((await eventsOf('a')).map((e) => e.count)).toEqual([1, 1]);
    expect(recorder.remembered).toBe(3);
  });
});
