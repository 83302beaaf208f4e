// Runs the storeop CLI as its own OS process (from src/ through tsx) and collects what it prints.
import { type ChildProcess, spawn } from 'node:child_process';
import { nodeBinary, storeopArgs } from './paths.js';

export interface CliRun {
  code: number | null;
  /** The signal that ended the process, when one did. */
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

const running = new Set<ChildProcess>();

/** Kills the CLI processes still running, for an afterEach after a test that gave up on one. */
export function killRunningCli(): void {
  for (const child of running) child.kill('SIGKILL');
  running.clear();
}

/**
 * Runs `storeop ...args`; fails when it does not finish within `timeoutMs`. With `input`, stdin is a pipe
 * that carries it (as in a shell pipeline); without, stdin is closed.
 */
export function runStoreop(
  args: string[],
  options: { cwd: string; env: NodeJS.ProcessEnv; input?: string; timeoutMs: number },
): Promise<CliRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(nodeBinary, storeopArgs(args), {
      cwd: options.cwd,
      env: options.env,
      stdio: [options.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    });
    running.add(child);
    let stdout = '';
    let stderr = '';
    child.stdout?.on('data', (d: Buffer) => {
      stdout += d.toString();
    });
    child.stderr?.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`storeop ${args.join(' ')} did not finish in ${options.timeoutMs} ms\n${stdout}\n${stderr}`));
    }, options.timeoutMs);
    child.once('error', (error) => {
      clearTimeout(timer);
      running.delete(child);
      reject(error);
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      running.delete(child);
      resolve({ code, signal, stdout, stderr });
    });
    if (options.input !== undefined) child.stdin?.end(options.input);
  });
}
