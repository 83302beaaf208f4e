// One pino logger, JSON by default, with structured fields and a redaction list so that a secret that
// reaches a log call by mistake is still not written; and, since a secret can also hide inside a string
// (an error message or stack quoting a connection URL), a last pass over each finished line.
import pino, { type Logger } from 'pino';
import { z } from 'zod';
import { redactCredentials, StoreopError } from './errors.js';

export const REDACT_PATHS = [
  'password',
  '*.password',
  '*.*.password',
  'token',
  '*.token',
  'adminPassword',
  'url',
  '*.url',
  'connectionString',
  'secret',
  '*.secret',
  'headers.authorization',
  'req.headers.authorization',
  'data',
  '*.data',
  'stringData',
  '*.stringData',
];

export type { Logger };

export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error'] as const;

/** STOREOP_LOG_LEVEL, checked: a typo is an error that names the variable, not a silent default. */
function levelFromEnv(): (typeof LOG_LEVELS)[number] | undefined {
  const parsed = z
    .enum(LOG_LEVELS)
    .optional()
    .safeParse(process.env.STOREOP_LOG_LEVEL || undefined);
  if (!parsed.success)
    throw new StoreopError('InvalidSpec', `STOREOP_LOG_LEVEL: must be one of ${LOG_LEVELS.join(', ')}`, { retryable: false });
  return parsed.data;
}

/** A secret-named field at any depth, whatever its value (REDACT_PATHS only reaches the depths it lists). */
const SECRET_FIELD = /"(password|adminPassword|token|secret|authorization|serviceRoleKey|anonKey)":"(?:[^"\\]|\\.)*"/g;

/**
 * The last pass over a finished JSON line: secret-named fields at any depth, then URL passwords and
 * `password=` values inside any string (msg, err.message, err.stack, nested fields).
 */
export function redactLogLine(line: string): string {
  return redactCredentials(line.replace(SECRET_FIELD, '"$1":"[redacted]"'));
}

export interface LoggerOptions {
  /** The --log-level flag; else STOREOP_LOG_LEVEL, else info. */
  level?: string | undefined;
  pretty?: boolean;
  /** Where lines go (stdout by default). */
  destination?: pino.DestinationStream;
}

export function createLogger(options: LoggerOptions = {}): Logger {
  return pino(
    {
      level: options.level ?? levelFromEnv() ?? 'info',
      base: { component: 'storeop' },
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      hooks: { streamWrite: redactLogLine },
    },
    options.destination,
  );
}
