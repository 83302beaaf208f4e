// Errors of the HTTP API as RFC 9457 problem details (application/problem+json): a stable `type` URI and
// `code` per kind of problem that clients may branch on, the status, a `detail` for people, and, for
// invalid input, the fields at fault. `error` repeats the detail for clients of the earlier `{error}` body.
import type { Context } from 'hono';

export const PROBLEMS = {
  400: { code: 'invalid-request', title: 'Invalid request' },
  401: { code: 'unauthorized', title: 'Unauthorized' },
  404: { code: 'not-found', title: 'Not found' },
  405: { code: 'method-not-allowed', title: 'Method not allowed' },
  409: { code: 'conflict', title: 'Conflict' },
  413: { code: 'payload-too-large', title: 'Payload too large' },
  429: { code: 'rate-limited', title: 'Too many requests' },
  500: { code: 'internal-error', title: 'Internal error' },
  501: { code: 'not-implemented', title: 'Not implemented' },
  503: { code: 'unavailable', title: 'Service unavailable' },
} as const;

export type ProblemStatus = keyof typeof PROBLEMS;

/** The `type` of a problem: stable across releases (clients compare it, it need not resolve). */
export const problemType = (code: string) => `https://storeop.dev/problems/${code}`;

export function problemBody(status: ProblemStatus, detail: string, instance: string, issues?: Array<{ path: string; message: string }>) {
  const { code, title } = PROBLEMS[status];
  return { type: problemType(code), title, status, detail, instance, code, error: detail, ...(issues ? { issues } : {}) };
}

export function problem(c: Context, status: ProblemStatus, detail: string, issues?: Array<{ path: string; message: string }>): Response {
  // c.body keeps the headers set earlier with c.header (Retry-After, WWW-Authenticate, Connection).
  return c.body(JSON.stringify(problemBody(status, detail, c.req.path, issues)), status, { 'Content-Type': 'application/problem+json' });
}

/** A route pattern (`/v1/stores/:id`) as a regular expression over paths. */
function routePattern(path: string): RegExp {
  const escaped = path.split('/').map((part) => (part.startsWith(':') ? '[^/]+' : part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')));
  return new RegExp(`^${escaped.join('/')}/?$`);
}

/**
 * The methods the app answers on `path` (from its routes, wildcards and middleware aside): a request with
 * another method on a known path is a 405 with these in Allow, not a 404.
 */
export function allowedMethods(routes: readonly { path: string; method: string }[], path: string): string[] {
  const methods = new Set<string>();
  for (const route of routes) {
    if (route.method === 'ALL' || route.path.includes('*')) continue;
    if (routePattern(route.path).test(path)) methods.add(route.method);
  }
  if (methods.has('GET')) methods.add('HEAD');
  return [...methods].sort();
}
