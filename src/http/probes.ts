// /healthz, /readyz and /metrics of the standalone API (`storeop api`), as the operator serves them on its
// probe and metrics ports: liveness is "the process answers", readiness is "the master DB answers".
import type { Hono } from 'hono';
import { Counter, collectDefaultMetrics, Registry } from 'prom-client';
import { problem } from './problem.js';

export interface ApiProbes {
  /** Whether requests can be served now (the master DB answers). */
  ready(): Promise<boolean>;
  registry: Registry;
  requests: Counter<'method' | 'code'>;
}

export function apiProbes(ready: () => Promise<boolean>): ApiProbes {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const requests = new Counter({
    name: 'storeop_api_requests_total',
    help: 'Requests to the provisioning API by method and status code',
    labelNames: ['method', 'code'],
    registers: [registry],
  });
  return { ready, registry, requests };
}

// biome-ignore lint/suspicious/noExplicitAny: any app environment: the probes read nothing from it
export function mountProbes(app: Hono<any>, probes: ApiProbes): void {
  app.get('/healthz', (c) => c.text('ok'));
  app.get('/readyz', async (c) =>
    (await probes.ready().catch(() => false)) ? c.text('ok') : problem(c, 503, 'the master database does not answer'),
  );
  app.get('/metrics', async (c) => c.body(await probes.registry.metrics(), 200, { 'Content-Type': probes.registry.contentType }));
}
