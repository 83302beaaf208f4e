// The credentials API without servers: the connection Secret's optional keys and templates (formats,
// URL-encoding inside URLs only), the validation of writeConnectionSecretToRef and credentials (the field
// named), storeop apply refusing what only the operator does, and when a rotation is due. Real clients use
// these keys in test/e2e/operator-credentials.test.ts.
import { describe, expect, it } from 'vitest';
import { fieldIssues } from '../../src/api/common.js';
import { ROTATE_CREDENTIALS_ANNOTATION } from '../../src/api/credentials.js';
import {
  type StoreDatabase,
  type StoreDatabaseStatus,
  storeDatabaseSpec,
  storeDatabaseTemplateSpec,
} from '../../src/api/store-database.js';
import { parseManifests } from '../../src/apply/manifests.js';
import { rotationDue, untilPeriodicRotation } from '../../src/controller/store-database/credentials.js';
import { dsnOf, extraSecretData, jdbcUrlOf, pgpassOf, renderTemplate, uriOf } from '../../src/engines/connection-strings.js';
import type { TenantConnection } from '../../src/engines/target.js';

const pg: TenantConnection = {
  engine: 'postgresql',
  host: 'db.example.com',
  port: 5432,
  database: 'store_shop',
  schema: 'public',
  user: 'store_shop',
  password: 'p@ss:w/rd?&#%\\',
};
const my: TenantConnection = { ...pg, engine: 'mysql', port: 3306, schema: undefined as never, tls: { rejectUnauthorized: true } };
delete (my as { schema?: string }).schema;

describe('connection Secret formats', () => {
  it('writes uri with sslmode and every credential URL-encoded', () => {
    expect(uriOf(pg)).toBe('postgresql://store_shop:p%40ss%3Aw%2Frd%3F%26%23%25%5C@db.example.com:5432/store_shop?sslmode=disable');
    expect(uriOf({ ...pg, schema: 'store_a', tls: { rejectUnauthorized: false } })).toBe(
      'postgresql://store_shop:p%40ss%3Aw%2Frd%3F%26%23%25%5C@db.example.com:5432/store_shop?sslmode=require&options=-c%20search_path%3Dstore_a',
    );
    expect(uriOf(my)).toBe('mysql://store_shop:p%40ss%3Aw%2Frd%3F%26%23%25%5C@db.example.com:3306/store_shop?ssl-mode=VERIFY_IDENTITY');
  });

  it('writes jdbcUrl with the credentials as encoded parameters', () => {
    const url = new URL(jdbcUrlOf(pg).slice('jdbc:'.length));
    expect(url.protocol).toBe('postgresql:');
    expect(url.searchParams.get('password')).toBe(pg.password);
    expect(url.searchParams.get('user')).toBe('store_shop');
    expect(url.searchParams.get('sslmode')).toBe('disable');
    expect(jdbcUrlOf(my)).toMatch(
      /^jdbc:mysql:\/\/db\.example\.com:3306\/store_shop\?user=store_shop&password=[^&]+&sslMode=VERIFY_IDENTITY$/,
    );
  });

  it('writes a pgpass line with ":" and "\\" escaped, and a Go driver DSN', () => {
    expect(pgpassOf(pg)).toBe('db.example.com:5432:store_shop:store_shop:p@ss\\:w/rd?&#%\\\\');
    expect(dsnOf({ ...my, password: 'secret' })).toBe('store_shop:secret@tcp(db.example.com:3306)/store_shop?tls=true');
    expect(dsnOf({ ...my, host: '::1', tls: undefined as never, password: 'secret' })).toBe('store_shop:secret@tcp([::1]:3306)/store_shop');
  });

  it('renders templates strictly, URL-encoding values only inside a URL', () => {
    expect(renderTemplate('{{ .username }}/{{.password}} at {{ .host }}:{{ .port }}', pg)).toBe(
      `store_shop/${pg.password} at db.example.com:5432`,
    );
    expect(
      renderTemplate('DATABASE_URL=postgres://{{ .username }}:{{ .password }}@{{ .host }}/{{ .database }} pw={{ .password }}', pg),
    ).toBe(`DATABASE_URL=postgres://store_shop:${encodeURIComponent(pg.password as string)}@db.example.com/store_shop pw=${pg.password}`);
    expect(renderTemplate('{{ .url }}', pg)).toBe(
      `postgres://store_shop:${encodeURIComponent(pg.password as string)}@db.example.com:5432/store_shop`,
    );
    expect(() => renderTemplate('{{ .secret }}', pg)).toThrow(/unknown placeholder/);
  });

  it('adds only the keys asked for', () => {
    expect(Object.keys(extraSecretData(pg, { keys: ['pgpass', 'uri'], template: { 'app.env': 'HOST={{ .host }}' } })).sort()).toEqual([
      'app.env',
      'pgpass',
      'uri',
    ]);
    expect(extraSecretData(pg, {})).toEqual({});
  });
});

