// The QuotaExceeded condition of a Store: True naming each limit and figure while over a limit (reason
// QuotaWarning or QuotaSuspended, by the plan's enforcement), False once under all of them again.
import type { Store } from '../../api/store.js';
import { describeBreaches, type QuotaVerdict } from '../../stores/usage/quota.js';
import { type ConditionUpdate, getCondition } from '../conditions.js';

export const QUOTA_CONDITION = 'QuotaExceeded';
export const QUOTA_SUSPENDED = 'QuotaSuspended';

export function quotaCondition(verdict: QuotaVerdict): ConditionUpdate {
  if (verdict.exceeded.length === 0)
    return { type: QUOTA_CONDITION, status: 'False', reason: 'WithinLimits', message: 'the store is within its plan limits' };
  const suspend = verdict.enforcement === 'Suspend';
  return {
    type: QUOTA_CONDITION,
    status: 'True',
    reason: suspend ? QUOTA_SUSPENDED : 'QuotaWarning',
    message: `${describeBreaches(verdict.exceeded)}${suspend ? ' (enforcement Suspend: the store is suspended)' : ''}`,
  };
}

/** Whether the Store is suspended for its quota: its StoreDatabase then takes the spec.suspend path. */
export function suspendedForQuota(store: Store | undefined): boolean {
  const condition = getCondition(store?.status?.conditions, QUOTA_CONDITION);
  return condition?.status === 'True' && condition.reason === QUOTA_SUSPENDED;
}
