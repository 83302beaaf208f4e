// The operator under test: `node dist/cli/main.js run` as a child process with its defaults (plus the
// flags a phase names), its CPU and RSS read from /proc, its reconcile counts from its /metrics.
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createWriteStream, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { BUNDLE_ENTRY, bundleCli, OPERATOR_NODE_OPTIONS } from '../../scripts/bundle.js';
import { nodeBinary, repoRoot } from '../../test/support/paths.js';
import { freePort } from '../../test/support/ports.js';

/** storeop run's --max-concurrent-reconciles default. */
export const DEFAULT_WORKERS = 4;
const cliOf = (dist: string) => join(resolve(dist), 'cli/main.js');
/** What the image runs (scripts/bundle.ts), built by buildOperator(). */
const BUNDLE_CLI = join(repoRoot, 'dist/bundle', BUNDLE_ENTRY);
// The master DB keeps store credentials encrypted; a fresh key per bench run (its master DB is dropped after).
const ENCRYPTION_KEYS = `fleet:${randomBytes(32).toString('base64')}`;
const CLOCK_TICKS = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;

/** Builds dist/ (and its bundle) from src/ so the operator measured is the code in this tree. */
export async function buildOperator(): Promise<void> {
  execFileSync(join(repoRoot, 'node_modules/.bin/tsc'), ['-p', 'tsconfig.build.json'], { cwd: repoRoot, stdio: 'inherit' });
  await bundleCli(join(repoRoot, 'dist/bundle'));
}

/** Checks that `dist` (this tree's by default, or --operator-dist) holds a built operator. */
export function assertBuilt(dist?: string): void {
  const cli = dist ? cliOf(dist) : BUNDLE_CLI;
  if (!existsSync(cli)) throw new Error(`${cli} is missing: run npm run build there (or drop --no-build)`);
}

/** CPU seconds (user + system) a process has used so far. */
export function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // Fields 14 and 15 of stat (utime, stime) are the 12th and 13th after the command name.
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
}

/** Resident set size in MB. */
export function rssMb(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
  return kb / 1024;
}

/** Where a process's RSS is, from /proc/PID/smaps: malloc's main heap, other anonymous memory, mapped files. */
export interface RssBreakdown {
  /** glibc's main arena ([heap]): native allocations of the main thread (Buffers' backing stores, V8 internals). */
  mallocHeapMb: number;
  /** Other anonymous mappings: V8's heap pages, thread arenas and stacks. */
  anonymousMb: number;
  /** File-backed pages: the node binary and shared libraries. */
  fileMb: number;
}

export function rssBreakdown(pid: number): RssBreakdown {
  const result = { mallocHeapMb: 0, anonymousMb: 0, fileMb: 0 };
  let bucket: keyof RssBreakdown = 'anonymousMb';
  for (const line of readFileSync(`/proc/${pid}/smaps`, 'utf8').split('\n')) {
    const mapping = /^[0-9a-f]+-[0-9a-f]+ \S+ \S+ \S+ (\d+)\s*(.*)$/.exec(line);
    if (mapping) {
      const [, inode, name = ''] = mapping;
      bucket = name === '[heap]' ? 'mallocHeapMb' : inode !== '0' ? 'fileMb' : 'anonymousMb';
    } else if (line.startsWith('Rss:')) {
      result[bucket] += Number(line.split(/\s+/)[1]) / 1024;
    }
  }
  return result;
}

export interface MetricsSnapshot {
  /** controller_runtime_reconcile_total summed over results, per controller (store, storedatabase). */
  reconciles: Record<string, number>;
  /** workqueue_depth per queue. */
  depth: Record<string, number>;
  /** storeop_stores summed over phases: the Stores in the operator's cache. */
  cachedStores: number;
  /** The JS heap in use (nodejs_heap_size_used_bytes), MB. */
  heapUsedMb: number;
}

export function parseMetrics(text: string): MetricsSnapshot {
  const snapshot: MetricsSnapshot = { reconciles: {}, depth: {}, cachedStores: 0, heapUsedMb: 0 };
  for (const line of text.split('\n')) {
    const m = /^(\w+)(?:\{([^}]*)\})?\s+(\S+)/.exec(line);
    if (!m) continue;
    const [, name, labels = '', raw] = m;
    const value = Number(raw);
    const label = (key: string) => new RegExp(`${key}="([^"]*)"`).exec(labels)?.[1] ?? '';
    if (name === 'controller_runtime_reconcile_total') {
      const c = label('controller');
      snapshot.reconciles[c] = (snapshot.reconciles[c] ?? 0) + value;
    } else if (name === 'workqueue_depth') {
      snapshot.depth[label('name')] = value;
    } else if (name === 'storeop_stores') {
      snapshot.cachedStores += value;
    } else if (name === 'nodejs_heap_size_used_bytes') {
      snapshot.heapUsedMb = value / 1024 / 1024;
    }
  }
  return snapshot;
}

export interface Operator {
  pid: number;
  workers: number;
  metrics(): Promise<MetricsSnapshot>;
  cpu(): number;
  rss(): number;
  rssBreakdown(): RssBreakdown;
  /** Writes a heap snapshot (only when started with heapSnapshotDir) and returns its path. */
  heapSnapshot(): Promise<string>;
  logTail(lines?: number): string;
  stop(): Promise<void>;
}

