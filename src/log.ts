// One pino logger, JSON by default, with structured fields and a redaction list so that a secret that
// reaches a log call by mistake is still not written.
import pino, { type Logger } from 'pino';

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

export function createLogger(options: { level?: string; pretty?: boolean } = {}): Logger {
  return pino({
    level: options.level ?? process.env.STOREOP_LOG_LEVEL ?? 'info',
    base: { component: 'storeop' },
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
  });
}
