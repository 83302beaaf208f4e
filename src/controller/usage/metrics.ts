// Prometheus gauges of the last usage collection: fleet totals per plan, stores over a limit per plan and
// limit, and (opt-in, for small fleets) each store's figures.
import { Gauge, type Registry } from 'prom-client';
import type { CollectionReport } from '../../stores/usage/collector.js';

const RESOURCES = {
  maxProducts: 'products',
  maxOrdersPerMonth: 'orders_month',
  maxStorageMB: 'storage_mb',
  maxApiRequestsPerDay: 'api_requests_day',
};

export class UsageMetrics {
  readonly #stores: Gauge;
  readonly #totals: Gauge;
  readonly #exceeded: Gauge;
  readonly #duration: Gauge;
  readonly #perStore: Gauge | undefined;

  constructor(registry: Registry, perStore: boolean) {
    const registers = [registry];
    this.#stores = new Gauge({ name: 'storeop_usage_stores', help: 'Stores with a database, per plan', labelNames: ['plan'], registers });
    this.#totals = new Gauge({
      name: 'storeop_usage_total',
      help: 'Fleet totals of the last usage collection per plan: products, orders this month, storage MB, API requests today',
      labelNames: ['plan', 'resource'],
      registers,
    });
    this.#exceeded = new Gauge({
      name: 'storeop_quota_exceeded_stores',
      help: 'Stores over a plan limit, per plan and limit',
      labelNames: ['plan', 'limit'],
      registers,
    });
    this.#duration = new Gauge({
      name: 'storeop_usage_collection_duration_seconds',
      help: 'Duration of the last usage collection',
      registers,
    });
    this.#perStore = perStore
      ? new Gauge({ name: 'storeop_store_usage', help: "A store's figures (opt-in)", labelNames: ['store', 'plan', 'resource'], registers })
      : undefined;
  }

  record(report: CollectionReport): void {
    for (const gauge of [this.#stores, this.#totals, this.#exceeded, this.#perStore]) gauge?.reset();
    this.#duration.set(report.durationMs / 1000);
    for (const s of report.stores) {
      const plan = s.plan.plan;
      this.#stores.inc({ plan });
      for (const [limit, resource] of Object.entries(RESOURCES)) {
        const value = s.figures[limit as keyof typeof RESOURCES];
        this.#totals.inc({ plan, resource }, value);
        this.#perStore?.set({ store: s.slug, plan, resource }, value);
      }
      for (const breach of s.verdict.exceeded) this.#exceeded.inc({ plan, limit: breach.limit });
    }
  }
}