export async function startOperator(options: {
  kubeconfig: string;
  masterUrl: string;
  /** --max-concurrent-reconciles; unset: the operator's default. */
  workers?: number;
  resyncPeriodMs?: number;
  /** Appends the operator's log to this file (else only its tail is kept, for errors). */
  logFile?: string | undefined;
  /** A built dist/ folder to run the operator from (another commit's, for A/B); default this tree's bundle. */
  dist?: string | undefined;
  /** Lets heapSnapshot() write V8 heap snapshots into this folder (node --heapsnapshot-signal). */
  heapSnapshotDir?: string | undefined;
  /** Extra node flags (e.g. --cpu-prof), after the image's NODE_OPTIONS (they win). */
  nodeOptions?: string[] | undefined;
}): Promise<Operator> {
  const home = mkdtempSync(join(tmpdir(), 'storeop-fleet-home-'));
  const [metricsPort, healthPort] = [await freePort(), await freePort()];
  const snapshotDir = options.heapSnapshotDir;
  const args = [
    ...(options.nodeOptions ?? []),
    ...(snapshotDir ? ['--heapsnapshot-signal=SIGUSR2', `--diagnostic-dir=${snapshotDir}`] : []),
    options.dist ? cliOf(options.dist) : BUNDLE_CLI,
    'run',
    '--kubeconfig',
    options.kubeconfig,
    '--master-database-url',
    options.masterUrl,
    '--home',
    home,
    '--metrics-bind-address',
    `127.0.0.1:${metricsPort}`,
    '--health-probe-bind-address',
    `127.0.0.1:${healthPort}`,
    ...(options.workers ? ['--max-concurrent-reconciles', String(options.workers)] : []),
    ...(options.resyncPeriodMs ? ['--resync-period', `${options.resyncPeriodMs}ms`] : []),
  ];
  const child: ChildProcess = spawn(nodeBinary, args, {
    cwd: repoRoot,
    // The image's heap settings; --operator-node-options come later on the command line and win.
    env: { ...process.env, NODE_OPTIONS: OPERATOR_NODE_OPTIONS, STOREOP_ENCRYPTION_KEYS: ENCRYPTION_KEYS },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  // Keep only the tail of the log: a fleet run can log a lot.
  let output = '';
  const keep = (d: Buffer) => {
    output = (output + d.toString()).slice(-200_000);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  if (options.logFile) {
    const file = createWriteStream(options.logFile, { flags: 'a' });
    child.stdout?.pipe(file);
    child.stderr?.pipe(file);
  }
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const metricsUrl = `http://127.0.0.1:${metricsPort}/metrics`;
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
      await exited;
      clearTimeout(timer);
    }
    rmSync(home, { recursive: true, force: true });
  };
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null) {
      await stop();
      throw new Error(`the operator exited with ${child.exitCode}:\n${output.slice(-4000)}`);
    }
    const ready = await fetch(`http://127.0.0.1:${healthPort}/readyz`).then(
      (r) => r.ok,
      () => false,
    );
    if (ready) break;
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`the operator's caches did not sync within 60s:\n${output.slice(-4000)}`);
    }
    await sleep(200);
  }
  const pid = child.pid as number;
  return {
    pid,
    workers: options.workers ?? DEFAULT_WORKERS,
    metrics: async () => parseMetrics(await readMetrics(metricsUrl, () => child.exitCode === null && child.signalCode === null)),
    cpu: () => cpuSeconds(pid),
    rss: () => rssMb(pid),
    rssBreakdown: () => rssBreakdown(pid),
    heapSnapshot: async () => {
      if (!snapshotDir) throw new Error('the operator was started without heapSnapshotDir');
      return writeHeapSnapshot(child, snapshotDir, metricsUrl);
    },
    logTail: (lines = 20) => output.trimEnd().split('\n').slice(-lines).join('\n'),
    stop,
  };
}

/**
 * The operator's /metrics. A failed fetch of a live operator is retried: on a machine at load 40 the bench's
 * own event loop can stall past undici's 10 s connect timeout, which is not the operator's failure.
 */
async function readMetrics(url: string, alive: () => boolean): Promise<string> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await (await fetch(url)).text();
    } catch (error) {
      if (!alive() || attempt >= 5) throw error;
      await sleep(1000);
    }
  }
}

const answers = (url: string): Promise<boolean> =>
  fetch(url).then(
    (r) => r.ok,
    () => false,
  );

/**
 * Signals the operator to write a heap snapshot and waits until it is complete: V8 writes it on the main
 * thread, so once a new file exists and /metrics answers again, the file is whole.
 */
async function writeHeapSnapshot(child: ChildProcess, dir: string, metricsUrl: string): Promise<string> {
  const before = new Set(readdirSync(dir));
  child.kill('SIGUSR2');
  const deadline = Date.now() + 10 * 60_000;
  for (;;) {
    const written = readdirSync(dir).find((f) => f.endsWith('.heapsnapshot') && !before.has(f));
    if (written && (await answers(metricsUrl))) return join(dir, written);
    if (Date.now() > deadline) throw new Error('the operator wrote no heap snapshot within 10 minutes');
    await sleep(500);
  }
}

/**
 * Waits until the operator is idle: every queue empty and no reconcile counted over `quietMs` (Pending
 * objects that requeue every 30 s can break the quiet; then the timeout ends the wait, reported).
 */
export async function settle(operator: Operator, quietMs: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  let quietSince = Date.now();
  while (Date.now() < deadline) {
    const m = await operator.metrics();
    const busy = Object.values(m.depth).some((d) => d > 0);
    const key = JSON.stringify(m.reconciles);
    if (busy || key !== last) {
      last = key;
      quietSince = Date.now();
    } else if (Date.now() - quietSince >= quietMs) {
      return true;
    }
    await sleep(250);
  }
  return false;
}
