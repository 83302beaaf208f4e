// One pino logger, JSON by default, with structured fields and a redaction list so that a secret that
// reaches a log call by mistake is still not written.
import pino, { type Logger } from 'pino';
import { z } from 'zod';
import { StoreopError } from './errors.js';

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

/** The level: the --log-level flag, else STOREOP_LOG_LEVEL, else info. */
export function createLogger(options: { level?: string | undefined; pretty?: boolean } = {}): Logger {
  return pino({
    level: options.level ?? levelFromEnv() ?? 'info',
    base: { component: 'storeop' },
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
  });
}
