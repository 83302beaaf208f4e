// Issue 11 in the operator: a StoreDatabase that keeps failing has ONE job row whose attempts grow and
// whose last error follows the latest failure, and its events aggregate (one Event per reason and message,
// with a count) because no message carries a job id or an attempt number; a job left queued by an operator
// killed before it ran is adopted by the next run, so no job stays queued forever.
import { hostname } from 'node:os';
import { afterEach, describe, expect, it } from 'vitest';
import { postgresRows } from '../support/databases.js';
import { kubectl, type RunningOperatorEnvironment, startOperatorEnvironment } from '../support/operator.js';
import { dropStoreLeftovers, postgresEndpoint } from '../support/store-db.js';

interface Env extends RunningOperatorEnvironment {
  slugs: string[];
}
interface KubeEvent {
  type: string;
  reason: string;
  message: string;
  count?: number;
  involvedObject: { kind: string; name: string };
}

const pgServer = postgresEndpoint();
let env: Env | undefined;

afterEach(async () => {
  const current = env;
  env = undefined;
  await current?.cleanUp(current.slugs.map((slug) => () => dropStoreLeftovers('postgresql', slug)));
});

async function setUp(prefix: string): Promise<Env> {
  env = { ...(await startOperatorEnvironment(prefix)), slugs: [] };
  return env;
}

const apply = (...objects: Record<string, unknown>[]) => (env as Env).apply(...objects);

const adminSecret = (username: string) => ({
  apiVersion: 'v1',
  kind: 'Secret',
  metadata: { name: 'job-admin' },
  stringData: { username, password: 'trust-auth-ignores-it' },
});

function store(slug: string): Record<string, unknown> {
  (env as Env).slugs.push(slug);
  return {
    apiVersion: 'storeop.dev/v1alpha1',
    kind: 'Store',
    metadata: { name: slug },
    spec: {
      displayName: `Store ${slug}`,
      plan: 'starter',
      database: {
        engine: 'postgresql',
        mode: 'create',
        server: { host: pgServer.host, port: pgServer.port, adminSecretRef: { name: 'job-admin' } },
        deletionPolicy: 'Delete',
      },
    },
  };
}

const eventually = <T>(what: string, probe: () => Promise<T | undefined>) => (env as Env).eventually(what, probe);

type JobRow = { id: string; status: string; attempts: number; last_error: string | null; next_attempt_at: Date | null };

function jobsOf(slug: string): Promise<JobRow[]> {
  return postgresRows<JobRow>(
    (env as Env).master.url,
    `select j.id, j.status, j.attempts, j.last_error, j.next_attempt_at
     from provisioning_jobs j join stores s on s.id = j.store_id where s.slug = $1 order by j.created_at`,
    [slug],
  );
}

async function eventsOf(name: string): Promise<KubeEvent[]> {
  const { stdout } = await kubectl(['-n', (env as Env).namespace, 'get', 'events', '-o', 'json']);
  return (JSON.parse(stdout) as { items: KubeEvent[] }).items.filter(
    (e) => e.involvedObject.kind === 'StoreDatabase' && e.involvedObject.name === name,
  );
}

