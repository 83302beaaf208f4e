// The operator's idle memory: starts `storeop run` with nothing to reconcile against a control plane of its
// own (envtest, as the tests) and a fresh PostgreSQL master DB, waits until it is ready, then samples its
// RSS (/proc/PID/status VmRSS) every second while it sits idle. Several builds or Node flags can be
// compared in the same run (each is one --variant), alternating them round by round.
//
//   node --import tsx bench/idle-memory.ts [--variant 'LABEL=CLI_JS [NAME=VALUE...] [NODE_FLAGS...]']... [--settle 30] [--rounds 2]
//
// NAME=VALUE words (upper-case names) of a variant are environment variables for that operator (for
// example MALLOC_ARENA_MAX=2); the other words are flags for node.
//
// Default variant: this checkout's operator bundle, dist/bundle/storeop.mjs, what the image runs (build it first:
// npm run build).
// Server: STOREOP_BENCH_POSTGRES_URL (default postgres://postgres@127.0.0.1:5432/postgres); every master
// database it creates is dropped again.
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { OPERATOR_NODE_OPTIONS } from '../scripts/bundle.js';
import { installOperatorPrerequisites } from '../test/support/cluster-setup.js';
import { startControlPlane } from '../test/support/control-plane.js';
import { nodeBinary, repoRoot } from '../test/support/paths.js';
import { freePort } from '../test/support/ports.js';

const POSTGRES_URL = process.env.STOREOP_BENCH_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

interface Variant {
  label: string;
  cli: string;
  env: Record<string, string>;
  nodeFlags: string[];
}

interface Sample {
  variant: string;
  settledRssMb: number;
  peakRssMb: number;
  /** The JS heap at the end, from the operator's own /metrics (prom-client's default Node metrics). */
  heapUsedMb: number;
  heapTotalMb: number;
}

async function heapFromMetrics(url: string): Promise<{ heapUsedMb: number; heapTotalMb: number }> {
  const text = await (await fetch(url)).text();
  const value = (name: string) => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1]) / 2 ** 20;
  return { heapUsedMb: value('nodejs_heap_size_used_bytes'), heapTotalMb: value('nodejs_heap_size_total_bytes') };
}

function options(): { variants: Variant[]; settleSeconds: number; rounds: number } {
  const { values } = parseArgs({
    options: {
      variant: { type: 'string', multiple: true },
      settle: { type: 'string', default: '30' },
      rounds: { type: 'string', default: '2' },
    },
  });
  const variants = (values.variant ?? [`current=${join(repoRoot, 'dist/bundle/storeop.mjs')}`]).map((spec) => {
    const [head = '', ...rest] = spec.split(/\s+/).filter(Boolean);
    const at = head.indexOf('=');
    if (at < 1) throw new Error(`--variant ${spec}: expected LABEL=CLI_JS [NAME=VALUE...] [NODE_FLAGS...]`);
    const isEnv = (word: string) => /^[A-Z_][A-Z0-9_]*=/.test(word);
    const env = Object.fromEntries(rest.filter(isEnv).map((word) => [word.slice(0, word.indexOf('=')), word.slice(word.indexOf('=') + 1)]));
    return { label: head.slice(0, at), cli: resolve(head.slice(at + 1)), env, nodeFlags: rest.filter((word) => !isEnv(word)) };
  });
  return { variants, settleSeconds: Number(values.settle), rounds: Number(values.rounds) };
}

function rssMb(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = Number(/^VmRSS:\s+(\d+) kB/m.exec(status)?.[1]);
  if (!Number.isFinite(kb)) throw new Error(`no VmRSS for ${pid}`);
  return kb / 1024;
}

async function withAdmin<T>(fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: POSTGRES_URL });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((done) => child.once('exit', done));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
  await exited;
  clearTimeout(timer);
}

/** The operator lost a race for a port picked as free (other work on the machine): worth another try. */
class PortTaken extends Error {}

async function measure(variant: Variant, kubeconfig: string, settleSeconds: number): Promise<Sample> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await measureOnce(variant, kubeconfig, settleSeconds);
    } catch (error) {
      if (!(error instanceof PortTaken) || attempt === 3) throw error;
    }
  }
}

