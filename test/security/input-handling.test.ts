// Input handling at every boundary (issue 12, finding 11), from outside: the storeop CLI as a child process
// and `storeop api` as a real server. Unknown fields are refused with their path (as `kubectl apply` does
// with strict field validation), hostile YAML (alias bombs, huge maps, deep nesting, oversized files) is
// refused with the file and document named, Secret keys never reach inherited object members, and bad
// command names and environment values are errors that name them.
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { storeSpec } from '../../src/api/store.js';
import { storeDatabaseSpec } from '../../src/api/store-database.js';
import { secretValue } from '../../src/kube/client.js';
import { postgresEndpoint } from '../support/store-db.js';
import { type ApiProcess, describeRun, inpSlug, sha256, startApi, storeop } from './input-support.js';

const server = postgresEndpoint();
const dirs: string[] = [];

function freshDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'storeop-inp-'));
  dirs.push(dir);
  return dir;
}

afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

/** Applies `yaml` as `file` in a fresh directory; expects a refusal that changed nothing, returns its lines. */
async function refused(file: string, yaml: string): Promise<string[]> {
  const dir = freshDir();
  writeFileSync(join(dir, file), yaml);
  const run = await storeop(['apply', '-f', file], { cwd: dir });
  expect(run.code, describeRun(run)).toBe(1);
  expect(run.stderr, describeRun(run)).not.toContain('unexpected error');
  const lines = run.stderr.trimEnd().split('\n');
  expect(lines.at(-1)).toBe('storeop apply: nothing was changed');
  // Refused before anything was opened: not even the embedded master database was created.
  expect(existsSync(join(dir, '.storeop')), 'a refused apply created .storeop').toBe(false);
  return lines.slice(0, -1);
}

const pgliteStore = (slug: string, spec = '', database = '') => `apiVersion: storeop.dev/v1alpha1
kind: Store
metadata:
  name: ${slug}
spec:
  displayName: Shop ${slug}
${spec}  database:
    engine: pglite
${database}`;

