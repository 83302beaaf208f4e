// Issue 12, finding 2: an embedded (PGlite) store could be placed at any path, the master database's
// folder included, and `deletionPolicy: Delete` would remove whatever folder the spec named. An embedded
// store now lives in <home>/stores/<slug> (symlinks resolved), the HTTP API refuses `path`, cleanup removes
// only the store's own folder, and an operator refuses pglite unless a volume (--pglite-home) is configured.
import { existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type StoreDatabaseTemplateSpec, storeDatabaseTemplateSpec } from '../../src/api/store-database.js';
import { engineFor } from '../../src/engines/index.js';
import type { PgliteTarget } from '../../src/engines/target.js';
import { isStoreopError } from '../../src/errors.js';
import { createApi } from '../../src/http/app.js';
import { TokenVerifier } from '../../src/http/auth.js';
import { LocalProvisioner } from '../../src/http/provisioner.js';
import { createLogger } from '../../src/log.js';
import type { MasterDatabase } from '../../src/master/database.js';
import { resolveTarget } from '../../src/stores/resolve-target.js';
import { pgliteMaster, type TestMaster } from '../support/master.js';
import { kubectl, type OperatorEnvironment, operatorEnvironment } from '../support/operator.js';

const noSecrets = async () => undefined;
const pgliteSpec = (extra: Record<string, unknown> = {}): StoreDatabaseTemplateSpec =>
  storeDatabaseTemplateSpec.parse({ engine: 'pglite', ...extra });

async function failure(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => {
      throw new Error('expected a failure, but it succeeded');
    },
    (error: unknown) => error,
  );
}

describe('where an embedded store may live', () => {
  let home: string;
  let outside: string;

  beforeAll(() => {
    home = mkdtempSync(join(tmpdir(), 'bnd-home-'));
    outside = mkdtempSync(join(tmpdir(), 'bnd-outside-'));
    mkdirSync(join(home, 'master'), { recursive: true });
  });
  afterAll(() => {
    rmSync(home, { recursive: true, force: true });
    rmSync(outside, { recursive: true, force: true });
  });

  it('defaults to <home>/stores/<slug> and accepts a folder inside it', async () => {
    const plain = await resolveTarget(pgliteSpec(), noSecrets, { home, slug: 'bnd-plain' });
    expect(plain).toMatchObject({ engine: 'pglite', dataDir: join(home, 'stores', 'bnd-plain'), storesRoot: join(home, 'stores') });
    const nested = await resolveTarget(pgliteSpec({ path: 'bnd-nested/data' }), noSecrets, { home, slug: 'bnd-nested' });
    expect(nested).toMatchObject({ dataDir: join(home, 'stores', 'bnd-nested', 'data') });
  });

  it.each([
    ['the master database folder', () => join(home, 'master')],
    ['the master folder, relatively', () => '../master'],
    ['the stores folder itself', () => join(home, 'stores')],
    ['another store’s folder', () => 'bnd-victim'],
    ['a folder elsewhere on disk', () => join(outside, 'anywhere')],
    ['a system folder', () => '/etc'],
  ])('refuses %s with InvalidSpec naming spec.path', async (_what, path) => {
    const error = await failure(resolveTarget(pgliteSpec({ path: path() }), noSecrets, { home, slug: 'bnd-mine' }));
    expect(isStoreopError(error, 'InvalidSpec'), String(error)).toBe(true);
    expect((error as Error).message).toMatch(/^spec\.path: /);
    expect((error as Error).message).toContain(join(home, 'stores', 'bnd-mine'));
  });

  it('resolves symlinks: a store folder that links out of <home>/stores is refused, even at the default path', async () => {
    mkdirSync(join(home, 'stores'), { recursive: true });
    symlinkSync(join(home, 'master'), join(home, 'stores', 'bnd-linked'));
    symlinkSync(join(outside, 'missing'), join(home, 'stores', 'bnd-dangling')); // dangling: cannot be trusted either
    for (const [slug, path] of [
      ['bnd-linked', undefined],
      ['bnd-linked', 'bnd-linked/data'],
      ['bnd-dangling', undefined],
    ] as const) {
      const error = await failure(resolveTarget(pgliteSpec(path ? { path } : {}), noSecrets, { home, slug }));
      expect(isStoreopError(error, 'InvalidSpec'), `${slug} ${path}: ${error}`).toBe(true);
    }
    expect(existsSync(join(outside, 'missing'))).toBe(false);
  });

  it('refuses pglite where no folder is configured for embedded stores (an operator without --pglite-home)', async () => {
    const error = await failure(resolveTarget(pgliteSpec(), noSecrets, { home: undefined, slug: 'bnd-novolume' }));
    expect(isStoreopError(error, 'InvalidSpec')).toBe(true);
    expect((error as Error).message).toContain('--pglite-home');
  });

  it('cleanup removes only the store’s own folder under <home>/stores: anything else is refused and kept', async () => {
    const victim = join(outside, 'precious');
    mkdirSync(victim, { recursive: true });
    writeFileSync(join(victim, 'data.txt'), 'keep me');
    const pglite = engineFor('pglite');
    const targets: PgliteTarget[] = [
      { engine: 'pglite', mode: 'create', dataDir: victim }, // no stores root: nothing is known to be storeop's
      { engine: 'pglite', mode: 'create', dataDir: victim, storesRoot: join(home, 'stores') },
      { engine: 'pglite', mode: 'create', dataDir: join(home, 'master'), storesRoot: join(home, 'stores') },
      { engine: 'pglite', mode: 'create', dataDir: join(home, 'stores', 'bnd-linked'), storesRoot: join(home, 'stores') },
    ];
    for (const target of targets) {
      const slug = target.dataDir.endsWith('bnd-linked') ? 'bnd-linked' : 'bnd-clean';
      expect(await failure(pglite.deprovision(target, slug)), target.dataDir).toMatchObject({ code: 'InvalidSpec' });
    }
    expect(existsSync(join(victim, 'data.txt'))).toBe(true);
    expect(existsSync(join(home, 'master'))).toBe(true);

    const own = await resolveTarget(pgliteSpec(), noSecrets, { home, slug: 'bnd-clean' });
    mkdirSync((own as PgliteTarget).dataDir, { recursive: true });
    await pglite.deprovision(own, 'bnd-clean');
    expect(existsSync((own as PgliteTarget).dataDir)).toBe(false);
  });
});

