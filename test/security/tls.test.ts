// TLS for database connections (issue 12, finding 6): sslmode disable / require / verify-full for
// PostgreSQL and MySQL, so that an admin password need not travel in clear text.
//
// The shared PostgreSQL and MariaDB run without SSL (SHOW ssl = off, have_ssl = DISABLED) and are not
// reconfigured for this test. So the test proves, against the real servers: `require` fails with an
// error naming SSL instead of falling back to clear text, having sent nothing but the SSL request (no
// startup packet with the user); `disable` still works. The encrypted path is proved against the real
// PostgreSQL behind a TLS-terminating relay on 127.0.0.1 (certificates made by openssl here): `require`
// connects, `verify-full` connects with the right CA and host name, and refuses a wrong CA or a host
// name the certificate does not name, also when the egress policy pins the connection to an address.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, connect as netConnect, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TLSSocket } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { storeDatabaseTemplateSpec } from '../../src/api/store-database.js';
import { EgressPolicy, withEgressPolicy } from '../../src/engines/egress.js';
import { engineFor } from '../../src/engines/index.js';
import type { DatabaseTarget, ServerEndpoint, TlsOptions } from '../../src/engines/target.js';
import { connectionUrl, parseDatabaseUrl } from '../../src/engines/url.js';
import { resolveTarget } from '../../src/stores/resolve-target.js';
import { withPostgres } from '../support/databases.js';
import { mysqlEndpoint, postgresEndpoint } from '../support/store-db.js';

const pgServer = postgresEndpoint();
const myServer = mysqlEndpoint();

const connectTarget = (engine: 'postgresql' | 'mysql', endpoint: ServerEndpoint, tls?: TlsOptions): DatabaseTarget => ({
  engine,
  mode: 'connect',
  connection: { ...endpoint, database: engine === 'postgresql' ? 'postgres' : 'mysql', ...(tls ? { tls } : {}) },
});

/** Failure message of a connection attempt (the test fails if it connects). */
async function connectError(target: DatabaseTarget): Promise<string> {
  const outcome = await engineFor(target.engine)
    .testConnection(target)
    .then(
      (version) => ({ ok: true as const, version }),
      (error: Error) => ({ ok: false as const, message: error.message }),
    );
  expect(outcome.ok, `connected although it should not: ${JSON.stringify(outcome)}`).toBe(false);
  return outcome.ok ? '' : outcome.message;
}

// ---------------------------------------------------------------------------------------------------
// Relays on 127.0.0.1 in front of the real servers

interface Relay {
  port: number;
  /** Raw bytes each client sent before the relay answered anything but TLS (what a sniffer sees in clear). */
  clearFromClient: Buffer[];
  /** Connections that completed a TLS handshake. */
  secured: number;
  close(): Promise<void>;
}

async function listen(server: Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as { port: number }).port;
}

const closeServer = (server: Server, sockets: Set<Socket>) =>
  new Promise<void>((resolve) => {
    for (const s of sockets) s.destroy();
    server.close(() => resolve());
  });

/** Passes bytes through unchanged, recording what the client sent. */
async function recordingRelay(upstreamPort: number): Promise<Relay> {
  const sockets = new Set<Socket>();
  const relay: Relay = { port: 0, clearFromClient: [], secured: 0, close: () => closeServer(server, sockets) };
  const server = createServer((client) => {
    sockets.add(client);
    const upstream = netConnect(upstreamPort, '127.0.0.1');
    sockets.add(upstream);
    client.on('data', (d: Buffer) => relay.clearFromClient.push(Buffer.from(d)));
    client.pipe(upstream).pipe(client);
    const both = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on('error', both);
    upstream.on('error', both);
  });
  relay.port = await listen(server);
  return relay;
}

const SSL_REQUEST = Buffer.from([0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f]); // PostgreSQL SSLRequest

/** Answers PostgreSQL's SSLRequest with 'S', terminates TLS with `cert`, and relays the plain protocol to the real server. */
async function postgresTlsRelay(key: string, cert: string): Promise<Relay> {
  const sockets = new Set<Socket>();
  const relay: Relay = { port: 0, clearFromClient: [], secured: 0, close: () => closeServer(server, sockets) };
  const server = createServer((client) => {
    sockets.add(client);
    client.on('error', () => client.destroy());
    client.once('data', (first: Buffer) => {
      relay.clearFromClient.push(Buffer.from(first));
      if (!first.equals(SSL_REQUEST)) {
        client.destroy(); // this relay speaks TLS only
        return;
      }
      client.write('S');
      const secure = new TLSSocket(client, { isServer: true, key, cert });
      secure.on('error', () => client.destroy());
      secure.once('secure', () => {
        relay.secured++;
        const upstream = netConnect(pgServer.port, pgServer.host);
        sockets.add(upstream);
        upstream.on('error', () => client.destroy());
        secure.pipe(upstream).pipe(secure);
      });
    });
  });
  relay.port = await listen(server);
  return relay;
}