async function measureOnce(variant: Variant, kubeconfig: string, settleSeconds: number): Promise<Sample> {
  const database = `store_bench_mem_${randomBytes(4).toString('hex')}`;
  await withAdmin((c) => c.query(`CREATE DATABASE "${database}"`));
  const masterUrl = new URL(POSTGRES_URL);
  masterUrl.pathname = `/${database}`;
  const home = mkdtempSync(join(tmpdir(), 'storeop-bench-mem-'));
  const [metricsPort, healthPort] = [await freePort(), await freePort()];
  const child = spawn(
    nodeBinary,
    [
      ...variant.nodeFlags,
      variant.cli,
      'run',
      '--kubeconfig',
      kubeconfig,
      '--master-database-url',
      masterUrl.toString(),
      '--home',
      home,
      '--metrics-bind-address',
      `127.0.0.1:${metricsPort}`,
      '--health-probe-bind-address',
      `127.0.0.1:${healthPort}`,
      '--log-level',
      'warn',
    ],
    {
      cwd: home,
      // The image's heap settings unless the variant sets NODE_OPTIONS (NODE_OPTIONS= for none) or node flags.
      env: {
        ...process.env,
        NODE_OPTIONS: OPERATOR_NODE_OPTIONS,
        ...variant.env,
        STOREOP_ENCRYPTION_KEYS: `bench:${randomBytes(32).toString('base64')}`,
      },
      stdio: ['ignore', 'ignore', 'pipe'],
    },
  );
  let errors = '';
  child.stderr?.on('data', (d: Buffer) => {
    errors += d.toString();
  });
  try {
    const deadline = Date.now() + 60_000;
    for (;;) {
      if (child.exitCode !== null) {
        if (errors.includes('EADDRINUSE')) throw new PortTaken(errors);
        throw new Error(`${variant.label}: the operator exited with ${child.exitCode}: ${errors}`);
      }
      const ready = await fetch(`http://127.0.0.1:${healthPort}/readyz`).then(
        (r) => r.ok,
        () => false,
      );
      if (ready) break;
      if (Date.now() > deadline) throw new Error(`${variant.label}: the operator was not ready within 60 s: ${errors}`);
      await sleep(200);
    }
    let peak = 0;
    let last = 0;
    for (let s = 0; s < settleSeconds; s++) {
      await sleep(1000);
      last = rssMb(child.pid as number);
      peak = Math.max(peak, last);
    }
    const heap = await heapFromMetrics(`http://127.0.0.1:${metricsPort}/metrics`);
    return { variant: variant.label, settledRssMb: last, peakRssMb: peak, ...heap };
  } finally {
    await stop(child);
    rmSync(home, { recursive: true, force: true });
    await withAdmin((c) => c.query(`DROP DATABASE IF EXISTS "${database}" WITH (FORCE)`));
  }
}

async function main(): Promise<void> {
  const { variants, settleSeconds, rounds } = options();
  console.log(
    `machine: ${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, ${(totalmem() / 2 ** 30).toFixed(1)} GiB; ` +
      `load average at start ${loadavg()
        .map((l) => l.toFixed(2))
        .join(' ')}; Node ${process.version}`,
  );
  const plane = await startControlPlane();
  const samples: Sample[] = [];
  try {
    await installOperatorPrerequisites(plane.kubeconfigPath);
    for (let round = 0; round < rounds; round++) {
      // Alternate the order so that drift on a shared machine hits every variant alike.
      const order = round % 2 === 0 ? variants : [...variants].reverse();
      for (const variant of order) {
        const sample = await measure(variant, plane.kubeconfigPath, settleSeconds);
        console.log(
          `round ${round + 1} ${sample.variant.padEnd(20)} RSS after ${settleSeconds} s idle ${sample.settledRssMb.toFixed(1)} MB, peak ${sample.peakRssMb.toFixed(1)} MB; JS heap ${sample.heapUsedMb.toFixed(1)} MB used of ${sample.heapTotalMb.toFixed(1)} MB`,
        );
        samples.push(sample);
      }
    }
  } finally {
    await plane.stop();
  }
  console.log(`\nidle operator RSS (median of ${rounds} rounds; target ≤ 120 MB)`);
  for (const variant of variants) {
    const mine = samples.filter((s) => s.variant === variant.label);
    const median = (values: number[]) => {
      const sorted = [...values].sort((a, b) => a - b);
      const middle = sorted.length / 2;
      return sorted.length % 2 ? (sorted[Math.floor(middle)] as number) : ((sorted[middle - 1] as number) + (sorted[middle] as number)) / 2;
    };
    console.log(
      `  ${variant.label.padEnd(20)} ${median(mine.map((s) => s.settledRssMb)).toFixed(1)} MB settled, ${median(mine.map((s) => s.peakRssMb)).toFixed(1)} MB peak, JS heap ${median(mine.map((s) => s.heapUsedMb)).toFixed(1)} MB used   (${[...Object.entries(variant.env).map(([k, v]) => `${k}=${v}`), variant.cli, ...variant.nodeFlags].join(' ')})`,
    );
  }
  console.log(
    `load average at end ${loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')}`,
  );
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