describe('unknown fields are refused with their path, as kubectl apply does', () => {
  const slug = inpSlug();
  const cases: Array<{ name: string; yaml: string; line: string }> = [
    {
      name: 'a typo in the inline database (deletionPolcy)',
      yaml: pgliteStore(slug, '', '    deletionPolcy: Delete\n'),
      line: `inp.yaml: document 1 (Store ${slug}): spec.database.deletionPolcy: unknown field`,
    },
    {
      name: 'a typo in the Store spec (ownr)',
      yaml: pgliteStore(slug, '  ownr: owner@example.com\n'),
      line: `inp.yaml: document 1 (Store ${slug}): spec.ownr: unknown field`,
    },
    {
      name: 'a typo in nested settings (curency)',
      yaml: pgliteStore(slug, '  settings:\n    curency: EUR\n'),
      line: `inp.yaml: document 1 (Store ${slug}): spec.settings.curency: unknown field`,
    },
    {
      name: 'a typo in a Secret reference (passwordkey)',
      yaml: `apiVersion: v1
kind: Secret
metadata: { name: pg-admin }
stringData: { username: postgres, password: pw }
---
apiVersion: storeop.dev/v1alpha1
kind: Store
metadata: { name: ${slug} }
spec:
  displayName: Shop
  database:
    engine: postgresql
    server: { host: 127.0.0.1, adminSecretRef: { name: pg-admin, passwordkey: pw } }
`,
      line: `inp.yaml: document 2 (Store ${slug}): spec.database.server.adminSecretRef.passwordkey: unknown field`,
    },
    {
      name: 'a typo in a StoreDatabase spec (connectionLimits)',
      yaml: `apiVersion: storeop.dev/v1alpha1
kind: StoreDatabase
metadata: { name: ${slug}-db }
spec:
  storeRef: { name: ${slug} }
  engine: pglite
  connectionLimits: 5
---
apiVersion: storeop.dev/v1alpha1
kind: Store
metadata: { name: ${slug} }
spec:
  displayName: Shop
  databaseRef: { name: ${slug}-db }
`,
      line: `inp.yaml: document 1 (StoreDatabase ${slug}-db): spec.connectionLimits: unknown field`,
    },
    {
      name: 'labels at the top level instead of in metadata',
      yaml: `labels: { team: shop }\n${pgliteStore(slug)}`,
      line: `inp.yaml: document 1 (Store ${slug}): labels: unknown field`,
    },
    {
      name: 'a typo in metadata (lables)',
      yaml: pgliteStore(slug).replace(`  name: ${slug}\n`, `  name: ${slug}\n  lables: { team: shop }\n`),
      line: 'inp.yaml: document 1: metadata.lables: unknown field',
    },
    {
      name: 'a typo in a Secret (stringdata)',
      yaml: `apiVersion: v1\nkind: Secret\nmetadata: { name: pg-admin }\nstringdata: { username: postgres }\n`,
      line: 'inp.yaml: document 1 (Secret pg-admin): stringdata: unknown field',
    },
  ];

  it.each(cases)(
    '$name',
    async ({ yaml, line }) => {
      expect(await refused('inp.yaml', yaml)).toEqual([`storeop apply: ${line}`]);
    },
    240_000,
  );

  it('still accepts what kubectl accepts: labels, annotations and a status in a manifest (dry run)', async () => {
    const dir = freshDir();
    const yaml = pgliteStore(slug)
      .replace(`  name: ${slug}\n`, `  name: ${slug}\n  labels: { team: shop }\n  annotations: { note: "a note" }\n`)
      .concat('status:\n  phase: Ready\n');
    writeFileSync(join(dir, 'ok.yaml'), yaml);
    const run = await storeop(['apply', '-f', 'ok.yaml', '--dry-run'], { cwd: dir });
    expect(run.code, describeRun(run)).toBe(0);
    expect(run.stdout.trimEnd().split('\n').at(-1)).toBe('dry run: nothing was changed');
  }, 240_000);

  it('the schemas the controller validates Store and StoreDatabase objects with refuse unknown fields it sees', () => {
    const store = storeSpec.safeParse({ displayName: 'Shop', database: { engine: 'pglite', deletionPolcy: 'Delete' } });
    expect(store.success).toBe(false);
    expect(store.error?.issues.map((i) => [i.path.join('.'), i.message])).toEqual([['database', 'unknown field "deletionPolcy"']]);
    const database = storeDatabaseSpec.safeParse({ storeRef: { name: 'shop' }, engine: 'pglite', sed: false });
    expect(database.error?.issues.map((i) => [i.path.join('.'), i.message])).toEqual([['', 'unknown field "sed"']]);
  });
});

describe('hostile or oversized YAML is refused, naming the file and the document', () => {
  it('an alias bomb (billion laughs) is refused as such, not an "unexpected error"', async () => {
    const levels = ['a: &a ["x","x","x","x","x","x","x","x","x"]'];
    for (const [i, name] of ['b', 'c', 'd', 'e', 'f', 'g'].entries()) {
      const previous = String.fromCharCode('a'.charCodeAt(0) + i);
      levels.push(`${name}: &${name} [${Array(9).fill(`*${previous}`).join(',')}]`);
    }
    expect(await refused('bomb.yaml', `${levels.join('\n')}\n`)).toEqual([
      'storeop apply: bomb.yaml: document 1: invalid YAML: aliases expand too far (more than 100 alias nodes): refused as a resource exhaustion attack',
    ]);
  }, 240_000);

  it('a map of 20,000 keys is parsed and refused field by field, the output capped at 50 problems and a count', async () => {
    const slug = inpSlug();
    const keys = Array.from({ length: 20_000 }, (_, i) => `    k${i}: ${i}\n`).join('');
    const lines = await refused('keys.yaml', pgliteStore(slug, `  settings:\n${keys}`));
    expect(lines).toHaveLength(51);
    expect(lines[0]).toBe(`storeop apply: keys.yaml: document 1 (Store ${slug}): spec.settings.k0: unknown field`);
    expect(lines[49]).toBe(`storeop apply: keys.yaml: document 1 (Store ${slug}): spec.settings.k49: unknown field`);
    expect(lines[50]).toBe('storeop apply: ... and 19950 more problems');
  }, 240_000);

  it('a duplicate key is refused with its line (the linear check that replaces the quadratic one)', async () => {
    const slug = inpSlug();
    const yaml = pgliteStore(slug).replace(`  displayName: Shop ${slug}\n`, `  displayName: Shop\n  plan: free\n  displayName: Other\n`);
    expect(await refused('dup.yaml', yaml)).toEqual([
      'storeop apply: dup.yaml: document 1: invalid YAML: duplicate key "displayName" at line 8, column 3',
    ]);
  }, 240_000);

  it('a file over 1 MiB is refused before it is parsed, from a file and from stdin', async () => {
    const slug = inpSlug();
    const big = `${pgliteStore(slug)}# ${'x'.repeat(1024 * 1024)}\n`;
    const bytes = Buffer.byteLength(big);
    const expected = `is ${bytes} bytes, more than the 1048576 bytes (1 MiB) a manifest may have: split it into several files`;
    expect(await refused('big.yaml', big)).toEqual([`storeop apply: big.yaml: ${expected}`]);

    const dir = freshDir();
    const run = await storeop(['apply', '-f', '-'], { cwd: dir, input: big });
    expect(run.code, describeRun(run)).toBe(1);
    expect(run.stderr.trimEnd().split('\n')).toEqual([`storeop apply: <stdin>: ${expected}`, 'storeop apply: nothing was changed']);
  }, 240_000);

  it('deeply nested [ ] is refused before the parser sees it (100k of them ran it out of memory)', async () => {
    expect(await refused('deep.yaml', `a: ${'['.repeat(100_000)}\n`)).toEqual([
      'storeop apply: deep.yaml: invalid YAML: [ ] and { } nest more than 64 deep',
    ]);
  }, 240_000);
});

