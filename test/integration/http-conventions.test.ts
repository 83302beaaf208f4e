// What clients of the standalone API (`storeop api`) expect of an HTTP service: probes and metrics without a
// token, 202 with a Location to poll, RFC 9457 problem details with a stable type, 405 (with Allow) for a
// known path and another method, and /v1/stores a page at a time.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ApiProcess, sha256, startApiProcess, storeopFreeEnv } from '../support/api-process.js';
import { createPostgresDatabase, postgresRows, type TempDatabase } from '../support/databases.js';

const TOKEN = randomBytes(24).toString('hex');

interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
  code: string;
  instance: string;
  issues?: { path: string; message: string }[];
}

describe('storeop api conventions', () => {
  let master: TempDatabase;
  let home: string;
  let api: ApiProcess;
  const call = (path: string, init: RequestInit = {}) =>
    fetch(`${api.url}${path}`, {
      ...init,
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json', ...init.headers },
    });
  const problemOf = async (response: Response) => {
    expect(response.headers.get('content-type')).toBe('application/problem+json');
    return (await response.json()) as Problem;
  };

  beforeAll(async () => {
    master = await createPostgresDatabase('conv_master');
    home = mkdtempSync(join(tmpdir(), 'storeop-http-conv-'));
    api = await startApiProcess({
      cwd: home,
      args: ['--master-database-url', master.url, '--home', home],
      env: storeopFreeEnv({ STOREOP_API_TOKEN_HASHES: sha256(TOKEN), STOREOP_ENCRYPTION_KEYS: `t1:${randomBytes(32).toString('base64')}` }),
    });
  });
  afterAll(async () => {
    await api?.stop().catch(() => {});
    await master?.drop();
    if (home) rmSync(home, { recursive: true, force: true });
  });

  it('serves /healthz, /readyz and /metrics without a token', async () => {
    expect((await fetch(`${api.url}/healthz`)).status).toBe(200);
    expect((await fetch(`${api.url}/readyz`)).status).toBe(200);
    await call('/v1/stores');
    const metrics = await fetch(`${api.url}/metrics`);
    expect(metrics.status).toBe(200);
    const text = await metrics.text();
    expect(text).toMatch(/storeop_api_requests_total\{method="GET",code="200"\} [1-9]/);
    expect(text).toContain('process_cpu_seconds_total');
  });

  it('answers a provision request with 202 and a Location that serves the job status', async () => {
    const slug = `conv-${randomBytes(3).toString('hex')}`;
    const response = await call('/v1/provision', {
      method: 'POST',
      body: JSON.stringify({ store: { slug, displayName: 'Conv' }, database: { engine: 'pglite' } }),
    });
    expect(response.status).toBe(202);
    const { jobId } = (await response.json()) as { jobId: string };
    const location = response.headers.get('location');
    expect(location).toBe(`/v1/provision/${jobId}/status`);
    const status = await call(location as string);
    expect(status.status).toBe(200);
    expect(((await status.json()) as { status: string }).status).toMatch(/^(queued|running|succeeded)$/);
  });

  it('answers errors as problem+json with a stable type and code, and 405 with Allow for a known path', async () => {
    const wrongMethod = await call('/v1/stores', { method: 'POST', body: '{}' });
    expect(wrongMethod.status).toBe(405);
    expect(wrongMethod.headers.get('allow')).toBe('GET, HEAD');
    expect(await problemOf(wrongMethod)).toMatchObject({
      type: 'https://storeop.dev/problems/method-not-allowed',
      code: 'method-not-allowed',
      status: 405,
      instance: '/v1/stores',
    });
    const put = await call('/v1/stores/some-shop', { method: 'PUT', body: '{}' });
    expect(put.status).toBe(405);
    expect(put.headers.get('allow')).toBe('DELETE, GET, HEAD');
    const unknown = await call('/v1/no-such-thing');
    expect(await problemOf(unknown)).toMatchObject({ type: 'https://storeop.dev/problems/not-found', status: 404 });
    const unauthorized = await fetch(`${api.url}/v1/stores`);
    expect(await problemOf(unauthorized)).toMatchObject({ code: 'unauthorized', status: 401 });
    const invalid = await call('/v1/provision', { method: 'POST', body: JSON.stringify({ store: { slug: 'Not A Slug' } }) });
    const body = await problemOf(invalid);
    expect(body).toMatchObject({ type: 'https://storeop.dev/problems/invalid-request', status: 400 });
    expect(body.issues?.map((i) => i.path)).toContain('store.slug');
  });

  it('pages /v1/stores in slug order with limit and nextCursor, and refuses a bad query naming the parameter', async () => {
    const prefix = `pg${randomBytes(2).toString('hex')}`;
    const slugs = Array.from({ length: 5 }, (_, i) => `${prefix}-${i}`);
    for (const slug of slugs) await postgresRows(master.url, 'insert into stores (name, slug) values ($1, $2)', [slug, slug]);
    const seen: string[] = [];
    let cursor: string | undefined;
    let pages = 0;
    do {
      const response = await call(`/v1/stores?limit=2${cursor ? `&cursor=${cursor}` : ''}`);
      expect(response.status).toBe(200);
      const page = (await response.json()) as { stores: { slug: string }[]; nextCursor?: string };
      expect(page.stores.length).toBeLessThanOrEqual(2);
      seen.push(...page.stores.map((s) => s.slug));
      cursor = page.nextCursor;
      pages += 1;
    } while (cursor && pages < 100);
    expect(seen.filter((s) => s.startsWith(prefix))).toEqual(slugs);
    expect([...seen].sort()).toEqual(seen);
    expect(new Set(seen).size).toBe(seen.length);
    for (const [query, field] of [
      ['limit=0', 'limit'],
      ['limit=abc', 'limit'],
      ['cursor=%21%21', 'cursor'],
      ['offset=2', 'offset'],
    ]) {
      const response = await call(`/v1/stores?${query}`);
      expect(response.status, query).toBe(400);
      expect(
        (await problemOf(response)).issues?.map((i) => i.path),
        query,
      ).toContain(field);
    }
  });
});
