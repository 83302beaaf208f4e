// The store service's pure parts, without servers: building an intent (validation, slug, defaults),
// the identity of a database spec and how a change of it is named, and where a target puts a store.
import { describe, expect, it } from 'vitest';
import { withRemovals } from '../../src/controller/store-reconciler.js';
import type { CreateTarget } from '../../src/engines/target.js';
import { assertSameIdentity, IdentityChangedError, identityChanges, identityOf } from '../../src/stores/identity.js';
import { buildIntent, DEFAULT_SETTINGS, describeStore, intentForTarget, knownTarget } from '../../src/stores/intent.js';
import { describePlacement, placement } from '../../src/stores/placement.js';

const admin = { name: 'pg-admin', usernameKey: 'username', passwordKey: 'password' };
const pgDatabase = { engine: 'postgresql', server: { host: 'db.example', adminSecretRef: admin } };
const secrets: Record<string, Record<string, string>> = { 'pg-admin': { username: 'svc_admin', password: 'svc-secret-pw' } };
const readSecret = async (name: string, key: string) => secrets[name]?.[key];

describe('describeStore / buildIntent', () => {
  it('fills every default in one place: plan, currency, locale, seed, mode, isolation, deletion policy, suspend', () => {
    const d = describeStore({ name: 'svc-shop', spec: { displayName: 'Shop' }, database: pgDatabase, source: 'apply' });
    expect(d.slug).toBe('svc-shop');
    expect(d.declaration).toEqual({ slug: 'svc-shop', name: 'Shop', ownerEmail: undefined, plan: 'free', source: 'apply' });
    expect(d.seed).toEqual({ currency: DEFAULT_SETTINGS.currency, locale: DEFAULT_SETTINGS.locale, displayName: 'Shop' });
    expect(DEFAULT_SETTINGS).toEqual({ currency: 'USD', locale: 'en-US' });
    expect(d.suspend).toBe(false);
    expect(d.deletionPolicy).toBe('Retain');
    expect(d.database).toMatchObject({ mode: 'create', seed: true });
    // Isolation stays unset in the spec (a DatabaseServer may give the default); the identity says database.
    expect(d.database.isolation).toBeUndefined();
    expect(d.identity.isolation).toBe('database');
  });

  it('takes settings, plan, suspend and policy as declared, and no seed when seeding is off', () => {
    const d = describeStore({
      name: 'svc-x',
      spec: { displayName: 'X', slug: 'svc-other', plan: 'starter', suspend: true, settings: { currency: 'EUR', locale: 'fr-FR' } },
      database: { ...pgDatabase, deletionPolicy: 'Delete' },
      source: 'api',
    });
    expect(d.slug).toBe('svc-other');
    expect(d.seed).toEqual({ currency: 'EUR', locale: 'fr-FR', displayName: 'X' });
    expect(d).toMatchObject({ suspend: true, deletionPolicy: 'Delete', declaration: { plan: 'starter', source: 'api' } });
    expect(
      describeStore({ name: 'svc-y', spec: { displayName: 'Y' }, database: { ...pgDatabase, seed: false }, source: 'apply' }).seed,
    ).toBe(false);
  });

  it.each([
    ['a dot in metadata.name', 'svc.shop', {}, /^metadata\.name: "svc\.shop" is not a valid store slug.*set spec\.slug$/],
    ['a metadata.name over 41 characters', `svc-${'a'.repeat(40)}`, {}, /^metadata\.name: .* is not a valid store slug/],
    ['an upper-case spec.slug', 'svc-ok', { slug: 'Svc-Shop' }, /^spec\.slug: /],
  ])('refuses %s as InvalidSpec naming the field', (_what, name, extra, message) => {
    const attempt = () => describeStore({ name, spec: { displayName: 'S', ...extra }, database: pgDatabase, source: 'apply' });
    expect(attempt).toThrow(expect.objectContaining({ code: 'InvalidSpec', retryable: false }));
    expect(attempt).toThrow(message);
  });

  it('names the database field relative to where the database spec lives', () => {
    const attempt = (databasePath?: string) =>
      describeStore({
        name: 'svc-s',
        spec: { displayName: 'S' },
        database: { engine: 'oracle' },
        source: 'apply',
        ...(databasePath ? { databasePath } : {}),
      });
    expect(attempt).toThrow(/^spec\.database\.engine: /);
    expect(() => attempt('database')).toThrow(/^database\.engine: /);
    expect(() => describeStore({ name: 'svc-s', spec: { displayName: '' }, database: pgDatabase, source: 'apply' })).toThrow(
      /^spec\.displayName: /,
    );
  });

  it('resolves the target with the Secrets, and names a missing Secret by its field', async () => {
    const intent = await buildIntent({
      name: 'svc-t',
      spec: { displayName: 'T' },
      database: pgDatabase,
      source: 'apply',
      readSecret,
      home: '/tmp/h',
    });
    expect(knownTarget(intent)).toMatchObject({
      engine: 'postgresql',
      mode: 'create',
      admin: { host: 'db.example', port: 5432, user: 'svc_admin' },
    });
    const missing = buildIntent({
      name: 'svc-t',
      spec: { displayName: 'T' },
      database: { ...pgDatabase, server: { host: 'db.example', adminSecretRef: { ...admin, name: 'nope' } } },
      source: 'apply',
      readSecret,
      home: '/tmp/h',
    });
    await expect(missing).rejects.toMatchObject({ code: 'InvalidSpec', retryable: true });
    await expect(missing).rejects.toThrow(/^spec\.database\.server\.adminSecretRef: Secret nope/);
    await expect(missing).rejects.not.toThrow(/svc-secret-pw/);
  });

  it('puts an embedded store under home/stores/SLUG (the stores root is what deprovisioning may remove under)', async () => {
    const intent = await buildIntent({
      name: 'svc-p',
      spec: { displayName: 'P' },
      database: { engine: 'pglite' },
      source: 'apply',
      readSecret,
      home: '/tmp/h',
    });
    expect(knownTarget(intent)).toEqual({ engine: 'pglite', mode: 'create', dataDir: '/tmp/h/stores/svc-p', storesRoot: '/tmp/h/stores' });
  });

  it('intentForTarget derives the resolution and the identity from one target (a connect URL Secret shows in the identity)', () => {
    const description = describeStore({
      name: 'svc-c',
      spec: { displayName: 'C' },
      database: { engine: 'mysql', mode: 'connect', connection: { urlSecretRef: { name: 'u', key: 'url' } } },
      source: 'apply',
    });
    const target = { engine: 'mysql', mode: 'connect', connection: { host: 'h1', port: 3307, user: 'u', database: 'd1' } } as const;
    const intent = intentForTarget(description, target);
    expect(intent.resolution).toEqual({ kind: 'target', target });
    expect(knownTarget(intent)).toBe(target);
    expect(intent.identity).toMatchObject({ 'connection.host': 'h1', 'connection.port': 3307, 'connection.database': 'd1' });
    expect(description.identity).toMatchObject({ 'connection.host': null, 'connection.database': null });
  });

  it('knows no target up front for a staged engine (Supabase: the project comes first)', async () => {
    const intent = await buildIntent({
      name: 'svc-sb',
      spec: { displayName: 'SB' },
      database: {
        engine: 'supabase',
        supabase: { organizationSlug: 'org', accessTokenSecretRef: { name: 'sb', key: 'token' } },
      },
      source: 'apply',
      readSecret: async (name, key) => (name === 'sb' && key === 'token' ? 'sbp-token' : undefined),
      home: '/tmp/h',
    });
    expect(intent.resolution.kind).toBe('staged');
    expect(knownTarget(intent)).toBeUndefined();
  });
});