describe('Secret keys are own properties only', () => {
  const pgStore = (slug: string, ref: string, secret = 'stringData: { username: postgres, password: pw }') => `apiVersion: v1
kind: Secret
metadata: { name: pg-admin }
${secret}
---
apiVersion: storeop.dev/v1alpha1
kind: Store
metadata: { name: ${slug} }
spec:
  displayName: Shop
  database:
    engine: postgresql
    server: { host: ${server.host}, port: ${server.port}, adminSecretRef: { name: pg-admin, ${ref} } }
`;

  it.each(['constructor', '__proto__', 'toString', 'hasOwnProperty'])(
    'passwordKey: %s reads as a missing key',
    async (key) => {
      const slug = inpSlug();
      expect(await refused('inp.yaml', pgStore(slug, `passwordKey: "${key}"`))).toEqual([
        `storeop apply: inp.yaml: document 2 (Store ${slug}): spec.database.server.adminSecretRef: Secret pg-admin has no key "${key}" (or does not exist)`,
      ]);
    },
    240_000,
  );

  it('a Secret key that is literally "constructor" is data like any other (the dry run reaches the server)', async () => {
    const slug = inpSlug();
    const dir = freshDir();
    const secret = `stringData: { constructor: ${server.user || 'postgres'}, toString: pw }`;
    writeFileSync(join(dir, 'inp.yaml'), pgStore(slug, 'usernameKey: constructor, passwordKey: toString', secret));
    const run = await storeop(['apply', '-f', 'inp.yaml', '--dry-run'], { cwd: dir });
    expect(run.code, describeRun(run)).toBe(0);
    expect(run.stdout.trimEnd().split('\n').at(-1)).toBe('dry run: nothing was changed');
  }, 240_000);

  it('a "__proto__" key, which zod would drop without a word, is refused by path', async () => {
    const slug = inpSlug();
    const yaml = pgStore(slug, 'passwordKey: __proto__', 'stringData: { username: postgres, __proto__: pw }');
    expect(await refused('inp.yaml', yaml)).toEqual([
      'storeop apply: inp.yaml: document 1: stringData.__proto__: "__proto__" is not allowed as a key',
    ]);
  }, 240_000);

  it("the controller's Secret reader does not reach inherited members either", () => {
    const secret = { data: { password: Buffer.from('pw').toString('base64') }, stringData: { username: 'postgres' } };
    expect(secretValue(secret, 'password')).toBe('pw');
    expect(secretValue(secret, 'username')).toBe('postgres');
    for (const key of ['constructor', '__proto__', 'toString', 'valueOf']) expect(secretValue(secret, key)).toBeUndefined();
  });
});

