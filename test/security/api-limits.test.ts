// The provisioning API's limits and accountability (issue 12, finding 11), against `storeop api` as a real
// process on a PostgreSQL master: a per-token rate limit and a bounded job queue, both answering 429 with
// Retry-After, and usage and audit rows that name the token (its configured name, never the token or hash).
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPostgresDatabase, postgresRows, type TempDatabase } from '../support/databases.js';
import { dropStoreLeftovers, holdPostgresAdminLock, postgresEndpoint, storeName } from '../support/store-db.js';
import { type ApiProcess, inpSlug, sha256, startApi, storeop } from './input-support.js';

const CLIENT_TOKEN = randomBytes(24).toString('hex');
const OTHER_TOKEN = randomBytes(24).toString('base64url');
const ENCRYPTION_KEYS = `t1:${randomBytes(32).toString('base64')}`;
const server = postgresEndpoint();

let master: TempDatabase;
let home: string;
const apis: ApiProcess[] = [];
const slugs = new Set<string>();

const sql = <T extends Record<string, unknown>>(text: string, params: unknown[] = []) => postgresRows<T>(master.url, text, params);

async function start(args: string[]): Promise<ApiProcess> {
  const api = await startApi({
    cwd: home,
    args: ['--master-database-url', master.url, '--home', home, '--api-token-hashes-file', join(home, 'api-tokens'), ...args],
    env: { STOREOP_ENCRYPTION_KEYS: ENCRYPTION_KEYS },
  });
  apis.push(api);
  return api;
}

beforeAll(async () => {
  master = await createPostgresDatabase('inp_api_master');
  home = mkdtempSync(join(tmpdir(), 'storeop-inp-api-'));
  // Named tokens, as an operator writes them: HASH NAME, one per line.
  writeFileSync(join(home, 'api-tokens'), `# platform app\nsha256:${sha256(CLIENT_TOKEN)} inp-client\n${sha256(OTHER_TOKEN)} inp-other\n`, {
    mode: 0o600,
  });
}, 120_000);

afterAll(async () => {
  for (const api of apis) await api.stop().catch(() => {});
  try {
    for (const slug of slugs) await dropStoreLeftovers('postgresql', slug);
  } finally {
    await master?.drop();
    if (home) rmSync(home, { recursive: true, force: true });
  }
}, 180_000);

describe('a per-token rate limit', () => {
  let api: ApiProcess;
  const agent = `inp-limits/${randomBytes(4).toString('hex')}`;
  const get = (token: string | null) => api.call('/v1/stores', token, { headers: { 'user-agent': agent } });

  beforeAll(async () => {
    api = await start(['--rate-limit', '3']);
  }, 180_000);

  it('answers 429 with Retry-After once a token has used its requests, and limits each token on its own', async () => {
    for (let i = 0; i < 3; i++) expect((await get(CLIENT_TOKEN)).status, `request ${i + 1}`).toBe(200);
    const limited = await get(CLIENT_TOKEN);
    expect(limited.status).toBe(429);
    // 3 a minute: one request frees up every 20 s.
    const retryAfter = Number(limited.headers.get('retry-after'));
    expect(Number.isInteger(retryAfter)).toBe(true);
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(20);
    expect(await limited.json()).toMatchObject({ error: 'rate limit exceeded (3 requests a minute)' });
    // Another token has its own budget.
    expect((await get(OTHER_TOKEN)).status).toBe(200);
  });

  it('limits requests without a valid token by address, so tokens cannot be guessed at full speed', async () => {
    for (let i = 0; i < 3; i++) expect((await get('not-a-token')).status, `request ${i + 1}`).toBe(401);
    const limited = await get(null);
    expect(limited.status).toBe(429);
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    // A valid token is not held back by the guesses made from the same address.
    expect((await get(OTHER_TOKEN)).status).toBe(200);
  });

  it('logs every request with the name of its token (429s included), never the token or its hash', async () => {
    type UsageRow = { status_code: number; token_name: string | null };
    const deadline = Date.now() + 60_000;
    // The usage row is written after the answer: wait for all ten.
    let rows: UsageRow[] = [];
    for (;;) {
      rows = await sql<UsageRow>('select status_code, token_name from api_usage_logs where user_agent = $1 order by id', [agent]);
      if (rows.length >= 10) break;
      if (Date.now() > deadline) throw new Error(`only ${rows.length} usage rows after 60 s`);
      await sleep(100);
    }
    // Usage rows are written after each answer without holding it up, so their ids need not follow the
    // order of the requests: compare them as a set of (status, token) pairs.
    const byStatusAndToken = (a: UsageRow, b: UsageRow) =>
      a.status_code - b.status_code || String(a.token_name).localeCompare(String(b.token_name));
    expect(rows.sort(byStatusAndToken)).toEqual(
      [
        { status_code: 200, token_name: 'inp-client' },
        { status_code: 200, token_name: 'inp-client' },
        { status_code: 200, token_name: 'inp-client' },
        { status_code: 429, token_name: 'inp-client' },
        { status_code: 200, token_name: 'inp-other' },
        { status_code: 401, token_name: null },
        { status_code: 401, token_name: null },
        { status_code: 401, token_name: null },
        { status_code: 429, token_name: null },
        { status_code: 200, token_name: 'inp-other' },
      ].sort(byStatusAndToken),
    );
    const everything = JSON.stringify(await sql('select * from api_usage_logs'));
    for (const secret of [CLIENT_TOKEN, OTHER_TOKEN, sha256(CLIENT_TOKEN), sha256(OTHER_TOKEN)]) expect(everything).not.toContain(secret);
  });
});

