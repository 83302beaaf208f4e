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

const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ECONNRESET',
  'EAI_AGAIN',
  'PROTOCOL_CONNECTION_LOST',
]);

export function toStoreopError(error: unknown, target: ErrorTarget, secrets: readonly (string | undefined)[], doing: string): StoreopError {
  if (error instanceof StoreopError) return error;
  const e = (error ?? {}) as { code?: unknown; errno?: unknown; message?: unknown };
  const rawMessage = typeof e.message === 'string' && e.message ? e.message : String(error);
  const message = redactSecrets(rawMessage, secrets);
  let code: ErrorCode = 'ProvisioningFailed';
  if (typeof e.code === 'string' && POSTGRES_CODES[e.code]) code = POSTGRES_CODES[e.code] as ErrorCode;
  else if (typeof e.errno === 'number' && MYSQL_ERRNOS[e.errno]) code = MYSQL_ERRNOS[e.errno] as ErrorCode;
  else if (typeof e.code === 'string' && NETWORK_CODES.has(e.code)) code = 'ConnectionFailed';
  else if (/timeout expired|Connection terminated|connect ETIMEDOUT|getaddrinfo/i.test(rawMessage)) code = 'ConnectionFailed';
  return new StoreopError(code, `${doing}: ${message}`, { target });
}
