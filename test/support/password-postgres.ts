// A throw-away PostgreSQL cluster that checks passwords (scram-sha-256 on TCP): the shared test server
// trusts every login on 127.0.0.1, so a test that proves an old password no longer logs in needs its own.
// initdb and pg_ctl run as the postgres OS user when the tests run as root (initdb refuses root).
import { execFile } from 'node:child_process';
import { chownSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import type { CreateTarget } from '../../src/engines/target.js';
import { freePort } from './ports.js';

const run = promisify(execFile);

export interface PasswordPostgres {
  host: string;
  port: number;
  /** The superuser `postgres` and its password. */
  adminPassword: string;
  /** postgres://postgres:...@127.0.0.1:PORT/postgres */
  adminUrl: string;
  createTarget(extra?: Partial<CreateTarget>): CreateTarget;
  stop(): Promise<void>;
}

function binDir(): string {
  const versions = readdirSync('/usr/lib/postgresql').sort();
  const latest = versions.at(-1);
  if (!latest) throw new Error('no PostgreSQL installation under /usr/lib/postgresql');
  return `/usr/lib/postgresql/${latest}/bin`;
}

/** Runs a PostgreSQL tool, as the postgres OS user when this process is root. */
function tool(name: string, args: string[]): Promise<{ stdout: string; stderr: string }> {
  const path = join(binDir(), name);
  const asRoot = process.getuid?.() === 0;
  return asRoot ? run('runuser', ['-u', 'postgres', '--', path, ...args], { timeout: 120_000 }) : run(path, args, { timeout: 120_000 });
}

export async function startPasswordPostgres(): Promise<PasswordPostgres> {
  const dir = mkdtempSync(join(tmpdir(), 'storeop-pgpw-'));
  const data = join(dir, 'data');
  const adminPassword = `admin-${Math.random().toString(36).slice(2)}`;
  const pwfile = join(dir, 'pw');
  writeFileSync(pwfile, adminPassword, { mode: 0o600 });
  if (process.getuid?.() === 0) {
    const { stdout } = await run('id', ['-u', 'postgres']);
    const { stdout: gid } = await run('id', ['-g', 'postgres']);
    chownSync(dir, Number(stdout.trim()), Number(gid.trim()));
    chownSync(pwfile, Number(stdout.trim()), Number(gid.trim()));
  }
  const port = await freePort();
  const stop = async () => {
    await tool('pg_ctl', ['-D', data, '-m', 'immediate', '-w', 'stop']).catch(() => {});
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await tool('initdb', [
      '-D',
      data,
      '-U',
      'postgres',
      `--pwfile=${pwfile}`,
      '--auth-local=trust',
      '--auth-host=scram-sha-256',
      '-E',
      'UTF8',
    ]);
    await tool('pg_ctl', [
      '-D',
      data,
      '-w',
      '-t',
      '120',
      '-l',
      join(dir, 'log'),
      '-o',
      `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=60`,
      'start',
    ]);
  } catch (error) {
    await stop();
    throw error;
  }
  const host = '127.0.0.1';
  const adminUrl = `postgres://postgres:${encodeURIComponent(adminPassword)}@${host}:${port}/postgres`;
  // The cluster answers before the tests go on.
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  await client.end();
  return {
    host,
    port,
    adminPassword,
    adminUrl,
    createTarget: (extra = {}) => ({
      engine: 'postgresql',
      mode: 'create',
      admin: { host, port, user: 'postgres', password: adminPassword },
      ...extra,
    }),
    stop,
  };
}
