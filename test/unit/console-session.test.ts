// The console's server-side pieces that need no server: session expiry (absolute and idle), CSRF token
// comparison, which paths the console answers (the JSON API's are never its), and how the new-store form
// becomes the JSON API's provision request (the API's own rules, messages on the right field, no secret kept).
import { describe, expect, it } from 'vitest';
import { isConsolePath } from '../../src/http/console/console.js';
import { databaseOfIdentity, newStoreForm, provisionRequestOf } from '../../src/http/console/forms.js';
import { SessionStore } from '../../src/http/console/session.js';
import type { DatabaseIdentity } from '../../src/stores/identity.js';

describe('console sessions', () => {
  it('end after the idle time without use and after the absolute lifetime however used', () => {
    let now = 0;
    const store = new SessionStore({ absoluteMs: 1000, idleMs: 300 }, () => now);
    const idle = store.create('ci');
    now = 301;
    expect(store.touch(idle.id)).toBeUndefined();
    const busy = store.create('ci');
    for (now = 301; now <= 1301; now += 200) expect(store.touch(busy.id)?.tokenName).toBe('ci');
    now = 1400;
    expect(store.touch(busy.id)).toBeUndefined();
  });

  it('have random ids and CSRF tokens, and end on sign-out', () => {
    const store = new SessionStore();
    const a = store.create('one');
    const b = store.create('one');
    expect(a.id).not.toBe(b.id);
    expect(a.csrf).not.toBe(b.id);
    expect(a.id).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(SessionStore.csrfMatches(a, a.csrf)).toBe(true);
    expect(SessionStore.csrfMatches(a, b.csrf)).toBe(false);
    expect(SessionStore.csrfMatches(a, undefined)).toBe(false);
    expect(SessionStore.csrfMatches(a, `${a.csrf}x`)).toBe(false);
    store.end(a.id);
    expect(store.touch(a.id)).toBeUndefined();
    expect(store.alive(b.id)).toBe(true);
  });
});

describe('console paths', () => {
  it('are its pages, assets and streams, never the JSON API or other endpoints', () => {
    for (const path of [
      '/',
      '/stores/new',
      '/stores/shop',
      '/jobs/x',
      '/events/stores',
      '/rollouts',
      '/sign-in',
      '/sign-out',
      '/assets/console.js',
    ])
      expect(isConsolePath(path), path).toBe(true);
    for (const path of ['/v1/stores', '/v1/openapi.json', '/healthz', '/metrics', '/storesx', '/signin'])
      expect(isConsolePath(path), path).toBe(false);
  });
});

const form = (fields: Record<string, string>) => newStoreForm.parse({ _csrf: 't', ...fields });

describe('the new-store form', () => {
  it('becomes the provision request of an embedded store', () => {
    const built = provisionRequestOf(form({ displayName: 'Shop', slug: 'shop-one', option: 'create', target: 'embedded' }));
    expect(built).toEqual({
      request: expect.objectContaining({ store: expect.objectContaining({ slug: 'shop-one', displayName: 'Shop' }) }),
    });
    expect('request' in built && built.request.database.engine).toBe('pglite');
  });

  it('puts the API rule of a bad slug and a missing host on their fields', () => {
    const built = provisionRequestOf(
      form({ displayName: 'Shop', slug: 'Bad_Slug', option: 'create', target: 'postgresql', serverPort: 'x' }),
    );
    expect(built).toEqual({
      errors: expect.objectContaining({
        slug: expect.stringContaining('2-41 characters'),
        serverHost: 'is required',
        serverPort: expect.any(String),
      }),
    });
  });

  it('carries connect-mode credentials only in the one-job secrets', () => {
    const built = provisionRequestOf(
      form({
        displayName: 'Shop',
        slug: 'shop-two',
        option: 'connect',
        connectEngine: 'mysql',
        connHost: 'db',
        connDatabase: 'legacy',
        connUser: 'u',
        connPassword: 'p',
      }),
    );
    if (!('request' in built)) throw new Error(JSON.stringify(built.errors));
    expect(built.request.secrets).toEqual({ store: { username: 'u', password: 'p' } });
    expect(JSON.stringify(built.request.database)).not.toContain('"p"');
  });

  it('refuses unknown fields', () => {
    expect(newStoreForm.safeParse({ _csrf: 't', displayName: 'x', isAdmin: 'yes' }).success).toBe(false);
  });
});

describe('acting on a store again', () => {
  it('rebuilds its database spec from the recorded identity, keeping its deletion policy', () => {
    const identity: DatabaseIdentity = {
      engine: 'postgresql',
      mode: 'create',
      'server.host': '127.0.0.1',
      'server.port': 5432,
      databaseName: null,
      isolation: 'database',
      'connection.host': null,
      'connection.port': null,
      'connection.database': null,
      'connection.schema': null,
      path: null,
      'supabase.projectRef': null,
      'supabase.organizationSlug': null,
    };
    const rebuilt = databaseOfIdentity(identity, { username: 'admin', password: 'pw' }, 'Delete');
    expect(rebuilt?.database).toMatchObject({
      engine: 'postgresql',
      mode: 'create',
      server: { host: '127.0.0.1', port: 5432 },
      deletionPolicy: 'Delete',
    });
    expect(rebuilt?.secrets).toEqual({ admin: { username: 'admin', password: 'pw' } });
    expect(databaseOfIdentity({ ...identity, engine: 'supabase' }, {})).toBeUndefined();
  });
});
