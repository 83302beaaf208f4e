// The connection Secret's optional keys (jdbcUrl, pgpass, dsn, uri) and its templates, from the store's
// connection: each in the form its client reads, every value URL-encoded where it sits inside a URL.
import { OPTIONAL_SECRET_KEYS, type OptionalSecretKey, PLACEHOLDER, type TemplatePlaceholder } from '../api/credentials.js';
import { StoreopError } from '../errors.js';
import type { TenantConnection, TlsMode } from './target.js';
import { tlsMode } from './tls.js';
import { connectionUrl } from './url.js';

const enc = encodeURIComponent;
const modeOf = (connection: TenantConnection): TlsMode => (connection.tls ? tlsMode(connection.tls) : 'disable');
const bracketed = (host: string) => (host.includes(':') ? `[${host}]` : host);
const password = (connection: TenantConnection) => connection.password ?? '';

/** MySQL's ssl-mode names (mysql client, Connector/J's sslMode) for libpq's. */
const MYSQL_SSL_MODES: Record<TlsMode, string> = { disable: 'DISABLED', require: 'REQUIRED', 'verify-full': 'VERIFY_IDENTITY' };
/** The Go MySQL driver's tls parameter for libpq's modes (absent: clear text). */
const GO_TLS: Record<TlsMode, string | undefined> = { disable: undefined, require: 'skip-verify', 'verify-full': 'true' };

const query = (pairs: Array<[string, string | undefined]>) => {
  const set = pairs.filter((p): p is [string, string] => p[1] !== undefined);
  return set.length ? `?${set.map(([k, v]) => `${k}=${enc(v)}`).join('&')}` : '';
};

const searchPath = (connection: TenantConnection) =>
  connection.schema && connection.schema !== 'public' ? `-c search_path=${connection.schema}` : undefined;

/** A URL with sslmode always spelled out (postgresql://, or mysql:// with ssl-mode). */
export function uriOf(connection: TenantConnection): string {
  const auth = `${enc(connection.user)}:${enc(password(connection))}`;
  const where = `${bracketed(connection.host)}:${connection.port}/${enc(connection.database)}`;
  if (connection.engine === 'mysql') return `mysql://${auth}@${where}${query([['ssl-mode', MYSQL_SSL_MODES[modeOf(connection)]]])}`;
  return `postgresql://${auth}@${where}${query([
    ['sslmode', modeOf(connection)],
    ['options', searchPath(connection)],
  ])}`;
}

/** JDBC (PgJDBC or Connector/J), credentials as parameters. */
export function jdbcUrlOf(connection: TenantConnection): string {
  const where = `${bracketed(connection.host)}:${connection.port}/${enc(connection.database)}`;
  const credentials: Array<[string, string]> = [
    ['user', connection.user],
    ['password', password(connection)],
  ];
  if (connection.engine === 'mysql')
    return `jdbc:mysql://${where}${query([...credentials, ['sslMode', MYSQL_SSL_MODES[modeOf(connection)]]])}`;
  const schema = connection.schema && connection.schema !== 'public' ? connection.schema : undefined;
  return `jdbc:postgresql://${where}${query([...credentials, ['sslmode', modeOf(connection)], ['currentSchema', schema]])}`;
}

/** One ~/.pgpass line: host:port:database:username:password, with ':' and '\' escaped. */
export function pgpassOf(connection: TenantConnection): string {
  const field = (value: string) => value.replace(/[\\:]/g, (c) => `\\${c}`);
  return [connection.host, String(connection.port), connection.database, connection.user, password(connection)].map(field).join(':');
}

/** The Go MySQL driver's DSN: user:password@tcp(host:port)/database[?tls=...]. */
export function dsnOf(connection: TenantConnection): string {
  const tls = GO_TLS[modeOf(connection)];
  return `${connection.user}:${password(connection)}@tcp(${bracketed(connection.host)}:${connection.port})/${connection.database}${tls ? `?tls=${tls}` : ''}`;
}

const FORMATS: Record<OptionalSecretKey, (connection: TenantConnection) => string> = {
  uri: uriOf,
  jdbcUrl: jdbcUrlOf,
  pgpass: pgpassOf,
  dsn: dsnOf,
};

/** A value of each placeholder, in plain text. */
function placeholders(connection: TenantConnection): Record<TemplatePlaceholder, string> {
  return {
    host: connection.host,
    port: String(connection.port),
    database: connection.database,
    username: connection.user,
    password: password(connection),
    url: connectionUrl(connection, { includePassword: true }),
  };
}

/** Placeholders whose value is URL-encoded inside a URL (host and port need none; url is one already). */
const ENCODED_IN_URL: ReadonlySet<string> = new Set(['database', 'username', 'password']);

/**
 * Whether the text just before a placeholder is inside a URL: the run of non-blank characters that leads
 * to it starts with a scheme (`postgres://`, `jdbc:mysql://`).
 */
const insideUrl = (before: string) => /[A-Za-z][A-Za-z0-9+.-]*:(?:[A-Za-z0-9+.-]+:)?\/\/\S*$/.test(before);

/**
 * A template with its placeholders replaced, strictly: an unknown placeholder is an error (the API schema
 * refuses it first); values inside a URL are URL-encoded.
 */
export function renderTemplate(template: string, connection: TenantConnection, field = 'template'): string {
  const values = placeholders(connection);
  let out = '';
  let last = 0;
  for (const match of template.matchAll(PLACEHOLDER)) {
    const name = match[1] as string;
    if (!Object.hasOwn(values, name))
      throw new StoreopError('InvalidSpec', `${field}: unknown placeholder ${match[0]}`, { retryable: false });
    out += template.slice(last, match.index);
    const value = values[name as TemplatePlaceholder];
    // Judged on the text rendered so far: the placeholders before this one are values, not `{{ .x }}`.
    out += ENCODED_IN_URL.has(name) && insideUrl(out) ? enc(value) : value;
    last = match.index + match[0].length;
  }
  return out + template.slice(last);
}

/** The optional keys asked for and the rendered templates, to merge into the connection Secret. */
export function extraSecretData(
  connection: TenantConnection,
  options: { keys?: readonly OptionalSecretKey[] | undefined; template?: Readonly<Record<string, string>> | undefined },
): Record<string, string> {
  const data: Record<string, string> = {};
  for (const key of OPTIONAL_SECRET_KEYS) if (options.keys?.includes(key)) data[key] = FORMATS[key](connection);
  for (const [key, template] of Object.entries(options.template ?? {}))
    data[key] = renderTemplate(template, connection, `writeConnectionSecretToRef.template.${key}`);
  return data;
}