describe('writeConnectionSecretToRef and credentials validation', () => {
  const issues = (database: Record<string, unknown>) => {
    const parsed = storeDatabaseTemplateSpec.safeParse(database);
    return parsed.success ? [] : fieldIssues(parsed.error, 'spec.database');
  };
  const server = { host: '127.0.0.1', adminSecretRef: { name: 'admin' } };

  it('accepts the fixed keys that fit the engine and templates with known placeholders', () => {
    expect(
      issues({
        engine: 'postgresql',
        server,
        writeConnectionSecretToRef: { name: 'db', keys: ['jdbcUrl', 'pgpass', 'uri'], template: { env: 'U={{ .username }}' } },
        credentials: { rotationPeriod: '720h', readOnlyUser: true },
      }),
    ).toEqual([]);
  });

  it('names the field of an unknown placeholder, an unknown key, a key of the wrong engine and a reserved template key', () => {
    expect(issues({ engine: 'postgresql', server, writeConnectionSecretToRef: { name: 'db', template: { env: '{{ .token }}' } } })).toEqual(
      [
        {
          path: 'spec.database.writeConnectionSecretToRef.template.env',
          message: expect.stringContaining('unknown placeholder {{ .token }}'),
        },
      ],
    );
    expect(
      issues({ engine: 'postgresql', server, writeConnectionSecretToRef: { name: 'db', template: { env: '{{ host }}' } } })[0]?.path,
    ).toBe('spec.database.writeConnectionSecretToRef.template.env');
    expect(issues({ engine: 'postgresql', server, writeConnectionSecretToRef: { name: 'db', keys: ['odbc'] } })[0]?.path).toBe(
      'spec.database.writeConnectionSecretToRef.keys.0',
    );
    expect(issues({ engine: 'postgresql', server, writeConnectionSecretToRef: { name: 'db', keys: ['dsn'] } })).toEqual([
      { path: 'spec.database.writeConnectionSecretToRef.keys.0', message: 'dsn is not available for engine postgresql' },
    ]);
    expect(issues({ engine: 'mysql', server, writeConnectionSecretToRef: { name: 'db', template: { password: 'x' } } })[0]?.path).toBe(
      'spec.database.writeConnectionSecretToRef.template.password',
    );
    expect(issues({ engine: 'mysql', server, writeConnectionSecretToRef: { name: 'db', extra: 1 } })).toEqual([
      { path: 'spec.database.writeConnectionSecretToRef.extra', message: 'unknown field' },
    ]);
  });

  it('refuses a bad rotationPeriod and credentials on a role storeop does not create', () => {
    expect(issues({ engine: 'mysql', server, credentials: { rotationPeriod: '30d' } })[0]?.path).toBe(
      'spec.database.credentials.rotationPeriod',
    );
    expect(issues({ engine: 'mysql', server, credentials: { rotationPeriod: '30s' } })[0]?.message).toBe('must be at least 1m');
    expect(
      issues({ engine: 'postgresql', mode: 'connect', connection: { host: 'h', database: 'd' }, credentials: { rotationPeriod: '1h' } })[0]
        ?.path,
    ).toBe('spec.database.credentials.rotationPeriod');
    expect(issues({ engine: 'postgresql', server, credentials: { readOnlyUser: true } })).toEqual([
      { path: 'spec.database.credentials.readOnlyUser', message: expect.stringContaining('needs writeConnectionSecretToRef') },
    ]);
  });
});

describe('storeop apply and credentials', () => {
  it('refuses spec.database.credentials, naming the document and the field, instead of ignoring it', () => {
    const text = [
      'apiVersion: storeop.dev/v1alpha1',
      'kind: Store',
      'metadata: { name: shop }',
      'spec:',
      '  displayName: Shop',
      '  database:',
      '    engine: mysql',
      '    server: { host: 127.0.0.1, adminSecretRef: { name: admin } }',
      "    credentials: { rotationPeriod: '720h' }",
    ].join('\n');
    expect(() => parseManifests([{ origin: 'shop.yaml', text }])).toThrow(
      /shop\.yaml.*\(Store shop\): spec\.database\.credentials: is handled by the operator \(storeop run\)/,
    );
  });
});

describe('when a rotation is due', () => {
  const spec = (rotationPeriod?: string) =>
    storeDatabaseSpec.parse({
      engine: 'mysql',
      server: { host: '127.0.0.1', adminSecretRef: { name: 'admin' } },
      storeRef: { name: 'shop' },
      ...(rotationPeriod ? { credentials: { rotationPeriod } } : {}),
    });
  const sdb = (annotation: string | undefined, credentials: StoreDatabaseStatus['credentials']): StoreDatabase => ({
    apiVersion: 'storeop.dev/v1alpha1',
    kind: 'StoreDatabase',
    metadata: { name: 'shop', ...(annotation !== undefined ? { annotations: { [ROTATE_CREDENTIALS_ANNOTATION]: annotation } } : {}) },
    spec: spec(),
    status: { credentials },
  });
  const last = '2026-01-01T00:00:00.000Z';
  const at = (iso: string) => Date.parse(iso);

  it('on a new annotation value only', () => {
    expect(rotationDue(sdb('1', { lastRotationTime: last, rotationRequest: '1' }), spec(), at(last))).toBeUndefined();
    expect(rotationDue(sdb('2', { lastRotationTime: last, rotationRequest: '1' }), spec(), at(last))).toBe('requested');
    expect(rotationDue(sdb(undefined, { lastRotationTime: last }), spec(), at('2030-01-01T00:00:00Z'))).toBeUndefined();
  });

  it('once rotationPeriod has passed since the last rotation', () => {
    const object = sdb(undefined, { lastRotationTime: last });
    expect(untilPeriodicRotation(object, spec('1h30m'), at('2026-01-01T01:00:00Z'))).toBe(30 * 60_000);
    expect(rotationDue(object, spec('1h30m'), at('2026-01-01T01:00:00Z'))).toBeUndefined();
    expect(rotationDue(object, spec('1h30m'), at('2026-01-01T01:30:00Z'))).toBe('period');
    // Before the first password is recorded there is nothing to count from.
    expect(rotationDue(sdb(undefined, {}), spec('1m'), at('2030-01-01T00:00:00Z'))).toBeUndefined();
  });
});