describe('the standalone HTTP API and embedded paths', () => {
  const token = 'bnd-embedded-paths-token-0123456789';
  let testMaster: TestMaster;
  let master: MasterDatabase;
  let provisioner: LocalProvisioner;
  let app: ReturnType<typeof createApi>;

  beforeAll(async () => {
    testMaster = await pgliteMaster.create(); // the master lives in <home>/master, as by default
    master = await testMaster.open();
    const ctx = { master, keyring: testMaster.keyring, actor: 'api' };
    const log = createLogger({ level: 'silent' });
    provisioner = new LocalProvisioner({ master: ctx, log, home: testMaster.home });
    app = createApi({ master: ctx, tokens: new TokenVerifier([TokenVerifier.hash(token)]), provisioner, log });
  });
  afterAll(async () => {
    await provisioner?.drain();
    await master?.close();
    await testMaster?.destroy();
  });

  const post = (body: unknown) =>
    app.request('/v1/provision', {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });

  it('refuses database.path with 400 naming the field: no store lands in the master database or anywhere else', async () => {
    const outside = join(tmpdir(), `bnd-api-outside-${process.pid}`);
    for (const path of [join(testMaster.home, 'master'), outside, 'bnd-api-path']) {
      const response = await post({ store: { slug: 'bnd-api-path', displayName: 'Path' }, database: { engine: 'pglite', path } });
      expect(response.status, path).toBe(400);
      const problem = (await response.json()) as { issues: Array<{ path: string; message: string }> };
      expect(problem.issues.map((i) => i.path)).toEqual(['database.path']);
    }
    await provisioner.drain();
    expect(existsSync(outside)).toBe(false);
    const storeTables = await testMaster.sql(
      "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' AND table_name IN ('products', 'orders', 'store_settings')",
    );
    expect(storeTables).toEqual([]);
    expect(await testMaster.sql("SELECT slug FROM stores WHERE slug = 'bnd-api-path'")).toEqual([]);
  });

  it('still provisions an embedded store without a path, in <home>/stores/<slug>', async () => {
    const response = await post({ store: { slug: 'bnd-api-plain', displayName: 'Plain' }, database: { engine: 'pglite', seed: false } });
    expect(response.status).toBe(202);
    const { jobId } = (await response.json()) as { jobId: string };
    let status: { status: string; error: string | null } | undefined;
    const deadline = Date.now() + 120_000;
    while (Date.now() < deadline) {
      status = (await (await app.request(`/v1/provision/${jobId}/status`, { headers: { authorization: `Bearer ${token}` } })).json()) as {
        status: string;
        error: string | null;
      };
      if (status.status === 'succeeded' || status.status === 'failed') break;
      await sleep(250);
    }
    expect(status).toMatchObject({ status: 'succeeded' });
    expect(existsSync(join(testMaster.home, 'stores', 'bnd-api-plain'))).toBe(true);
  });
});

