// What the input-handling and API-limit tests share: `storeop api` as a real child process on a free
// port (its environment cleared of the developer's storeop settings), and storeop CLI runs in a fresh
// directory.
import { type ChildProcess, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { type CliRun, runStoreop } from '../support/cli.js';
import { freePort } from '../support/operator.js';
import { nodeBinary, storeopArgs } from '../support/paths.js';

export const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');

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

export interface ApiProcess {
  url: string;
  logs(): string;
  /** Sends a request with `Authorization: Bearer token` (none when token is null). */
  call(path: string, token: string | null, init?: RequestInit): Promise<Response>;
  stop(): Promise<void>;
}

/** Starts `storeop api ...args` and waits until it answers. */
export async function startApi(options: { cwd: string; args: string[]; env: Record<string, string> }): Promise<ApiProcess> {
  const port = await freePort();
  const child: ChildProcess = spawn(nodeBinary, storeopArgs(['api', '--bind-address', `127.0.0.1:${port}`, ...options.args]), {
    cwd: options.cwd,
    env: cleanEnv(options.env),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  for (const stream of [child.stdout, child.stderr]) stream?.on('data', (d: Buffer) => (output += d.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 120_000;
  for (;;) {
    const up = await fetch(`${url}/v1/openapi.json`).then(
      (r) => r.ok,
      () => false,
    );
    if (up) break;
    if (child.exitCode !== null) throw new Error(`storeop api exited with ${child.exitCode}:\n${output}`);
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`storeop api did not come up within 120 s:\n${output}`);
    }
    await sleep(200);
  }
  return {
    url,
    logs: () => output,
    call(path, token, init = {}) {
      const headers = new Headers(init.headers);
      if (token !== null) headers.set('authorization', `Bearer ${token}`);
      if (init.body !== undefined) headers.set('content-type', 'application/json');
      return fetch(`${url}${path}`, { ...init, headers });
    },
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    },
  };
}
