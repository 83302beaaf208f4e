// Plan limits and quota verdicts: built-in defaults, StorePlan overrides (the first by name wins for a plan),
// "over" meaning strictly more than the limit, messages naming the limit and the figure, and the usage
// statement's row parsed without turning money into floats.
import { describe, expect, it } from 'vitest';
import { storePlanSpec } from '../../src/api/store-plan.js';
import { builtInLimits, effectivePlans } from '../../src/stores/usage/plan-limits.js';
import { describeBreaches, evaluateQuota, suspends } from '../../src/stores/usage/quota.js';
import { parseSample } from '../../src/stores/usage/sample-query.js';

const spec = (raw: unknown) => storePlanSpec.parse(raw);

describe('plan limits', () => {
  it('derives the built-in limits from the plan terms', () => {
    expect(builtInLimits('free')).toEqual({ maxProducts: 100, maxOrdersPerMonth: 100, maxStorageMB: 1024, maxApiRequestsPerDay: 334 });
    expect(builtInLimits('enterprise')).toEqual({
      maxProducts: null,
      maxOrdersPerMonth: null,
      maxStorageMB: 1_024_000,
      maxApiRequestsPerDay: null,
    });
  });

  it('overrides the limits a StorePlan sets, keeps the others, and takes the first StorePlan by name for a plan', () => {
    const planOf = effectivePlans([
      { name: 'zz-free', spec: spec({ plan: 'free', limits: { maxProducts: 1 }, enforcement: 'Warn' }) },
      { name: 'aa-free', spec: spec({ plan: 'free', limits: { maxProducts: 5 }, enforcement: 'Suspend' }) },
    ]);
    expect(planOf('free')).toEqual({
      plan: 'free',
      limits: { maxProducts: 5, maxOrdersPerMonth: 100, maxStorageMB: 1024, maxApiRequestsPerDay: 334 },
      enforcement: 'Suspend',
      storePlan: 'aa-free',
    });
    expect(planOf('starter')).toMatchObject({ enforcement: 'Warn', limits: builtInLimits('starter') });
    expect(planOf('no-such-plan').plan).toBe('free');
  });

  it('refuses unknown StorePlan fields and enforcements, naming the field', () => {
    const unknown = storePlanSpec.safeParse({ plan: 'free', limits: { maxProduct: 3 } });
    expect(unknown.success).toBe(false);
    expect(unknown.error?.issues[0]?.path).toEqual(['limits']);
    expect(storePlanSpec.safeParse({ plan: 'free', enforcement: 'Delete' }).error?.issues[0]?.path).toEqual(['enforcement']);
    expect(storePlanSpec.safeParse({ plan: 'gold' }).error?.issues[0]?.path).toEqual(['plan']);
  });
});

describe('quota verdicts', () => {
  const free = effectivePlans([])('free');
  const figures = { maxProducts: 100, maxOrdersPerMonth: 0, maxStorageMB: 0, maxApiRequestsPerDay: 0 };

  it('is over a limit only above it, and names each limit with its figure', () => {
    expect(evaluateQuota(figures, free)).toEqual({ exceeded: [], enforcement: 'Warn' });
    const over = evaluateQuota({ ...figures, maxProducts: 101, maxOrdersPerMonth: 150 }, free);
    expect(over.exceeded).toEqual([
      { limit: 'maxProducts', figure: 101, max: 100 },
      { limit: 'maxOrdersPerMonth', figure: 150, max: 100 },
    ]);
    expect(describeBreaches(over.exceeded)).toBe(
      'maxProducts: 101 products, limit 100; maxOrdersPerMonth: 150 orders this month, limit 100',
    );
    expect(suspends(over)).toBe(false);
    expect(suspends({ ...over, enforcement: 'Suspend' })).toBe(true);
    expect(suspends({ exceeded: [], enforcement: 'Suspend' })).toBe(false);
  });

  it('never limits what a plan leaves unlimited', () => {
    const enterprise = effectivePlans([])('enterprise');
    expect(evaluateQuota({ ...figures, maxProducts: 10_000_000 }, enterprise).exceeded).toEqual([]);
  });
});

describe('the usage statement row', () => {
  it('keeps revenue exact and reads MySQL JSON text and bigint strings', () => {
    const sample = parseSample({
      products: '3',
      customers: 2,
      orders: '2',
      order_items: 3,
      size_bytes: '8192',
      open_connections: 0,
      days: '[{"day":"2026-02-01","orders":1,"revenue":"0.10","new_customers":0},{"day":"2026-01-31","orders":2,"revenue":"30.75","new_customers":2}]',
    });
    expect(sample).toEqual({
      products: 3,
      customers: 2,
      orders: 2,
      orderItems: 3,
      sizeBytes: 8192,
      openConnections: 0,
      days: [
        { day: '2026-01-31', orders: 2, revenue: '30.75', newCustomers: 2 },
        { day: '2026-02-01', orders: 1, revenue: '0.10', newCustomers: 0 },
      ],
    });
    expect(() => parseSample({ products: 'x' })).toThrow(/non-number/);
    expect(() => parseSample({ products: 1, days: [{ day: '2026-01-01', orders: 1, revenue: '1e3' }] })).toThrow(/non-decimal/);
  });
});