describe('command names, flags and environment values', () => {
  it('"storeop constructor" is an unknown command (exit 2), not an unexpected error', async () => {
    const run = await storeop(['constructor'], { cwd: freshDir() });
    expect(run.code, describeRun(run)).toBe(2);
    expect(run.stderr).toBe('storeop: unknown command "constructor"; run "storeop --help"\n');
  }, 120_000);

  it.each([
    [['apply', '-f', 'x.yaml', '--dry-runn'], 'storeop apply: unknown flag --dry-runn'],
    [['api', '--rate-limits', '5'], 'storeop api: unknown flag --rate-limits'],
    [['apply', '--__proto__', 'x'], 'storeop apply: unknown flag --__proto__'],
  ])(
    'storeop %j is a usage error naming the flag',
    async (args, line) => {
      const run = await storeop(args, { cwd: freshDir() });
      expect(run.code, describeRun(run)).toBe(2);
      expect(run.stderr.split('\n')[0]).toBe(line);
    },
    120_000,
  );

  it('a bad STOREOP_LOG_LEVEL names the variable instead of being ignored', async () => {
    const run = await storeop(['api', '--bind-address', '127.0.0.1:1'], { cwd: freshDir(), env: { STOREOP_LOG_LEVEL: 'verbose' } });
    expect(run.code, describeRun(run)).toBe(1);
    expect(run.stderr).toBe('storeop api: InvalidSpec: STOREOP_LOG_LEVEL: must be one of trace, debug, info, warn, error\n');
  }, 120_000);
});

describe('the provisioning API refuses unknown fields and inherited Secret keys', () => {
  const token = `inp-${sha256(String(Math.random()))}`;
  let api: ApiProcess;
  let cwd: string;

  beforeAll(async () => {
    cwd = freshDir();
    api = await startApi({ cwd, args: [], env: { STOREOP_API_TOKEN_HASHES: `${sha256(token)} inp-input` } });
  }, 180_000);

  afterAll(async () => {
    await api?.stop();
  });

  const post = (body: unknown) => api.call('/v1/provision', token, { method: 'POST', body: JSON.stringify(body) });

  it('answers 400 with one issue per unknown field, by path, and creates nothing', async () => {
    const slug = inpSlug();
    const response = await post({
      store: { slug, displayName: 'Shop', ownr: 'a@example.com' },
      database: { engine: 'pglite', deletionPolcy: 'Delete' },
      priority: 'high',
    });
    expect(response.status).toBe(400);
    const body = (await response.json()) as { error: string; issues: Array<{ path: string; message: string }> };
    expect(body.error).toBe('invalid request body');
    expect(body.issues).toEqual(
      expect.arrayContaining([
        { path: 'store.ownr', message: 'unknown field' },
        { path: 'database.deletionPolcy', message: 'unknown field' },
        { path: 'priority', message: 'unknown field' },
      ]),
    );
    expect(body.issues).toHaveLength(3);
    const stores = (await (await api.call('/v1/stores', token)).json()) as { stores: Array<{ slug: string }> };
    expect(stores.stores.map((s) => s.slug)).not.toContain(slug);
  });

  it('answers 400 for a "__proto__" key anywhere in the body', async () => {
    const body = `{"store":{"slug":"${inpSlug()}","displayName":"Shop"},"database":{"engine":"pglite"},"secrets":{"a":{"__proto__":"x"}}}`;
    const response = await api.call('/v1/provision', token, { method: 'POST', body });
    expect(response.status).toBe(400);
    // A problem+json document (RFC 9457) that keeps the error and issues fields clients read.
    expect(await response.json()).toMatchObject({
      status: 400,
      error: 'invalid request body',
      issues: [{ path: 'secrets.a.__proto__', message: '"__proto__" is not allowed as a key' }],
    });
  });

  it.each(['constructor', '__proto__', 'toString'])('passwordKey: %s in a request reads as a missing key (400)', async (key) => {
    const slug = inpSlug();
    const response = await post({
      store: { slug, displayName: 'Shop' },
      database: {
        engine: 'postgresql',
        server: { host: server.host, port: server.port, adminSecretRef: { name: 'pg-admin', passwordKey: key } },
      },
      secrets: { 'pg-admin': { username: 'postgres', password: 'pw' } },
    });
    expect(response.status).toBe(400);
    expect(await response.json()).toMatchObject({
      status: 400,
      error: `database.server.adminSecretRef: Secret pg-admin has no key ${JSON.stringify(key)} (or does not exist)`,
    });
  });
});