describe('a bounded job queue', () => {
  type Accepted = { jobId: string; storeId: string };
  const body = (slug: string) => ({
    store: { slug, displayName: `Shop ${slug}` },
    database: { engine: 'postgresql', server: { host: server.host, port: server.port, adminSecretRef: { name: 'pg-admin' } } },
    secrets: { 'pg-admin': { username: server.user || 'postgres', password: 'unused-with-trust' } },
  });

  async function finished(api: ApiProcess, jobId: string): Promise<string> {
    const deadline = Date.now() + 300_000;
    for (;;) {
      const status = (await (await api.call(`/v1/provision/${jobId}/status`, CLIENT_TOKEN)).json()) as { status: string };
      if (status.status === 'succeeded' || status.status === 'failed') return status.status;
      if (Date.now() > deadline) throw new Error(`job ${jobId} still ${status.status}:\n${api.logs().slice(-4000)}`);
      await sleep(250);
    }
  }

  it('answers 429 with Retry-After when the queue is full, creates nothing for that request, and accepts it once there is room; the audit names the token', async () => {
    const api = await start(['--max-concurrent-jobs', '1', '--max-queued-jobs', '1']);
    const [running, queued, refused] = [inpSlug(), inpSlug(), inpSlug()];
    for (const slug of [running, queued, refused]) slugs.add(slug);
    const post = (slug: string, token = CLIENT_TOKEN) =>
      api.call('/v1/provision', token, { method: 'POST', body: JSON.stringify(body(slug)) });

    // The first job stops inside the PostgreSQL engine on its admin lock; the second waits in the queue.
    const lock = await holdPostgresAdminLock(storeName(running));
    const accepted: Accepted[] = [];
    try {
      const a = await post(running);
      expect(a.status).toBe(202);
      accepted.push((await a.json()) as Accepted);
      const deadline = Date.now() + 120_000;
      while (!(await lock.waiters())) {
        if (Date.now() > deadline) throw new Error(`the job never reached the lock:\n${api.logs().slice(-4000)}`);
        await sleep(100);
      }
      const b = await post(queued, OTHER_TOKEN);
      expect(b.status).toBe(202);
      accepted.push((await b.json()) as Accepted);

      const c = await post(refused);
      expect(c.status).toBe(429);
      expect(c.headers.get('retry-after')).toBe('10');
      expect(await c.json()).toMatchObject({ error: 'the job queue is full (1 jobs waiting)' });
      expect(await sql('select slug from stores where slug = $1', [refused])).toEqual([]);
    } finally {
      await lock.close();
    }
    const [first, second] = accepted as [Accepted, Accepted];
    expect(await finished(api, first.jobId)).toBe('succeeded');
    expect(await finished(api, second.jobId)).toBe('succeeded');

    const again = await post(refused);
    expect(again.status).toBe(202);
    const third = (await again.json()) as Accepted;
    expect(await finished(api, third.jobId)).toBe('succeeded');

    // Each accepted request has an audit row whose actor is the token's name.
    const audit = await sql<{ actor: string; target_id: string; job: string }>(
      `select actor, target_id, details->>'jobId' as job from audit_logs where action = 'store.provision.requested'
       and target_id = any($1) order by created_at`,
      [[running, queued, refused]],
    );
    expect(audit).toEqual([
      { actor: 'api-token:inp-client', target_id: running, job: first.jobId },
      { actor: 'api-token:inp-other', target_id: queued, job: second.jobId },
      { actor: 'api-token:inp-client', target_id: refused, job: third.jobId },
    ]);
    const everything = JSON.stringify(await sql('select * from audit_logs'));
    for (const secret of [CLIENT_TOKEN, OTHER_TOKEN, sha256(CLIENT_TOKEN), sha256(OTHER_TOKEN)]) expect(everything).not.toContain(secret);
  }, 600_000);
});

describe('token names in the hashes file', () => {
  it('refuse a name used twice, naming the entry', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'storeop-inp-names-'));
    try {
      writeFileSync(join(dir, 'tokens'), `${sha256('a')} inp-same\n${sha256('b')} inp-same\n`);
      const run = await storeop(['api', '--api-token-hashes-file', join(dir, 'tokens'), '--home', dir], { cwd: dir });
      expect(run.code).toBe(1);
      expect(run.stderr).toBe('storeop api: InvalidSpec: API token 2: the name inp-same is used by another token\n');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);
});
