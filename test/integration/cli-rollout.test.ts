// `storeop rollout status|pause|resume` without a cluster: against the master DB that holds the rollout
// state (as `storeop apply`), with the flags validated (a bad one is one line naming it, exit 2).
import { afterEach, describe, expect, it } from 'vitest';
import { storeSchemaSpec } from '../../src/api/store-schema.js';
import type { MasterDatabase } from '../../src/master/database.js';
import {
  admitStores,
  findRollout,
  recordProgress,
  recordSchemaApplied,
  recordSchemaFailed,
  recordStoreLabels,
  startRollout,
} from '../../src/master/rollouts.js';
import { admitSchemaVersion } from '../../src/master/schema-versions.js';
import { setDatabaseFacts, upsertStore } from '../../src/master/stores.js';
import { postgresMaster, runCli, type TestMaster } from '../support/master.js';

describe('storeop rollout without a cluster', () => {
  let tm: TestMaster | undefined;
  let master: MasterDatabase | undefined;
  afterEach(async () => {
    await master?.close();
    await tm?.destroy();
    tm = undefined;
    master = undefined;
  });

  it('shows a rollout with its stages and failures, pauses it and resumes it (failed stores are retried)', async () => {
    tm = await postgresMaster.create();
    master = await tm.open();
    const db = master.db;
    const a = await upsertStore(db, { slug: `ro-a-${Date.now().toString(36)}`, name: 'A' });
    const b = await upsertStore(db, { slug: `ro-b-${Date.now().toString(36)}`, name: 'B' });
    // Two stores at version 1 of catalogue, both labelled for its canary stage (as storeop apply records them).
    const spec = (version: string) =>
      storeSchemaSpec.parse({
        version,
        tables: { products: { columns: { id: { kind: 'id' } } } },
        rollout: { stages: [{ name: 'canary', selector: { matchLabels: { 'storeop.dev/canary': 'true' } } }] },
      });
    for (const store of [a, b]) {
      await setDatabaseFacts(db, store.id, { status: 'active' });
      await recordSchemaApplied(db, store.id, 'catalogue', '1');
      await recordStoreLabels(db, store.id, { 'storeop.dev/canary': 'true' });
    }
    await admitSchemaVersion(db, 'catalogue', spec('1'));
    await admitSchemaVersion(db, 'catalogue', spec('2'));
    await startRollout(db, 'catalogue', '1');
    await startRollout(db, 'catalogue', '2');
    await admitStores(db, 'catalogue', '2', [
      { storeId: a.id, stage: 'canary' },
      { storeId: b.id, stage: 'canary' },
    ]);
    await recordSchemaFailed(db, a.id, 'catalogue', '2', { reason: 'SchemaConflict', message: 'products.note is integer' });
    await recordProgress(db, 'catalogue', { startedStage: 'canary', awaitingStage: null, complete: false, halted: true });
    const flags = ['--master-database-url', tm.url];

    const status = await runCli(['rollout', 'status', 'catalogue', ...flags]);
    expect(status, status.stderr).toMatchObject({ code: 0 });
    expect(status.stdout).toMatch(/^StoreSchema catalogue: version 2, Paused \(FailureBudgetExceeded\)\n/);
    expect(status.stdout).toMatch(/canary\s+2\s+0\s+1\s+1/);
    expect(status.stdout).toContain('products.note is integer');
    const json = await runCli(['rollout', 'status', 'catalogue', '-o', 'json', ...flags]);
    expect(JSON.parse(json.stdout)).toMatchObject({
      schema: 'catalogue',
      version: '2',
      phase: 'Paused',
      failedStores: [{ store: a.slug, stage: 'canary', reason: 'SchemaConflict' }],
    });

    const paused = await runCli(['rollout', 'pause', 'catalogue', ...flags]);
    expect(paused, paused.stderr).toMatchObject({ code: 0, stdout: 'StoreSchema catalogue: paused\n' });
    expect(await findRollout(db, 'catalogue')).toMatchObject({ paused: true, halted: true });

    // Without a cluster, resume lifts the pause and the budget, retries the failed store and runs the rollout
    // on. These stores have no database configured here, so both fail and the budget stops it again.
    const resumed = await runCli(['rollout', 'resume', 'catalogue', ...flags], { STOREOP_ENCRYPTION_KEYS: tm.keysSpec });
    expect(resumed.code, resumed.stderr).toBe(1);
    expect(resumed.stdout).toMatch(/^StoreSchema catalogue: resumed\n/);
    expect(resumed.stdout).toContain(`store ${a.slug}: version 2 of StoreSchema catalogue failed (NoDatabaseConfigured)`);
    expect(resumed.stdout).toMatch(/version 2, Paused \(FailureBudgetExceeded\)/);
    expect(await findRollout(db, 'catalogue')).toMatchObject({ paused: false, halted: true, previous_version: '1' });
    const rows = await db.selectFrom('schema_rollout_stores').select(['store_id', 'state', 'reason']).orderBy('store_id').execute();
    expect(rows).toEqual(
      [a, b]
        .map((s) => ({ store_id: s.id, state: 'failed', reason: 'NoDatabaseConfigured' }))
        .sort((x, y) => x.store_id.localeCompare(y.store_id)),
    );
  });

  it('refuses bad input with one line naming it, and reports a schema without a rollout', async () => {
    tm = await postgresMaster.create();
    master = await tm.open();
    const cases: Array<[string[], RegExp]> = [
      [['rollout', 'restart', 'catalogue'], /expected "status", "pause" or "resume"/],
      [['rollout', 'status'], /status: give the StoreSchema name/],
      [['rollout', 'status', 'Not_A_Name'], /SCHEMA: must be a lowercase DNS-1123 name/],
      [['rollout', 'status', 'catalogue', '--colour'], /unknown flag --colour/],
      [['rollout', 'status', 'catalogue', '-o', 'xml'], /--output: /],
      [['rollout', 'pause', 'catalogue', '--kubeconfig', '/nowhere', '--home', '/tmp'], /exclude each other/],
    ];
    for (const [args, message] of cases) {
      const run = await runCli(args);
      expect(run.code, args.join(' ')).toBe(2);
      expect(run.stderr, args.join(' ')).toMatch(message);
      expect(run.stderr).not.toMatch(/\n\s+at /); // never a stack trace
    }
    const missing = await runCli(['rollout', 'status', 'nothing-here', '--master-database-url', tm.url]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/no rollout of StoreSchema nothing-here/);
  });
});
