// Issue 11, jobs: one provisioning_jobs row per failure streak (a retry reopens it: attempts grow, the
// last error follows the latest failure), and a job left queued by a process killed before it ran is
// adopted by the next run instead of staying queued forever beside a new one.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import type { MasterDatabase } from '../../src/master/database.js';
import { type MasterContext, prepareStoreJob, runStoreJob } from '../../src/stores/provision-store.js';
import { postgresMaster, runCli, type TestMaster } from '../support/master.js';
import { nodeBinary, repoRoot } from '../support/paths.js';
import { postgresCreateTarget, postgresEndpoint, StoreCleanup } from '../support/store-db.js';

const tsxLoader = pathToFileURL(join(repoRoot, 'node_modules/tsx/dist/loader.mjs')).href;
const src = (path: string) => pathToFileURL(join(repoRoot, 'src', path)).href;

describe('provisioning job streaks', () => {
  let tm: TestMaster | undefined;
  let master: MasterDatabase | undefined;
  const dirs: string[] = [];
  const cleanup = new StoreCleanup();
  afterEach(async () => {
    try {
      await master?.close();
      await cleanup.run();
    } finally {
      await tm?.destroy();
      for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
      tm = undefined;
      master = undefined;
    }
  });

  it('a store that keeps failing has one job row: attempts grow, the last error follows the latest failure, success closes it', async () => {
    tm = await postgresMaster.create();
    master = await tm.open();
    const ctx: MasterContext = { master, keyring: tm.keyring, actor: 'test' };
    const slug = `job-streak-${Date.now().toString(36)}`;
    const declaration = { slug, name: 'Streak shop' };
    // Trust authentication: an admin role that does not exist fails the run at its first step.
    const failingAs = (user: string) => postgresCreateTarget({ admin: { ...postgresEndpoint(), user } });
    cleanup.track(postgresCreateTarget(), slug);

    // The operator's way: each retry passes the job it recorded (status.jobId).
    let jobId: string | undefined;
    for (const user of ['job_nobody_a', 'job_nobody_a', 'job_nobody_b']) {
      const job = await prepareStoreJob(ctx, declaration, { resumeJobId: jobId, adopt: 'any' });
      if (jobId) expect(job.jobId).toBe(jobId);
      jobId = job.jobId;
      await expect(runStoreJob(ctx, job, { target: failingAs(user) })).rejects.toThrow(user);
    }
    const rows = await tm.sql('select id, status, attempts, error, last_error from provisioning_jobs');
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ id: jobId, status: 'failed', attempts: 3 });
    expect(String(rows[0]?.last_error)).toContain('job_nobody_b');
    expect(String(rows[0]?.last_error)).not.toContain('job_nobody_a');

    // The run that succeeds ends the streak in the same row; the streak's last error stays for the record.
    const job = await prepareStoreJob(ctx, declaration, { resumeJobId: jobId, adopt: 'any' });
    expect(job.jobId).toBe(jobId);
    await runStoreJob(ctx, job, { target: postgresCreateTarget() });
    const [done] = await tm.sql('select id, status, attempts, error, error_code, last_error from provisioning_jobs');
    expect(done).toMatchObject({ id: jobId, status: 'succeeded', attempts: 4, error: null, error_code: null });
    expect(String(done?.last_error)).toContain('job_nobody_b');

    // After a success, the next change opens a new job.
    const next = await prepareStoreJob(ctx, declaration, { resumeJobId: jobId, adopt: 'any' });
    expect(next.jobId).not.toBe(jobId);
  });

  it('a job created by a process killed before it ran is adopted by the next `storeop apply`: no job stays queued', async () => {
    tm = await postgresMaster.create();
    const dir = mkdtempSync(join(tmpdir(), 'storeop-job-orphan-'));
    dirs.push(dir);
    const slug = 'job-orphan';
    // A real process registers the store and queues its job, then dies (SIGKILL) before running it.
    const script = join(dir, 'queue-and-die.mts');
    writeFileSync(
      script,
      `import { openMaster } from ${JSON.stringify(src('master/database.ts'))};
import { prepareStoreJob } from ${JSON.stringify(src('stores/provision-store.ts'))};
const master = await openMaster({ url: process.argv[2] });
const job = await prepareStoreJob({ master, keyring: undefined as never, actor: 'test' }, { slug: ${JSON.stringify(slug)}, name: 'Orphan shop', plan: 'starter', source: 'apply' });
process.stdout.write(job.jobId + '\\n');
process.kill(process.pid, 'SIGKILL');
`,
    );
    const child = spawn(nodeBinary, ['--import', tsxLoader, script, tm.url], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    for (const stream of [child.stdout, child.stderr]) stream?.on('data', (d: Buffer) => (output += d.toString()));
    const signal = await new Promise<NodeJS.Signals | null>((resolve) => child.once('close', (_code, s) => resolve(s)));
    expect(signal, output).toBe('SIGKILL');
    const orphanId = output.trim();
    expect(await tm.sql('select id, status, runner from provisioning_jobs')).toEqual([
      { id: orphanId, status: 'queued', runner: `${hostname()}:${child.pid}` },
    ]);

    const manifest = join(dir, 'store.yaml');
    writeFileSync(
      manifest,
      JSON.stringify({
        apiVersion: 'storeop.dev/v1alpha1',
        kind: 'Store',
        metadata: { name: slug },
        // The store lives in the home's stores folder: embedded paths outside it are refused.
        spec: { displayName: 'Orphan shop', plan: 'starter', database: { engine: 'pglite' } },
      }),
    );
    const run = await runCli(
      ['apply', '-f', manifest, '--master-database-url', tm.url],
      { STOREOP_HOME: tm.home, STOREOP_ENCRYPTION_KEYS: tm.keysSpec },
      180_000,
    );
    expect(run.code, `${run.stdout}\n${run.stderr}`).toBe(0);
    const jobs = await tm.sql('select id, status, attempts from provisioning_jobs');
    expect(jobs).toEqual([{ id: orphanId, status: 'succeeded', attempts: 1 }]);
  });

  it('a live process keeps its open job: only jobs whose runner is gone are adopted', async () => {
    tm = await postgresMaster.create();
    master = await tm.open();
    const ctx: MasterContext = { master, keyring: tm.keyring, actor: 'test' };
    const declaration = { slug: 'job-live', name: 'Live shop' };
    const live = await prepareStoreJob(ctx, declaration); // this process: alive
    const again = await prepareStoreJob(ctx, declaration);
    expect(again.jobId).not.toBe(live.jobId);
    const [gone] = await tm.sql(`insert into provisioning_jobs (store_id, status, runner) values ($1, 'queued', $2) returning id`, [
      live.store.id,
      `${hostname()}:999999999`,
    ]);
    const adopted = await prepareStoreJob(ctx, declaration);
    expect(adopted.jobId).toBe(gone?.id);
    const statuses = await tm.sql('select id, status from provisioning_jobs order by created_at');
    expect(statuses).toEqual([
      { id: live.jobId, status: 'queued' },
      { id: again.jobId, status: 'queued' },
      { id: gone?.id, status: 'queued' },
    ]);
  });
});
