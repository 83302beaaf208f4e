// Kubernetes label selectors (metav1.LabelSelector) evaluated over an object's labels: which rollout stage a
// Store belongs to, which DatabaseServers a store may be placed on. The semantics are the API server's: every
// requirement must hold, an empty selector matches everything.
import type { LabelSelector } from '../api/common.js';

export function selectorMatches(selector: LabelSelector, labels: Readonly<Record<string, string>> = {}): boolean {
  const has = (key: string) => Object.hasOwn(labels, key);
  for (const [key, value] of Object.entries(selector.matchLabels ?? {})) {
    if (!has(key) || labels[key] !== value) return false;
  }
  for (const { key, operator, values = [] } of selector.matchExpressions ?? []) {
    const present = has(key);
    const matched = present && values.includes(labels[key] as string);
    if (operator === 'In' && !matched) return false;
    if (operator === 'NotIn' && matched) return false;
    if (operator === 'Exists' && !present) return false;
    if (operator === 'DoesNotExist' && present) return false;
  }
  return true;
}

/** "tier=gold, zone in (a,b)": a selector for messages. */
export function describeSelector(selector: LabelSelector): string {
  const terms = [
    ...Object.entries(selector.matchLabels ?? {}).map(([k, v]) => `${k}=${v}`),
    ...(selector.matchExpressions ?? []).map((e) =>
      e.operator === 'Exists'
        ? e.key
        : e.operator === 'DoesNotExist'
          ? `!${e.key}`
          : `${e.key} ${e.operator.toLowerCase()} (${(e.values ?? []).join(',')})`,
    ),
  ];
  return terms.join(', ') || '(everything)';
}