describe('operator jobs', () => {
  it('a StoreDatabase that keeps failing has one job row whose attempts grow and last error updates; its events aggregate', async () => {
    await setUp('job-streak');
    const slug = `job-streak-${Date.now().toString(36)}`;
    // Trust authentication: an admin role that does not exist fails every attempt at its first step.
    await apply(adminSecret('job_nobody_a'), store(slug));

    const first = await eventually('three failed attempts in one job', async () => {
      const jobs = await jobsOf(slug);
      return jobs.length === 1 && (jobs[0]?.attempts ?? 0) >= 3 && jobs[0]?.last_error ? jobs : undefined;
    });
    expect(first[0]?.last_error).toContain('job_nobody_a');
    expect(['failed', 'running']).toContain(first[0]?.status);

    // Another failure, another error: the same row, more attempts, the latest error.
    await apply(adminSecret('job_nobody_b'));
    const second = await eventually('the job to record the new error', async () => {
      const jobs = await jobsOf(slug);
      // Between two attempts: failed, with the time the backoff runs the next one.
      return jobs.some((j) => j.last_error?.includes('job_nobody_b') && j.status === 'failed' && j.next_attempt_at) ? jobs : undefined;
    });
    expect(second).toHaveLength(1);
    expect(second[0]?.id).toBe(first[0]?.id);
    expect(second[0]?.attempts).toBeGreaterThan(first[0]?.attempts ?? 0);
    expect(second[0]?.next_attempt_at).toBeInstanceOf(Date);
    const sdb = JSON.parse((await kubectl(['-n', (env as Env).namespace, 'get', 'storedatabase', slug, '-o', 'json'])).stdout) as {
      status: { jobId?: string };
    };
    expect(sdb.status.jobId).toBe(first[0]?.id);

    // One Event per reason and message, its count growing: no job id or attempt number in a message.
    const events = await eventually('the Provisioning event to aggregate', async () => {
      const list = await eventsOf(slug);
      const provisioning = list.filter((e) => e.reason === 'Provisioning');
      return provisioning.length === 1 && (provisioning[0]?.count ?? 0) >= 3 ? list : undefined;
    });
    const provisioning = events.find((e) => e.reason === 'Provisioning') as KubeEvent;
    expect(provisioning.message).toBe(`provisioning postgresql database for store ${slug}`);
    expect(provisioning.message).not.toContain(first[0]?.id as string);
    const failures = events.filter((e) => e.type === 'Warning');
    const messages = failures.map((e) => `${e.reason}: ${e.message}`);
    expect(new Set(messages).size, messages.join('\n')).toBe(messages.length);
    expect(failures.filter((e) => e.message.includes('job_nobody_a'))).toHaveLength(1);
    expect(failures.find((e) => e.message.includes('job_nobody_a'))?.count).toBeGreaterThanOrEqual(2);

    // Fixed: the same job ends the streak as succeeded.
    await apply(adminSecret(pgServer.user || 'postgres'));
    await kubectl(['-n', (env as Env).namespace, 'wait', '--for=condition=Ready', '--timeout=180s', `store/${slug}`]);
    const done = await jobsOf(slug);
    expect(done).toHaveLength(1);
    expect(done[0]).toMatchObject({ id: first[0]?.id, status: 'succeeded' });
    expect(done[0]?.attempts).toBeGreaterThan(second[0]?.attempts ?? 0);
  });

  it('a job left queued by an operator killed before it ran is adopted by the next run: none stays queued', async () => {
    const { namespace, master } = await setUp('job-orphan');
    const slug = `job-orphan-${Date.now().toString(36)}`;
    // What a killed operator leaves: the store registered and its job queued by a process that is gone.
    const [row] = await postgresRows<{ id: string }>(master.url, `insert into stores (name, slug) values ($1, $2) returning id`, [
      `Store ${slug}`,
      slug,
    ]);
    const [orphan] = await postgresRows<{ id: string }>(
      master.url,
      `insert into provisioning_jobs (store_id, status, message, runner) values ($1, 'queued', 'queued', $2) returning id`,
      [row?.id, `${hostname()}-gone:1`],
    );
    await apply(adminSecret(pgServer.user || 'postgres'), store(slug));
    await kubectl(['-n', namespace, 'wait', '--for=condition=Ready', '--timeout=180s', `store/${slug}`]).catch((error: Error) => {
      throw new Error(`${error.message}\n${env?.operator.logs().slice(-6000)}`);
    });
    const jobs = await jobsOf(slug);
    expect(jobs.map((j) => ({ id: j.id, status: j.status, attempts: j.attempts }))).toEqual([
      { id: orphan?.id, status: 'succeeded', attempts: 1 },
    ]);
  });
});
