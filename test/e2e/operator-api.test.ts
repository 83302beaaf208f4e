// The provisioning API served next to the controller (storeop run --api-bind-address): a POST becomes a
// Store resource, the job is the one the controller runs, and kubectl sees the same store.
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ApiOperatorEnvironment, kubectl, startApiOperatorEnvironment } from '../support/operator.js';

describe('provisioning API in cluster mode', () => {
  const token = 'cluster-api-token-0123456789';
  let env: ApiOperatorEnvironment;

  beforeAll(async () => {
    // The POST below asks for a pglite store: the environment's home is the operator's volume for it.
    env = await startApiOperatorEnvironment('api', token);
  });

  afterAll(async () => {
    await env?.tearDown();
  });

  it('turns a POST into a Store that the controller provisions, and reports that job', async () => {
    const response = await fetch(`${env.apiUrl}/v1/provision`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({
        store: { slug: 'api-cluster-shop', displayName: 'API Cluster Shop', plan: 'starter' },
        database: { engine: 'pglite' },
      }),
    });
    expect(response.status, env.operator.logs().slice(-2000)).toBe(202);
    const accepted = (await response.json()) as { jobId: string; storeId: string; status: string };
    expect(accepted.status).toBe('provisioning');

    let last = -1;
    let status: { status: string; progress: number; tablesCreated: number; totalTables: number } | undefined;
    for (let i = 0; i < 120; i++) {
      const poll = await fetch(`${env.apiUrl}/v1/provision/${accepted.jobId}/status`, { headers: { authorization: `Bearer ${token}` } });
      expect(poll.status).toBe(200);
      status = (await poll.json()) as typeof status;
      expect(status?.progress).toBeGreaterThanOrEqual(last);
      last = status?.progress ?? last;
      if (status?.status === 'succeeded' || status?.status === 'failed') break;
      await sleep(250);
    }
    expect(status).toMatchObject({ status: 'succeeded', progress: 100 });
    expect(status?.tablesCreated).toBe(status?.totalTables);

    await kubectl(['-n', env.namespace, 'wait', '--for=condition=Ready', '--timeout=60s', 'store/api-cluster-shop']);
    const { stdout } = await kubectl(['-n', env.namespace, 'get', 'store', 'api-cluster-shop', '-o', 'json']);
    const store = JSON.parse(stdout);
    expect(store.spec.plan).toBe('starter');
    expect(store.status.storeId).toBe(accepted.storeId);
  });

  it('refuses requests without a valid token', async () => {
    const response = await fetch(`${env.apiUrl}/v1/stores`, { headers: { authorization: 'Bearer nope' } });
    expect(response.status).toBe(401);
  });
});
