// storeop import's mapping (validated YAML, defaults for the platform's shape) and how one legacy row becomes a
// Store in connect mode and its Secret, or a reason that names the field and never a credential.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { storeSpec } from '../../src/api/store.js';
import { legacyLocation } from '../../src/import/legacy-source.js';
import { DEFAULT_MAPPING, loadMapping } from '../../src/import/mapping.js';
import { recordOf } from '../../src/import/records.js';

const dir = mkdtempSync(join(tmpdir(), 'storeop-import-unit-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function mappingFile(text: string): string {
  const file = join(dir, `mapping-${Math.random().toString(36).slice(2)}.yaml`);
  writeFileSync(file, text);
  return file;
}

const SECRET = 'Unit-S3cret-value';
const row = (overrides: Record<string, unknown> = {}, config: unknown = {}) => ({
  id: '7',
  slug: 'corner-shop',
  name: 'Corner Shop',
  owner: 'owner@example.com',
  plan: 'starter',
  databaseType: 'postgresql',
  status: 'active',
  configs: [
    {
      type: 'postgresql',
      active: true,
      data: JSON.stringify({
        host: 'db.internal',
        port: 5433,
        database: 'corner',
        username: 'corner',
        password: SECRET,
        ...(config as object),
      }),
    },
  ],
  ...overrides,
});

describe('import mapping', () => {
  it('defaults to the platform shape', () => {
    expect(loadMapping(undefined)).toEqual(DEFAULT_MAPPING);
    expect(DEFAULT_MAPPING.stores).toMatchObject({
      table: 'stores',
      columns: { slug: 'slug', plan: 'subscription_plan', databaseType: 'database_type' },
    });
    expect(DEFAULT_MAPPING.configs.paths).toMatchObject({ user: 'username', projectUrl: 'projectUrl' });
  });

  it('reads a mapping file, keeping defaults for what it leaves out, and table flags override it', () => {
    const file = mappingFile('stores:\n  table: shops\n  columns: { slug: handle, owner: null }\nconfigs:\n  paths: { host: db.host }\n');
    const mapping = loadMapping(file, { configs: 'platform.shop_dbs' });
    expect(mapping.stores.table).toBe('shops');
    expect(mapping.stores.columns).toMatchObject({ slug: 'handle', owner: null, name: 'name' });
    expect(mapping.configs.table).toBe('platform.shop_dbs');
    expect(mapping.configs.paths).toMatchObject({ host: 'db.host', port: 'port' });
  });

  it.each([
    ['stores:\n  colums: {}\n', 'stores.colums: unknown field'],
    ['stores:\n  columns: { slug: "slug; drop table stores" }\n', 'stores.columns.slug: must be a plain SQL name'],
    ['configs:\n  paths: { host: "a..b" }\n', 'configs.paths.host: must be a dotted JSON path'],
    ['engines: { pg: oracle }\n', 'engines.pg:'],
  ])('refuses %j naming the field', (text, message) => {
    expect(() => loadMapping(mappingFile(text))).toThrow(message);
  });

  it('refuses a table flag that is not a plain name', () => {
    expect(() => loadMapping(undefined, { stores: 'stores where 1=1' })).toThrow('--stores-table: must be a plain SQL table name');
  });

  it('accepts only postgres://, mysql:// and sqlite:// legacy databases', () => {
    expect(legacyLocation('sqlite://./platform.db')).toMatchObject({ kind: 'sqlite' });
    expect(legacyLocation('mysql://u:p@h/platform')).toMatchObject({ kind: 'network', dialect: 'mysql' });
    expect(() => legacyLocation('pglite://x')).toThrow('--from must be');
    expect(() => legacyLocation('postgres://u:p@h')).toThrow('--from must be');
  });
});

describe('a legacy row', () => {
  it('becomes a connect-mode Store whose credentials are only in its Secret', () => {
    const record = recordOf(DEFAULT_MAPPING, row());
    expect(record.kind).toBe('store');
    if (record.kind !== 'store') return;
    expect(storeSpec.safeParse(record.store.spec).success).toBe(true);
    expect(record.store.spec).toEqual({
      displayName: 'Corner Shop',
      owner: 'owner@example.com',
      plan: 'starter',
      database: {
        engine: 'postgresql',
        mode: 'connect',
        connection: { host: 'db.internal', port: 5433, database: 'corner', credentialsSecretRef: { name: 'corner-shop-db-credentials' } },
      },
    });
    expect(JSON.stringify(record.store)).not.toContain(SECRET);
    expect(record.secret.stringData).toEqual({ username: 'corner', password: SECRET });
    expect(record.store.metadata.annotations).toEqual({ 'storeop.dev/legacy-id': '7' });
  });

  it('keeps an owner id that is not an email as an annotation, and a suspended store suspended', () => {
    const record = recordOf(DEFAULT_MAPPING, row({ owner: 'a1b2', status: 'suspended' }));
    if (record.kind !== 'store') throw new Error(JSON.stringify(record));
    expect(record.store.spec.owner).toBeUndefined();
    expect(record.store.spec.suspend).toBe(true);
    expect(record.store.metadata.annotations['storeop.dev/legacy-owner']).toBe('a1b2');
  });

  it('maps a Supabase project to connect mode with its keys in the Secret', () => {
    const record = recordOf(
      DEFAULT_MAPPING,
      row({
        databaseType: 'supabase-database',
        configs: [
          {
            type: 'supabase-database',
            active: 1,
            data: { projectUrl: 'https://abcdefghijklmnopqrst.supabase.co', serviceRoleKey: SECRET, databasePassword: `${SECRET}-db` },
          },
        ],
      }),
    );
    if (record.kind !== 'store') throw new Error(JSON.stringify(record));
    expect(record.store.spec.database).toEqual({
      engine: 'supabase',
      mode: 'connect',
      supabase: {
        projectRef: 'abcdefghijklmnopqrst',
        databasePasswordSecretRef: { name: 'corner-shop-db-credentials', key: 'password' },
        serviceRoleKeySecretRef: { name: 'corner-shop-db-credentials', key: 'service-role-key' },
      },
    });
    expect(record.secret.stringData).toEqual({ password: `${SECRET}-db`, 'service-role-key': SECRET });
    expect(JSON.stringify(record.store)).not.toContain(SECRET);
  });

  it.each([
    [{ slug: 'Not A Slug' }, undefined, 'stores.slug "Not A Slug" is not a valid store slug'],
    [{ plan: 'platinum' }, undefined, 'stores.subscription_plan "platinum" is not one of free, starter, professional, enterprise'],
    [{ databaseType: 'oracle' }, undefined, 'stores.database_type "oracle" is not one of'],
    [{ configs: [] }, undefined, 'no active integration_configs row of type postgresql'],
    [{}, { host: undefined }, 'config_data has no host'],
    [{}, { host: 'bad host!' }, 'spec.database.connection.host: must be a host name or IP address'],
    [{}, { port: 'x' }, 'config_data port is not a port number'],
    [{ configs: [{ type: 'postgresql', active: true, data: `{"password": "${SECRET}"` }] }, undefined, 'config_data is not valid JSON'],
  ])('with %j %j is refused: %s', (overrides, config, problem) => {
    const record = recordOf(DEFAULT_MAPPING, row(overrides, config));
    expect(record.kind).toBe('invalid');
    if (record.kind !== 'invalid') return;
    expect(record.problem).toContain(problem);
    expect(record.problem).not.toContain(SECRET);
  });

  it('uses only the active config of the store type', () => {
    const configs = [
      { type: 'postgresql', active: false, data: { host: 'old.internal', database: 'old', username: 'u', password: 'p' } },
      { type: 'mysql', active: true, data: { host: 'other.internal', database: 'other', username: 'u', password: 'p' } },
      { type: 'postgresql', active: 't', data: { host: 'new.internal', database: 'new', username: 'u', password: 'p' } },
    ];
    const record = recordOf(DEFAULT_MAPPING, row({ configs }));
    if (record.kind !== 'store') throw new Error(JSON.stringify(record));
    expect(record.store.spec.database).toMatchObject({ connection: { host: 'new.internal', database: 'new' } });
  });
});
