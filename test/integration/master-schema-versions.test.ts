// The master DB's record of admitted StoreSchema versions, on a PostgreSQL and an embedded PGlite master:
// admitted once (again is a no-op, also with its maps in another order), immutable (another spec under the
// same version is a Conflict), and an older version still readable after spec.version moved on.
import { afterEach, describe, expect, it } from 'vitest';
import { type StoreSchemaSpec, storeSchemaSpec } from '../../src/api/store-schema.js';
import { isStoreopError } from '../../src/errors.js';
import type { MasterDatabase } from '../../src/master/database.js';
import { admitSchemaVersion, findSchemaVersion, latestSchemaVersion, listSchemaVersions } from '../../src/master/schema-versions.js';
import { MASTER_CASES, type TestMaster } from '../support/master.js';

const spec = (version: string, columns: Record<string, unknown>): StoreSchemaSpec =>
  storeSchemaSpec.parse({ version, tables: { products: { columns: { id: { kind: 'id' }, ...columns } } } });

describe.each(MASTER_CASES)('StoreSchema versions on a $name', (masterCase) => {
  let tm: TestMaster | undefined;
  let master: MasterDatabase | undefined;
  afterEach(async () => {
    await master?.close();
    await tm?.destroy();
    master = undefined;
    tm = undefined;
  });

  it('records each version once with its spec and checksum; an older one stays readable', async () => {
    tm = await masterCase.create();
    master = await tm.open();
    const v1 = spec('1', { sku: { kind: 'string', length: 64 }, price: { kind: 'decimal', precision: 12, scale: 2 } });
    const first = await admitSchemaVersion(master.db, 'catalogue', v1);
    expect(first).toMatchObject({ schemaName: 'catalogue', version: '1', spec: v1 });
    expect(first.checksum).toMatch(/^[0-9a-f]{64}$/);

    // The same spec with its columns in another order is the same version: nothing new is written.
    const reordered = spec('1', { price: { kind: 'decimal', precision: 12, scale: 2 }, sku: { kind: 'string', length: 64 } });
    expect(await admitSchemaVersion(master.db, 'catalogue', reordered)).toEqual(first);

    const v2 = spec('2', {
      sku: { kind: 'string', length: 64 },
      price: { kind: 'decimal', precision: 12, scale: 2 },
      note: { kind: 'text', nullable: true },
    });
    await admitSchemaVersion(master.db, 'catalogue', v2);
    await admitSchemaVersion(master.db, 'other', v1);
    expect((await listSchemaVersions(master.db, 'catalogue')).map((r) => r.version)).toEqual(['1', '2']);
    expect((await latestSchemaVersion(master.db, 'catalogue'))?.version).toBe('2');
    expect((await findSchemaVersion(master.db, 'catalogue', '1'))?.spec).toEqual(v1);
    expect(await findSchemaVersion(master.db, 'catalogue', '3')).toBeUndefined();
    const rows = await tm.sql(`select schema_name, version from store_schema_versions order by schema_name, version`);
    expect(rows).toEqual([
      { schema_name: 'catalogue', version: '1' },
      { schema_name: 'catalogue', version: '2' },
      { schema_name: 'other', version: '1' },
    ]);
  });

  it('refuses another spec under a version already admitted, and keeps the first', async () => {
    tm = await masterCase.create();
    master = await tm.open();
    const v1 = spec('1', { sku: { kind: 'string', length: 64 } });
    await admitSchemaVersion(master.db, 'catalogue', v1);
    const changed = spec('1', { sku: { kind: 'string', length: 128 } });
    const error = await admitSchemaVersion(master.db, 'catalogue', changed).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isStoreopError(error, 'Conflict')).toBe(true);
    expect((error as Error).message).toMatch(
      /^StoreSchema catalogue version 1 was admitted on .* with another spec; a version never changes/,
    );
    expect((await findSchemaVersion(master.db, 'catalogue', '1'))?.spec).toEqual(v1);
  });
});