describe('the operator and embedded stores', () => {
  let env: OperatorEnvironment | undefined;

  beforeAll(async () => {
    env = await operatorEnvironment('bnd-embedded');
  });
  afterAll(async () => {
    await env?.tearDown();
  });

  interface Condition {
    type: string;
    status: string;
    reason: string;
    message: string;
  }
  async function readyCondition(name: string, namespace: string): Promise<Condition | undefined> {
    const { stdout } = await kubectl(['-n', namespace, 'get', 'storedatabase', name, '-o', 'json']).catch(() => ({ stdout: '{}' }));
    const sdb = JSON.parse(stdout) as { status?: { conditions?: Condition[] } };
    return sdb.status?.conditions?.find((c) => c.type === 'Ready');
  }
  async function waitForReady(name: string, namespace: string, until: (c: Condition) => boolean): Promise<Condition> {
    const deadline = Date.now() + 150_000;
    let last: Condition | undefined;
    while (Date.now() < deadline) {
      last = await readyCondition(name, namespace);
      if (last && until(last)) return last;
      await sleep(500);
    }
    throw new Error(`StoreDatabase ${name}: Ready is ${JSON.stringify(last)}`);
  }
  const store = (name: string, database: Record<string, unknown>) =>
    JSON.stringify({
      apiVersion: 'storeop.dev/v1alpha1',
      kind: 'Store',
      metadata: { name },
      spec: { displayName: name, database: { seed: false, ...database } },
    });

  it('refuses pglite with a clear InvalidSpec reason unless a volume is configured, and keeps stores inside it when one is', async () => {
    if (!env) throw new Error('no environment');
    const { namespace, home } = env;
    const outside = join(tmpdir(), `bnd-op-outside-${process.pid}`);
    const first = await env.start(); // no --pglite-home
    await kubectl(['-n', namespace, 'apply', '-f', '-'], store('bnd-novolume', { engine: 'pglite' }));
    const refused = await waitForReady('bnd-novolume', namespace, (c) => c.status === 'False' && c.reason === 'InvalidSpec');
    expect(refused.message).toContain('--pglite-home');
    expect(existsSync(join(home, 'stores'))).toBe(false);
    await first.stop();

    const volume = mkdtempSync(join(tmpdir(), 'bnd-volume-'));
    try {
      await env.start({ args: ['--pglite-home', volume] });
      await kubectl(['-n', namespace, 'apply', '-f', '-'], store('bnd-escape', { engine: 'pglite', path: outside }));
      const escaping = await waitForReady('bnd-escape', namespace, (c) => c.status === 'False' && c.reason === 'InvalidSpec');
      expect(escaping.message).toMatch(/^spec\.path: /);
      expect(existsSync(outside)).toBe(false);
      // The store refused before now has its volume: a new operator process provisions it there.
      await waitForReady('bnd-novolume', namespace, (c) => c.status === 'True');
      expect(existsSync(join(volume, 'stores', 'bnd-novolume'))).toBe(true);
    } finally {
      rmSync(volume, { recursive: true, force: true });
    }
  }, 300_000);
});