describe('identity', () => {
  const parse = (database: object) => describeStore({ name: 'svc-i', spec: { displayName: 'I' }, database, source: 'apply' }).database;

  it('fills defaults so that an explicit default is no change', () => {
    expect(
      identityChanges(identityOf(parse(pgDatabase)), identityOf(parse({ ...pgDatabase, server: { ...pgDatabase.server, port: 5432 } }))),
    ).toEqual([]);
    expect(
      identityChanges(identityOf(parse(pgDatabase)), identityOf(parse({ ...pgDatabase, isolation: 'database', mode: 'create' }))),
    ).toEqual([]);
  });

  it('names every changed immutable field with both values', () => {
    const before = identityOf(parse(pgDatabase));
    expect(identityChanges(before, identityOf(parse({ ...pgDatabase, engine: 'mysql' })))).toEqual([
      'spec.engine (was postgresql, now mysql)',
      'spec.server.port (was 5432, now 3306)',
    ]);
    expect(identityChanges(before, identityOf(parse({ ...pgDatabase, databaseName: 'svc_other' })))).toEqual([
      'spec.databaseName (was null, now svc_other)',
    ]);
    expect(identityChanges(before, identityOf(parse({ ...pgDatabase, server: { ...pgDatabase.server, host: 'db2.example' } })))).toEqual([
      'spec.server.host (was db.example, now db2.example)',
    ]);
    expect(identityChanges(identityOf(parse({ engine: 'pglite' })), identityOf(parse({ engine: 'pglite', path: '/srv/x' })))).toEqual([
      'spec.path (was null, now /srv/x)',
    ]);
  });

  it('does not count fields that are not immutable (seed, policy, connection limit, secrets)', () => {
    const before = identityOf(parse(pgDatabase));
    const after = identityOf(
      parse({
        ...pgDatabase,
        seed: false,
        deletionPolicy: 'Delete',
        connectionLimit: 5,
        server: { ...pgDatabase.server, adminSecretRef: { ...admin, name: 'other' } },
      }),
    );
    expect(identityChanges(before, after)).toEqual([]);
  });

  it('takes a connect-mode URL Secret into account through the resolved target', () => {
    const spec = parse({ engine: 'mysql', mode: 'connect', connection: { urlSecretRef: { name: 'u', key: 'url' } } });
    const a = identityOf(spec, { engine: 'mysql', mode: 'connect', connection: { host: 'h1', port: 3306, user: 'u', database: 'd1' } });
    const b = identityOf(spec, { engine: 'mysql', mode: 'connect', connection: { host: 'h1', port: 3306, user: 'u', database: 'd2' } });
    expect(identityChanges(a, b)).toEqual(['spec.connection.database (was d1, now d2)']);
  });

  it('assertSameIdentity refuses a change with an error that names the store and the fields, and accepts no record', () => {
    const before = identityOf(parse(pgDatabase));
    expect(() => assertSameIdentity('svc-i', undefined, before)).not.toThrow();
    expect(() => assertSameIdentity('svc-i', { ...before }, before)).not.toThrow();
    let error: unknown;
    try {
      assertSameIdentity('svc-i', { ...before }, identityOf(parse({ ...pgDatabase, isolation: 'schema' })));
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(IdentityChangedError);
    expect(error).toMatchObject({ code: 'InvalidSpec', retryable: false, changes: ['spec.isolation (was database, now schema)'] });
    expect((error as Error).message).toContain('svc-i');
  });
});

describe('placement', () => {
  const create = (extra: Partial<CreateTarget> = {}): CreateTarget => ({
    engine: 'postgresql',
    mode: 'create',
    admin: { host: 'db.example', port: 5432, user: 'a' },
    ...extra,
  });

  it('derives the database, schema and host a create target gives a store', () => {
    expect(placement(create(), 'svc-pl')).toEqual({
      engine: 'postgresql',
      host: 'db.example',
      port: 5432,
      database: 'store_svc_pl',
      schema: 'public',
    });
    expect(placement(create({ isolation: 'schema' }), 'svc-pl')).toEqual({
      engine: 'postgresql',
      host: 'db.example',
      port: 5432,
      database: 'storeop_stores',
      schema: 'store_svc_pl',
    });
    expect(placement(create({ engine: 'mysql', publicHost: 'public.example', publicPort: 3307 }), 'svc-pl')).toEqual({
      engine: 'mysql',
      host: 'public.example',
      port: 3307,
      database: 'store_svc_pl',
    });
  });

  it('describes connect and embedded placements in one line', () => {
    const connect = placement(
      { engine: 'postgresql', mode: 'connect', connection: { host: 'h', port: 5433, user: 'u', database: 'd' }, schema: 's' },
      'svc-pl',
    );
    expect(describePlacement(connect)).toBe('postgresql h:5433/d schema s');
    expect(describePlacement(placement({ engine: 'pglite', mode: 'create', dataDir: '/data/x' }, 'svc-pl'))).toBe('pglite /data/x');
  });
});

describe('the inline StoreDatabase patch', () => {
  it('removes, with explicit nulls, the fields the inline database no longer has, at any depth', () => {
    const current = {
      engine: 'postgresql',
      databaseName: 'svc_b',
      server: { host: 'h', port: 5432, tls: { enabled: true } },
      storeRef: { name: 's' },
    };
    const desired = { engine: 'postgresql', server: { host: 'h', port: 5432 }, storeRef: { name: 's' } };
    expect(withRemovals(current, desired)).toEqual({
      engine: 'postgresql',
      databaseName: null,
      server: { host: 'h', port: 5432, tls: null },
      storeRef: { name: 's' },
    });
    expect(withRemovals(undefined, desired)).toEqual(desired);
  });
});
