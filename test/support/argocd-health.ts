// Runs the Argo CD health checks of manifests/argocd/ the way Argo CD does (the script is the body of a
// function of `obj`, returning {status, message}), on Debian's lua5.1 (Argo CD's gopher-lua is Lua 5.1).
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { HEALTH_CHECKS } from '../../scripts/argocd-snippet.js';
import { repoRoot } from './paths.js';

export type HealthStatus = 'Healthy' | 'Progressing' | 'Degraded' | 'Suspended' | 'Missing' | 'Unknown';

/** A JSON value as a Lua table constructor (arrays become 1-based sequences, as Argo CD converts them). */
export function toLua(value: unknown): string {
  if (value === null || value === undefined) return 'nil';
  if (typeof value === 'string') return JSON.stringify(value); // JSON string escapes are valid Lua escapes, bar \u
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  if (Array.isArray(value)) return `{${value.map(toLua).join(', ')}}`;
  const entries = Object.entries(value as Record<string, unknown>).map(([k, v]) => `[${JSON.stringify(k)}] = ${toLua(v)}`);
  return `{${entries.join(', ')}}`;
}

/** The health Argo CD would report for `obj` (a Store, StoreDatabase, DatabaseServer or StoreSchema). */
export function argocdHealth(obj: { kind: string }): Promise<{ status: HealthStatus; message: string }> {
  const file = HEALTH_CHECKS[obj.kind];
  if (!file) throw new Error(`no health check for ${obj.kind}`);
  const script = readFileSync(join(repoRoot, 'manifests/argocd', file), 'utf8');
  // Non-ASCII would reach Lua as \u escapes it does not know: the objects here are ASCII, say so if not.
  const literal = toLua(obj);
  if (/\\u[0-9a-f]{4}/i.test(literal)) throw new Error('the object holds non-ASCII text: teach toLua to write it as bytes');
  const program = `local obj = ${literal}\nlocal function check()\n${script}\nend\nlocal hs = check()\nio.write(hs.status, "\\n", hs.message or "")\n`;
  return new Promise((resolveRun, reject) => {
    const child = execFile('lua5.1', ['-'], { encoding: 'utf8', timeout: 30_000 }, (error, stdout, stderr) => {
      if (error) return reject(new Error(`lua5.1 failed: ${stderr || error.message}`));
      const [status, ...message] = stdout.split('\n');
      resolveRun({ status: status as HealthStatus, message: message.join('\n') });
    });
    child.stdin?.end(program);
  });
}
