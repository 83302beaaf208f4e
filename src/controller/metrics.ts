// Prometheus metrics with controller-runtime's names, plus storeop's own.
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';

export class ControllerMetrics {
  readonly registry = new Registry();
  readonly reconcileTotal = new Counter({
    name: 'controller_runtime_reconcile_total',
    help: 'Total number of reconciliations per controller',
    labelNames: ['controller', 'result'],
    registers: [this.registry],
  });
  readonly reconcileErrors = new Counter({
    name: 'controller_runtime_reconcile_errors_total',
    help: 'Total number of reconciliation errors per controller',
    labelNames: ['controller'],
    registers: [this.registry],
  });
  readonly reconcileTime = new Histogram({
    name: 'controller_runtime_reconcile_time_seconds',
    help: 'Length of time per reconciliation per controller',
    labelNames: ['controller'],
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
    registers: [this.registry],
  });
  readonly workqueueDepth = new Gauge({
    name: 'workqueue_depth',
    help: 'Current depth of workqueue',
    labelNames: ['name'],
    registers: [this.registry],
  });
  readonly workqueueRetries = new Counter({
    name: 'workqueue_retries_total',
    help: 'Total number of retries handled by workqueue',
    labelNames: ['name'],
    registers: [this.registry],
  });
  readonly leaderStatus = new Gauge({
    name: 'leader_election_master_status',
    help: 'Gauge of if the reporting system is master of the relevant lease, 0 indicates backup, 1 indicates master',
    labelNames: ['name'],
    registers: [this.registry],
  });
  readonly storesByPhase = new Gauge({
    name: 'storeop_stores',
    help: 'Stores by phase',
    labelNames: ['phase'],
    registers: [this.registry],
  });
  readonly provisioningDuration = new Histogram({
    name: 'storeop_provisioning_duration_seconds',
    help: 'Duration of store database provisioning runs',
    labelNames: ['engine', 'result'],
    buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120],
    registers: [this.registry],
  });

  readonly serverStores = new Gauge({
    name: 'storeop_server_stores',
    help: 'Stores placed on each DatabaseServer',
    labelNames: ['server'],
    registers: [this.registry],
  });

  readonly serverOperationsInFlight = new Gauge({
    name: 'storeop_server_operations_in_flight',
    help: 'Admin sessions storeop holds on each DatabaseServer right now',
    labelNames: ['server'],
    registers: [this.registry],
  });

  readonly serverReachable = new Gauge({
    name: 'storeop_server_reachable',
    help: "Whether the DatabaseServer's last check reached it (1) or not (0)",
    labelNames: ['server'],
    registers: [this.registry],
  });

  /** A deleted DatabaseServer leaves no series behind. */
  forgetServer(server: string): void {
    for (const gauge of [this.serverStores, this.serverOperationsInFlight, this.serverReachable]) gauge.remove({ server });
  }

  constructor() {
    collectDefaultMetrics({ register: this.registry });
  }

  queueMetrics(name: string) {
    return { depth: (value: number) => this.workqueueDepth.set({ name }, value), retry: () => this.workqueueRetries.inc({ name }) };
  }
}
