// The operator's reconcile durations (its Prometheus histogram) as performance_metrics figures: the mean
// since the process started and the count, per controller.
import type { PerformanceFigure } from '../../master/usage.js';
import type { ControllerMetrics } from '../metrics.js';

export async function reconcileDurations(metrics: ControllerMetrics): Promise<PerformanceFigure[]> {
  const { values } = await metrics.reconcileTime.get();
  const sums = new Map<string, { sum: number; count: number }>();
  for (const v of values) {
    const controller = String(v.labels.controller ?? '');
    const entry = sums.get(controller) ?? { sum: 0, count: 0 };
    if (v.metricName?.endsWith('_sum')) entry.sum = v.value;
    else if (v.metricName?.endsWith('_count')) entry.count = v.value;
    else continue;
    sums.set(controller, entry);
  }
  return [...sums].flatMap(([controller, { sum, count }]) =>
    count > 0
      ? [
          { name: 'reconcile_duration_seconds_mean', value: sum / count, unit: 's', labels: { controller } },
          { name: 'reconciles', value: count, unit: 'count', labels: { controller } },
        ]
      : [],
  );
}
