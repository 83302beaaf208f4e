// Typed errors with messages that name the target (host, database) and never a secret.

export const ERROR_CODES = [
  'InvalidSpec',
  'ConnectionFailed',
  /** An open connection was dropped mid-operation (backend terminated, server restarted): retry. */
  'ConnectionLost',
  'AuthenticationFailed',
  'PermissionDenied',
  'DatabaseNotFound',
  'SchemaConflict',
  'MigrationChanged',
  'LockTimeout',
  'ProvisioningFailed',
  'StoreNotFound',
  'NoDatabaseConfigured',
  'StoreSuspended',
  'DecryptionFailed',
  /** The request names something that belongs to someone else (a slug declared elsewhere). */
  'Conflict',
] as const;
export type ErrorCode = (typeof ERROR_CODES)[number];

export interface ErrorTarget {
  engine?: string;
  host?: string;
  port?: number;
  database?: string;
  schema?: string;
}

export class StoreopError extends Error {
  readonly code: ErrorCode;
  readonly target: ErrorTarget | undefined;
  /** Whether running the same request again, unchanged, may succeed. */
  readonly retryable: boolean;

  constructor(code: ErrorCode, message: string, options: { target?: ErrorTarget; retryable?: boolean; cause?: unknown } = {}) {
    super(options.target ? `${message} (${describeTarget(options.target)})` : message, { cause: options.cause });
    this.name = code;
    this.code = code;
    this.target = options.target;
    this.retryable = options.retryable ?? !['InvalidSpec', 'SchemaConflict', 'MigrationChanged', 'Conflict'].includes(code);
  }
}

export function describeTarget(target: ErrorTarget): string {
  const parts: string[] = [];
  if (target.engine) parts.push(target.engine);
  if (target.host) parts.push(target.port ? `${target.host}:${target.port}` : target.host);
  if (target.database) parts.push(`database ${target.database}`);
  if (target.schema) parts.push(`schema ${target.schema}`);
  return parts.join(', ');
}

export function isStoreopError(error: unknown, code?: ErrorCode): error is StoreopError {
  return error instanceof StoreopError && (code === undefined || error.code === code);
}

/** Shortest secret that is redacted wherever it appears; shorter ones only where they stand delimited. */
const ANYWHERE_MIN_LENGTH = 3;

const escapeRegExp = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/**
 * The password of a URL's userinfo: "scheme://user:" then everything up to the LAST "@" of the authority
 * (a password may itself hold ":" and "@"; the authority ends at whitespace, "/", "?", "#", a quote or
 * an angle bracket), so `postgres://admin:p@ss:w0rd@db` becomes `postgres://admin:***@db`.
 */
const URL_PASSWORD = /\b([a-z][a-z0-9+.-]*:\/\/[^\s/?#"'<>@:]*):[^\s/?#"'<>]*@/gi;

/** `password=...` in key/value connection strings (libpq, JDBC-style query parameters). */
const KEY_VALUE_PASSWORD = /\b(password|passwd|pwd)=[^\s&;,"']+/gi;

/** Redacts credentials recognisable by their shape, whatever their value: URL passwords and `password=...`. */
export function redactCredentials(text: string): string {
  return text.replace(URL_PASSWORD, '$1:***@').replace(KEY_VALUE_PASSWORD, '$1=***');
}

/**
 * Removes every occurrence of the given secrets from a text (driver messages can echo connection strings),
 * then every credential recognisable by its shape (redactCredentials).
 *
 * A secret of 3 or more characters is replaced wherever it appears, as is and percent-encoded. A shorter
 * one (1-2 characters) would turn every "a" of a message into "***", so it is replaced only where it stands
 * as a value: the whole text; quoted ("x", 'x', `x`); or right after "=" or ":" (`password=x`, `:x@`)
 * and followed by "@", whitespace, a quote, ",", ";", "&" or the end of the text.
 */
export function redactSecrets(text: string, secrets: readonly (string | undefined)[]): string {
  let out = text;
  for (const secret of secrets) {
    if (!secret) continue;
    for (const form of new Set([secret, encodeURIComponent(secret)])) {
      if (secret.length >= ANYWHERE_MIN_LENGTH) {
        out = out.split(form).join('***');
        continue;
      }
      if (out.trim() === form) {
        out = '***';
        continue;
      }
      const s = escapeRegExp(form);
      out = out.replace(new RegExp(`(["'\`])${s}\\1`, 'g'), '$1***$1').replace(new RegExp(`([=:])${s}(?=[@\\s"'\`,;&]|$)`, 'g'), '$1***');
    }
  }
  return redactCredentials(out);
}
