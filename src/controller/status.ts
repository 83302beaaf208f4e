// Builds status for StoreDatabase and Store: phase, conditions and the reasons behind them.
import type { Condition } from '../api/common.js';
import type { ErrorCode } from '../errors.js';
import { type ConditionUpdate, setCondition } from './conditions.js';

export function applyConditions(
  conditions: readonly Condition[] | undefined,
  updates: ConditionUpdate[],
  generation: number | undefined,
): Condition[] {
  return updates.reduce<Condition[]>((list, update) => setCondition(list, update, generation), [...(conditions ?? [])]);
}

/** Which StoreDatabase condition a failure belongs to, besides Ready. */
export function failedConditionType(code: ErrorCode | 'SecretNotFound' | 'StoreNotFound'): string | undefined {
  switch (code) {
    case 'ConnectionFailed':
    case 'AuthenticationFailed':
    case 'PermissionDenied':
    case 'DatabaseNotFound':
      return 'Connected';
    case 'SchemaConflict':
    case 'MigrationChanged':
    case 'LockTimeout':
      return 'SchemaReady';
    default:
      return undefined;
  }
}
