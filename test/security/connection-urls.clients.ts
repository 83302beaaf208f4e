// The real database clients an app's developer or a script uses, run on a connection URL storeop gave out.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { expect } from 'vitest';

const run = promisify(execFile);

/** `psql "$url" -c sql`: unaligned, tuples only, no psqlrc; fails on any error. */
export async function psql(url: string, sqlText: string): Promise<string> {
  const { stdout } = await run('psql', ['-X', '-A', '-t', '-v', 'ON_ERROR_STOP=1', url, '-c', sqlText], {
    env: { ...process.env, PGPASSWORD: '', PGOPTIONS: '' },
    timeout: 60_000,
  });
  return stdout.trim();
}

/**
 * The `mysql` client with the URL's parts (it takes no URL): host, port, user and database as a URL
 * parser decodes them, the password through MYSQL_PWD so it is not on the command line.
 */
export async function mysqlClient(url: string, sqlText: string): Promise<string> {
  const u = new URL(url);
  expect(u.protocol).toBe('mysql:');
  const { stdout } = await run(
    'mysql',
    [
      '--protocol=TCP',
      '-h',
      u.hostname,
      '-P',
      u.port,
      '-u',
      decodeURIComponent(u.username),
      '-N',
      '-B',
      decodeURIComponent(u.pathname.slice(1)),
      '-e',
      sqlText,
    ],
    { env: { ...process.env, MYSQL_PWD: decodeURIComponent(u.password) }, timeout: 60_000 },
  );
  return stdout.trim();
}
