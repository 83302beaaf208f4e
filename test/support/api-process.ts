// The standalone provisioning API (`storeop api`) as its own OS process on a free port, for the tests that
// meet it from outside: started from src/ like every CLI run (paths.ts), waited for until it answers, its
// output kept for assertions and failure messages, and stopped.
import { type ChildProcess, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort } from './operator.js';
import { nodeBinary, repoRoot, storeopArgs } from './paths.js';

export interface ApiProcess {
  url: string;
  child: ChildProcess;
  /** Everything it printed so far, stdout and stderr interleaved. */
  logs(): string;
  /** Sends `signal` (SIGKILL after a grace time) and resolves with the exit code (null when a signal ended it). */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

export interface ApiProcessOptions {
  /** What follows `storeop api --bind-address 127.0.0.1:<free port>`. */
  args: string[];
  /** The child's whole environment; `storeopFreeEnv()` unless given. */
  env?: NodeJS.ProcessEnv;
  cwd?: string;
}

// Generous: two cores shared with other test runs, and the first start on a master migrates it.
const UP_WITHIN_MS = 120_000;
const STOP_GRACE_MS = 120_000;
const LOG_TAIL = 6000;

const running = new Set<ChildProcess>();

/** The hex SHA-256 of a token, as the API's token-hash settings take it (computed here, not by src/, so the tests check the format). */
export const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');

/** This process's environment without the developer's STOREOP_* settings (a test says what it runs with), plus `extra`. */
export function storeopFreeEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) if (!key.startsWith('STOREOP_')) env[key] = value;
  return { ...env, ...extra };
}

/** Kills the API processes still running, for an afterAll after tests that gave up on one. */
export function killApiProcesses(): void {
  for (const child of running) child.kill('SIGKILL');
  running.clear();
}

/** Starts `storeop api` and resolves once it serves its OpenAPI document; fails with its output's tail if it exits or never answers. */
export async function startApiProcess(options: ApiProcessOptions): Promise<ApiProcess> {
  const port = await freePort();
  const child = spawn(nodeBinary, storeopArgs(['api', '--bind-address', `127.0.0.1:${port}`, ...options.args]), {
    cwd: options.cwd ?? repoRoot,
    env: options.env ?? storeopFreeEnv(),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  running.add(child);
  let output = '';
  for (const stream of [child.stdout, child.stderr]) stream?.on('data', (d: Buffer) => (output += d.toString()));
  const exited = new Promise<number | null>((resolve) =>
    child.once('exit', (code) => {
      running.delete(child);
      resolve(code);
    }),
  );
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + UP_WITHIN_MS;
  for (;;) {
    const up = await fetch(`${url}/v1/openapi.json`).then(
      (r) => r.ok,
      () => false,
    );
    if (up) break;
    if (child.exitCode !== null) throw new Error(`storeop api exited with ${child.exitCode}:\n${output.slice(-LOG_TAIL)}`);
    if (Date.now() > deadline) {
      child.kill('SIGKILL'); // the caller never gets a handle to stop it
      throw new Error(`storeop api did not come up within ${UP_WITHIN_MS / 1000} s:\n${output.slice(-LOG_TAIL)}`);
    }
    await sleep(200);
  }
  return {
    url,
    child,
    logs: () => output,
    async stop(signal = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      const timer = setTimeout(() => child.kill('SIGKILL'), STOP_GRACE_MS);
      try {
        return await exited;
      } finally {
        clearTimeout(timer);
      }
    },
  };
}
