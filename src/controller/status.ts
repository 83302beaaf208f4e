// Builds status for StoreDatabase and Store: phase, conditions and the reasons behind them, and tells
// whether a status patch would change anything (status is written only when it does).
import { isDeepStrictEqual } from 'node:util';
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

/** Whether writing `status` (a JSON merge patch) would change the object's status. */
export function statusDiffers<S extends object>(current: S | undefined, status: Partial<S>): boolean {
  const before = plain(current ?? {});
  return !isDeepStrictEqual(mergePatched(before, plain(status)), before);
}

/** JSON as the API server stores it: undefined fields dropped. */
function plain(value: unknown): unknown {
  return JSON.parse(JSON.stringify(value));
}

/** RFC 7386: objects merge key by key, null removes, anything else replaces. */
function mergePatched(target: unknown, patch: unknown): unknown {
  const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
  if (!isObject(patch)) return patch;
  const result: Record<string, unknown> = isObject(target) ? { ...target } : {};
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete result[key];
    else result[key] = mergePatched(result[key], value);
  }
  return result;
}
