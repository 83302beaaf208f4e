// kstatus conditions follow from phase and Ready: Reconciling while work is in flight, Stalled on terminal
// errors, neither once settled; a patch that changes neither phase nor conditions is left alone.
import { describe, expect, it } from 'vitest';
import type { Condition } from '../../src/api/common.js';
import { rolloutProgress, serverProgress, storeProgress, withKstatus, withProgressConditions } from '../../src/controller/kstatus.js';

const ready = (status: Condition['status'], reason: string, message = reason): Condition => ({
  type: 'Ready',
  status,
  reason,
  message,
  lastTransitionTime: '2026-01-01T00:00:00.000Z',
  observedGeneration: 3,
});
const types = (list: Condition[]) => list.map((c) => `${c.type}=${c.status}:${c.reason}`).sort();

describe('kstatus conditions', () => {
  it.each([
    ['Pending', ready('False', 'DatabaseNotFound'), 'reconciling'],
    ['Provisioning', ready('False', 'Provisioning'), 'reconciling'],
    ['Degraded', ready('False', 'ServerUnreachable'), 'reconciling'],
    ['Failed', ready('False', 'ConnectionFailed'), 'reconciling'],
    ['Deleting', ready('True', 'Provisioned'), 'reconciling'],
    ['Failed', ready('False', 'InvalidSpec'), 'stalled'],
    ['Failed', ready('False', 'Conflict'), 'stalled'],
    ['Failed', ready('False', 'SecretConflict'), 'stalled'],
    ['Ready', ready('True', 'Provisioned'), 'settled'],
    ['Suspended', ready('False', 'Suspended'), 'settled'],
  ] as const)('a Store or StoreDatabase in %s (Ready %s) is %s', (phase, condition, state) => {
    expect(storeProgress(phase, [condition]).state).toBe(state);
  });

  it('sets Stalled with the reason and observedGeneration, and drops Reconciling', () => {
    const before = withProgressConditions(
      [ready('False', 'Provisioning')],
      storeProgress('Provisioning', [ready('False', 'Provisioning')]),
      3,
    );
    expect(types(before)).toEqual(['Ready=False:Provisioning', 'Reconciling=True:Provisioning']);
    const failed = [ready('False', 'InvalidSpec', 'spec.slug is immutable')];
    const after = withProgressConditions([...before.filter((c) => c.type !== 'Ready'), ...failed], storeProgress('Failed', failed), 4);
    expect(types(after)).toEqual(['Ready=False:InvalidSpec', 'Stalled=True:InvalidSpec']);
    expect(after.find((c) => c.type === 'Stalled')).toMatchObject({ message: 'spec.slug is immutable', observedGeneration: 4 });
    const settled = withProgressConditions(after, { state: 'settled' }, 5);
    expect(types(settled)).toEqual(['Ready=False:InvalidSpec']);
  });

  it('completes only patches of phase or conditions, from what status already says', () => {
    const current: { phase?: string; conditions?: Condition[]; message?: string } = {
      phase: 'Provisioning',
      conditions: [ready('False', 'Provisioning')],
    };
    expect(withKstatus(current, { message: 'progress' }, 1)).toEqual({ message: 'progress' });
    const deleting = withKstatus({ phase: 'Ready', conditions: [ready('True', 'Provisioned')] }, { phase: 'Deleting' }, 2);
    expect(types(deleting.conditions ?? [])).toEqual(['Ready=True:Provisioned', 'Reconciling=True:Deleting']);
  });

  it('DatabaseServer: Stalled on a spec it cannot use; health is observed, not in flight', () => {
    expect(serverProgress('Failed', [ready('False', 'InvalidSpec')]).state).toBe('stalled');
    expect(serverProgress('Unreachable', [ready('False', 'ConnectionFailed')]).state).toBe('settled');
    expect(serverProgress('Ready', [ready('True', 'Reachable')]).state).toBe('settled');
  });

  it('StoreSchema: Failed is Stalled, Progressing is Reconciling, Paused and Complete are settled', () => {
    expect(rolloutProgress('Failed', [ready('False', 'DestructiveChange')])).toMatchObject({
      state: 'stalled',
      reason: 'DestructiveChange',
    });
    expect(rolloutProgress('Progressing', [ready('False', 'Admitting')]).state).toBe('reconciling');
    expect(rolloutProgress('Paused', [ready('False', 'AwaitingApproval')]).state).toBe('settled');
    expect(rolloutProgress('Complete', [ready('True', 'Complete')]).state).toBe('settled');
  });
});
