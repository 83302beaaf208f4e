// The operator's usage collection (leader only): on its interval, the collector runs with the StorePlans the
// operator honours, and each Store of this operator gets the QuotaExceeded condition and event its verdict
// calls for. A Store suspended or released for its quota has its StoreDatabase woken: that reconcile takes
// the same path as spec.suspend (suspend.ts), or resumes it.
import type { Store } from '../../api/store.js';
import { type PerformanceFigure, replaceStorePlans } from '../../master/usage.js';
import { type CollectionReport, collectUsage, type StoreUsageResult } from '../../stores/usage/collector.js';
import type { PlanOverride } from '../../stores/usage/plan-limits.js';
import { UsageSchedule } from '../../stores/usage/schedule.js';
import { getCondition } from '../conditions.js';
import type { ControllerContext } from '../context.js';
import { applyConditions, statusDiffers } from '../status.js';
import type { UsageMetrics } from './metrics.js';
import { QUOTA_CONDITION, quotaCondition, suspendedForQuota } from './quota-condition.js';
import { listPlanOverrides } from './store-plans.js';

export interface UsageLoopOptions {
  intervalMs: number;
  storePlanSelector?: string | undefined;
  metrics: UsageMetrics;
  /** Wakes the StoreDatabase(s) of a Store whose quota suspension changed. */
  wake(store: Store): void;
  /** The operator's reconcile durations, recorded in performance_metrics with each collection. */
  reconcileDurations(): Promise<PerformanceFigure[]>;
}

export class UsageLoop {
  readonly #schedule: UsageSchedule;

  constructor(
    private readonly ctx: ControllerContext,
    private readonly options: UsageLoopOptions,
  ) {
    this.#schedule = new UsageSchedule(options.intervalMs, () => this.runOnce().then(() => undefined), ctx.log);
  }

  start(): void {
    this.#schedule.start();
  }

  stop(): Promise<void> {
    return this.#schedule.stop();
  }

  async runOnce(): Promise<CollectionReport> {
    const overrides = await listPlanOverrides(this.ctx.kube, this.options.storePlanSelector, this.ctx.log);
    // Mirrored into the master DB, where `storeop usage` and the API read each plan's limits.
    const effective = new Map<string, PlanOverride>();
    for (const o of [...overrides].sort((a, b) => a.name.localeCompare(b.name)))
      if (!effective.has(o.spec.plan)) effective.set(o.spec.plan, o);
    await replaceStorePlans(
      this.ctx.master.master.db,
      [...effective.values()].map((o) => ({ name: o.name, plan: o.spec.plan, spec: o.spec })),
    );
    const report = await collectUsage(this.ctx.master, {
      overrides,
      log: this.ctx.log,
      performance: await this.options.reconcileDurations(),
    });
    this.options.metrics.record(report);
    for (const result of report.stores) await this.#report(result);
    return report;
  }

  /** The Store's condition as the verdict says, written only when it changes; an event on each change. */
  async #report(result: StoreUsageResult): Promise<void> {
    const match = /^kubernetes:([^/]+)\/(.+)$/.exec(result.source ?? '');
    if (!match) return;
    const store = this.ctx.caches.stores.get(match[1] as string, match[2] as string);
    if (!store || store.metadata.deletionTimestamp) return;
    const had = getCondition(store.status?.conditions, QUOTA_CONDITION);
    const update = quotaCondition(result.verdict);
    // A store that was never over a limit gets no condition: a fleet's first collection writes nothing.
    if (!had && update.status === 'False') return;
    const conditions = applyConditions(store.status?.conditions, [update], store.metadata.generation);
    if (!statusDiffers(store.status, { conditions })) return;
    const wasSuspended = suspendedForQuota(store);
    try {
      const written = await this.ctx.kube.patchStatus<Store>('Store', store.metadata, { conditions });
      this.ctx.caches.stores.wrote(written);
      if (update.status === 'True') await this.ctx.events.record(store, 'Warning', 'QuotaExceeded', update.message);
      else if (had?.status === 'True') await this.ctx.events.record(store, 'Normal', 'QuotaRestored', update.message);
      if (suspendedForQuota(written) !== wasSuspended) this.options.wake(written);
    } catch (error) {
      this.ctx.log.warn({ store: result.slug, err: (error as Error).message }, 'could not report the quota condition');
    }
  }
}
