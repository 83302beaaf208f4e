// What the input-handling and API-limit tests share: `storeop api` as a real child process on a free
// port (its environment cleared of the developer's storeop settings), and storeop CLI runs in a fresh
// directory.
import { randomBytes } from 'node:crypto';
import { type ApiProcess as RunningApi, startApiProcess } from '../support/api-process.js';
import { type CliRun, runStoreop } from '../support/cli.js';

export { sha256 } from '../support/api-process.js';

/** A slug of this suite (tag inp): lowercase letters, digits and '-'. */
export const inpSlug = () => `inp-${randomBytes(5).toString('hex')}`;

/** The environment without STOREOP_* settings, CI or colours, plus `extra`. */
export function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (value !== undefined && !key.startsWith('STOREOP_') && key !== 'CI' && key !== 'FORCE_COLOR') env[key] = value;
  }
  return { ...env, ...extra };
}

export function storeop(args: string[], options: { cwd: string; env?: Record<string, string>; input?: string }): Promise<CliRun> {
  return runStoreop(args, { cwd: options.cwd, env: cleanEnv(options.env), input: options.input ?? '', timeoutMs: 180_000 });
}

export const describeRun = (run: CliRun) => `exit ${run.code}\n--- stdout\n${run.stdout}\n--- stderr\n${run.stderr}`;

export interface ApiProcess extends RunningApi {
  /** Sends a request with `Authorization: Bearer token` (none when token is null). */
  call(path: string, token: string | null, init?: RequestInit): Promise<Response>;
}

/** Starts `storeop api ...args` and waits until it answers; stop() kills it unless given another signal. */
export async function startApi(options: { cwd: string; args: string[]; env: Record<string, string> }): Promise<ApiProcess> {
  const api = await startApiProcess({ cwd: options.cwd, args: options.args, env: cleanEnv(options.env) });
  return {
    ...api,
    call(path, token, init = {}) {
      const headers = new Headers(init.headers);
      if (token !== null) headers.set('authorization', `Bearer ${token}`);
      if (init.body !== undefined) headers.set('content-type', 'application/json');
      return fetch(`${api.url}${path}`, { ...init, headers });
    },
    stop: (signal = 'SIGKILL') => api.stop(signal),
  };
}