// ---------------------------------------------------------------------------------------------------

let dir: string;
const pem = { ca: '', otherCa: '', key: '', cert: '' };

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'egr-tls-'));
  const openssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
  const newCa = (name: string) =>
    openssl(
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-keyout',
      `${name}.key`,
      '-out',
      `${name}.crt`,
      '-days',
      '2',
      '-subj',
      `/CN=${name}`,
    );
  newCa('egr-ca');
  newCa('egr-other-ca');
  openssl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=localhost');
  writeFileSync(join(dir, 'san.ext'), 'subjectAltName=DNS:localhost\n');
  openssl(
    'x509',
    '-req',
    '-in',
    'server.csr',
    '-CA',
    'egr-ca.crt',
    '-CAkey',
    'egr-ca.key',
    '-CAcreateserial',
    '-out',
    'server.crt',
    '-days',
    '2',
    '-extfile',
    'san.ext',
  );
  const read = (f: string) => readFileSync(join(dir, f), 'utf8');
  Object.assign(pem, { ca: read('egr-ca.crt'), otherCa: read('egr-other-ca.crt'), key: read('server.key'), cert: read('server.crt') });
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('the shared servers have TLS off: require refuses instead of falling back to clear text', () => {
  it('PostgreSQL (SHOW ssl = off): require fails naming SSL and sends no startup packet; disable works', async () => {
    const [row] = await withPostgres(`postgres://${pgServer.user}@${pgServer.host}:${pgServer.port}/postgres`, (c) =>
      c.query<{ ssl: string }>('SHOW ssl').then((r) => r.rows),
    );
    expect(row?.ssl, 'this test assumes the shared PostgreSQL has SSL off').toBe('off');
    const relay = await recordingRelay(pgServer.port);
    try {
      const via = { ...pgServer, host: '127.0.0.1', port: relay.port };
      const message = await connectError(connectTarget('postgresql', via, { rejectUnauthorized: false }));
      expect(message).toMatch(/does not support SSL/i);
      // Only the 8-byte SSLRequest went out: the startup packet (user name, database) was never sent in clear.
      expect(Buffer.concat(relay.clearFromClient)).toEqual(SSL_REQUEST);
      const verifyFull = await connectError(connectTarget('postgresql', via, { rejectUnauthorized: true, ca: pem.ca }));
      expect(verifyFull).toMatch(/does not support SSL/i);
      expect(await engineFor('postgresql').testConnection(connectTarget('postgresql', via))).toMatch(/^\d+/);
    } finally {
      await relay.close();
    }
  });

  it('MariaDB (have_ssl = DISABLED): require fails naming the secure connection and sends no login packet; disable works', async () => {
    const relay = await recordingRelay(myServer.port);
    try {
      const via = { ...myServer, host: '127.0.0.1', port: relay.port };
      const message = await connectError(connectTarget('mysql', via, { rejectUnauthorized: false }));
      expect(message).toMatch(/does not support secure connection/i);
      // The client answered the server greeting with nothing: no login packet (user, password hash) left it.
      expect(Buffer.concat(relay.clearFromClient).length).toBe(0);
      expect(await engineFor('mysql').testConnection(connectTarget('mysql', via))).toMatch(/\d+\.\d+/);
    } finally {
      await relay.close();
    }
  });
});

describe('PostgreSQL over TLS (real server behind a TLS-terminating relay)', () => {
  it('require encrypts without checking the certificate', async () => {
    const relay = await postgresTlsRelay(pem.key, pem.cert);
    try {
      const via = { ...pgServer, host: '127.0.0.1', port: relay.port };
      expect(await engineFor('postgresql').testConnection(connectTarget('postgresql', via, { rejectUnauthorized: false }))).toMatch(/^\d+/);
      expect(relay.secured).toBe(1);
    } finally {
      await relay.close();
    }
  });

  it('verify-full connects with the CA and host name, and refuses another CA or another host name', async () => {
    const relay = await postgresTlsRelay(pem.key, pem.cert);
    try {
      const byName = { ...pgServer, host: 'localhost', port: relay.port };
      expect(
        await engineFor('postgresql').testConnection(connectTarget('postgresql', byName, { rejectUnauthorized: true, ca: pem.ca })),
      ).toMatch(/^\d+/);
      expect(await connectError(connectTarget('postgresql', byName, { rejectUnauthorized: true, ca: pem.otherCa }))).toMatch(
        /self[- ]signed|unable to (get|verify)|certificate/i,
      );
      // The certificate names localhost only: reaching the same server as 127.0.0.1 is not verified.
      const byAddress = { ...byName, host: '127.0.0.1' };
      expect(await connectError(connectTarget('postgresql', byAddress, { rejectUnauthorized: true, ca: pem.ca }))).toMatch(
        /IP: 127\.0\.0\.1 is not in the cert's list|altnames|does not match/i,
      );
      expect(relay.secured).toBeGreaterThanOrEqual(1);
    } finally {
      await relay.close();
    }
  });

  it('verify-full still checks the host name when the egress policy pins the connection to its address', async () => {
    const relay = await postgresTlsRelay(pem.key, pem.cert);
    try {
      const target = connectTarget(
        'postgresql',
        { ...pgServer, host: 'localhost', port: relay.port },
        { rejectUnauthorized: true, ca: pem.ca },
      );
      const policy = new EgressPolicy({ allow: [{ address: '127.0.0.1', prefix: 32, family: 'ipv4' }] });
      const version = await withEgressPolicy(policy, target, () => engineFor('postgresql').testConnection(target));
      expect(version).toMatch(/^\d+/);
      expect(relay.secured).toBe(1);
    } finally {
      await relay.close();
    }
  });
});

