// Database URLs as users write them on the command line: postgres://, mysql:// (or mariadb://) and
// pglite:///absolute/path or pglite://relative/path for the embedded engine.
import { resolve } from 'node:path';
import { StoreopError } from '../errors.js';
import type { EngineName, ServerEndpoint, TenantConnection } from './target.js';

export interface ParsedUrl {
  engine: EngineName;
  /** Network engines. */
  endpoint?: ServerEndpoint;
  /** PGlite. */
  dataDir?: string;
}

const DEFAULT_PORTS = { postgresql: 5432, mysql: 3306 } as const;

export function parseDatabaseUrl(raw: string, what = 'database URL'): ParsedUrl {
  const scheme = /^([a-z]+):\/\//.exec(raw)?.[1];
  if (scheme === 'pglite') {
    const path = raw.slice('pglite://'.length);
    if (!path) throw new StoreopError('InvalidSpec', `${what}: pglite:// needs a folder, e.g. pglite://./.storeop/stores/shop`);
    return { engine: 'pglite', dataDir: resolve(path) };
  }
  const engine =
    scheme === 'postgres' || scheme === 'postgresql' ? 'postgresql' : scheme === 'mysql' || scheme === 'mariadb' ? 'mysql' : null;
  if (!engine) throw new StoreopError('InvalidSpec', `${what} must start with postgres://, mysql:// or pglite://`);
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new StoreopError('InvalidSpec', `${what} is not a valid URL`);
  }
  if (!url.hostname) throw new StoreopError('InvalidSpec', `${what} has no host`);
  const database = decodeURIComponent(url.pathname.replace(/^\//, ''));
  const sslmode = url.searchParams.get('sslmode') ?? url.searchParams.get('ssl-mode');
  const tls =
    sslmode && !['disable', 'DISABLED'].includes(sslmode)
      ? { rejectUnauthorized: ['verify-full', 'verify-ca', 'VERIFY_IDENTITY'].includes(sslmode) }
      : undefined;
  const endpoint: ServerEndpoint = {
    host: url.hostname.replace(/^\[|\]$/g, ''),
    port: url.port ? Number(url.port) : DEFAULT_PORTS[engine],
    user: decodeURIComponent(url.username) || (engine === 'postgresql' ? 'postgres' : 'root'),
    ...(url.password ? { password: decodeURIComponent(url.password) } : {}),
    ...(database ? { database } : {}),
    ...(tls ? { tls } : {}),
  };
  return { engine, endpoint };
}

/** A ready-to-use URL for a tenant connection, password URL-encoded. */
export function connectionUrl(connection: TenantConnection, options: { includePassword: boolean }): string {
  if (connection.engine === 'pglite') return `pglite://${connection.dataDir ?? connection.database}`;
  const scheme = connection.engine === 'postgresql' ? 'postgres' : 'mysql';
  const password = connection.password ? `:${options.includePassword ? encodeURIComponent(connection.password) : '***'}` : '';
  const host = connection.host.includes(':') ? `[${connection.host}]` : connection.host;
  const query: [string, string][] = [];
  if (connection.schema && connection.schema !== 'public') query.push(['options', `-c search_path=${connection.schema}`]);
  if (connection.tls) query.push(['sslmode', connection.tls.rejectUnauthorized === false ? 'require' : 'verify-full']);
  // Percent-encoded, space as %20: URLSearchParams writes '+', which only form decoders (node-postgres)
  // read as a space; libpq (psql, psycopg, Ruby pg, PHP) and most other URL parsers keep it a '+'.
  const q = query.map(([key, value]) => `${key}=${encodeURIComponent(value)}`).join('&');
  return `${scheme}://${encodeURIComponent(connection.user)}${password}@${host}:${connection.port}/${encodeURIComponent(connection.database)}${q ? `?${q}` : ''}`;
}
