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

/** Removes every occurrence of the given secrets from a text (driver messages can echo connection strings). */
export function redactSecrets(text: string, secrets: readonly (string | undefined)[]): string {
  let out = text;
  for (const secret of secrets) {
    if (secret && secret.length >= 3) out = out.split(secret).join('***');
    if (secret && secret.length >= 3) out = out.split(encodeURIComponent(secret)).join('***');
  }
  return out.replace(/(\w+:\/\/[^:/@\s]+):[^@\s]*@/g, '$1:***@');
}