describe('tls in specs and URLs', () => {
  const read = async (name: string, key: string) => (name === 'egr-ca' && key === 'ca.crt' ? pem.ca : undefined);
  const adminRef = { name: 'egr-admin', usernameKey: 'username', passwordKey: 'password' };
  const readAll = async (name: string, key: string) =>
    name === 'egr-admin' ? { username: 'postgres', password: 'x' }[key] : read(name, key);

  async function tlsOf(tls: unknown): Promise<TlsOptions | undefined> {
    const spec = storeDatabaseTemplateSpec.parse({
      engine: 'postgresql',
      server: { host: 'db.example', adminSecretRef: adminRef, ...(tls ? { tls } : {}) },
    });
    const target = await resolveTarget(spec, readAll, { home: dir, slug: 'egr-tls' });
    if (target.engine !== 'postgresql' || target.mode !== 'create') throw new Error('expected a create target');
    return target.admin.tls;
  }

  it('mode disable/require/verify-full (CA from a Secret), and the older enabled/verify pair', async () => {
    expect(await tlsOf(undefined)).toBeUndefined();
    expect(await tlsOf({ mode: 'disable', caSecretRef: { name: 'egr-ca' } })).toBeUndefined();
    expect(await tlsOf({ mode: 'require' })).toEqual({ rejectUnauthorized: false });
    expect(await tlsOf({ mode: 'verify-full', caSecretRef: { name: 'egr-ca' } })).toEqual({ rejectUnauthorized: true, ca: pem.ca });
    expect(await tlsOf({ enabled: true })).toEqual({ rejectUnauthorized: true });
    expect(await tlsOf({ enabled: true, verify: false })).toEqual({ rejectUnauthorized: false });
    expect(await tlsOf({ enabled: true, mode: 'disable' })).toBeUndefined();
    await expect(tlsOf({ mode: 'verify-full', caSecretRef: { name: 'egr-missing' } })).rejects.toThrow(/spec\.server\.tls\.caSecretRef/);
    expect(
      storeDatabaseTemplateSpec.safeParse({
        engine: 'postgresql',
        server: { host: 'h', adminSecretRef: adminRef, tls: { mode: 'prefer' } },
      }).error?.issues[0]?.path,
    ).toEqual(['server', 'tls', 'mode']);
  });

  it('URLs: sslmode maps to TLS, never to a clear-text fallback; an unknown sslmode names the parameter', () => {
    const tls = (url: string) => parseDatabaseUrl(url).endpoint?.tls;
    expect(tls('postgres://u@h/db')).toBeUndefined();
    expect(tls('postgres://u@h/db?sslmode=disable')).toBeUndefined();
    expect(tls('postgres://u@h/db?sslmode=prefer')).toEqual({ rejectUnauthorized: false });
    expect(tls('postgres://u@h/db?sslmode=require')).toEqual({ rejectUnauthorized: false });
    expect(tls('postgres://u@h/db?sslmode=verify-full')).toEqual({ rejectUnauthorized: true });
    expect(tls('mysql://u@h/db?ssl-mode=VERIFY_IDENTITY')).toEqual({ rejectUnauthorized: true });
    expect(tls('mysql://u@h/db?ssl-mode=DISABLED')).toBeUndefined();
    expect(() => parseDatabaseUrl('postgres://u:secret-pw@h/db?sslmode=sometimes')).toThrow(/sslmode must be one of/);
    expect(() => parseDatabaseUrl('postgres://u:secret-pw@h/db?sslmode=sometimes')).not.toThrow(/secret-pw/);
    expect(() => parseDatabaseUrl('mysql://u@h/db?ssl-mode=SOMETIMES')).toThrow(/ssl-mode must be one of/);
    const base = { engine: 'postgresql' as const, host: 'db.example', port: 5432, database: 'shop', user: 'u' };
    expect(connectionUrl(base, { includePassword: false })).not.toContain('sslmode');
    expect(connectionUrl({ ...base, tls: { rejectUnauthorized: false } }, { includePassword: false })).toContain('sslmode=require');
    expect(connectionUrl({ ...base, tls: { rejectUnauthorized: true, ca: pem.ca } }, { includePassword: false })).toContain(
      'sslmode=verify-full',
    );
  });
});
