// storeop's version, read from package.json next to src/ or dist/ (the same relative path from both).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

export function storeopVersion(): string {
  const pkg = JSON.parse(readFileSync(join(import.meta.dirname, '../../package.json'), 'utf8')) as { version?: unknown };
  return typeof pkg.version === 'string' ? pkg.version : 'unknown';
}
