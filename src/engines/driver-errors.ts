// Maps driver errors (pg, mysql2, PGlite) to storeop's typed errors, naming the target, never a secret.
import { type ErrorCode, type ErrorTarget, redactSecrets, StoreopError } from '../errors.js';

const POSTGRES_CODES: Record<string, ErrorCode> = {
  '28P01': 'AuthenticationFailed',
  '28000': 'AuthenticationFailed',
  '3D000': 'DatabaseNotFound',
  '42501': 'PermissionDenied',
  '55P03': 'LockTimeout',
  '53300': 'ConnectionFailed', // too many connections
  '57P03': 'ConnectionFailed', // cannot connect now
};

const MYSQL_ERRNOS: Record<number, ErrorCode> = {
  1045: 'AuthenticationFailed',
  1044: 'PermissionDenied',
  1142: 'PermissionDenied',
  1227: 'PermissionDenied',
  1410: 'PermissionDenied',
  1049: 'DatabaseNotFound',
  1205: 'LockTimeout',
  3572: 'LockTimeout',
  1040: 'ConnectionFailed', // too many connections
  1203: 'ConnectionFailed', // max_user_connections
};

const NETWORK_CODES = new Set(['ECONNREFUSED', 'ENOTFOUND', 'ETIMEDOUT', 'EHOSTUNREACH', 'EAI_AGAIN']);

/**
 * How drivers report a connection that was open and then dropped: PostgreSQL's backend terminated
 * (57P01 admin_shutdown, 57P02 crash_shutdown) or the socket closed under node-postgres; MySQL/MariaDB's
 * session killed (1927 ER_CONNECTION_KILLED, 1053 ER_SERVER_SHUTDOWN) or the socket lost under mysql2.
 */
const LOST_POSTGRES_CODES = new Set(['57P01', '57P02']);
const LOST_MYSQL_ERRNOS = new Set([1927, 1053]);
const LOST_NETWORK_CODES = new Set(['ECONNRESET', 'EPIPE', 'PROTOCOL_CONNECTION_LOST', 'ER_CONNECTION_KILLED', 'ER_SERVER_SHUTDOWN']);
const LOST_MESSAGES =
  /Connection terminated unexpectedly|Connection lost|Can't write in closed state|Can't add new command when connection is in closed state|Client has encountered a connection error and is not queryable/i;

/** Whether a driver error says an open connection was dropped: the same work on a new connection may succeed. */
export function isConnectionLost(error: unknown): boolean {
  if (error instanceof StoreopError) return error.code === 'ConnectionLost';
  const e = (error ?? {}) as { code?: unknown; errno?: unknown; message?: unknown };
  if (typeof e.code === 'string' && (LOST_POSTGRES_CODES.has(e.code) || LOST_NETWORK_CODES.has(e.code))) return true;
  if (typeof e.errno === 'number' && LOST_MYSQL_ERRNOS.has(e.errno)) return true;
  return typeof e.message === 'string' && LOST_MESSAGES.test(e.message);
}

/** Whether a driver error says the server refused the login (wrong password, unknown user). */
export function isAuthenticationFailure(error: unknown): boolean {
  if (error instanceof StoreopError) return error.code === 'AuthenticationFailed';
  const e = (error ?? {}) as { code?: unknown; errno?: unknown };
  if (typeof e.code === 'string' && POSTGRES_CODES[e.code] === 'AuthenticationFailed') return true;
  return typeof e.errno === 'number' && MYSQL_ERRNOS[e.errno] === 'AuthenticationFailed';
}

export function toStoreopError(error: unknown, target: ErrorTarget, secrets: readonly (string | undefined)[], doing: string): StoreopError {
  if (error instanceof StoreopError) return error;
  const e = (error ?? {}) as { code?: unknown; errno?: unknown; message?: unknown };
  const rawMessage = typeof e.message === 'string' && e.message ? e.message : String(error);
  const message = redactSecrets(rawMessage, secrets);
  let code: ErrorCode = 'ProvisioningFailed';
  if (isConnectionLost(error)) code = 'ConnectionLost';
  else if (typeof e.code === 'string' && POSTGRES_CODES[e.code]) code = POSTGRES_CODES[e.code] as ErrorCode;
  else if (typeof e.errno === 'number' && MYSQL_ERRNOS[e.errno]) code = MYSQL_ERRNOS[e.errno] as ErrorCode;
  else if (typeof e.code === 'string' && NETWORK_CODES.has(e.code)) code = 'ConnectionFailed';
  else if (/timeout expired|Connection terminated|connect ETIMEDOUT|ECONNRESET|getaddrinfo/i.test(rawMessage)) code = 'ConnectionFailed';
  return new StoreopError(code, `${doing}: ${message}`, { target });
}
