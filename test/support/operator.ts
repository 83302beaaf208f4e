// Runs the operator as a child process, authenticated as a user bound only to the RBAC in manifests/.
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { KubeConfig } from '@kubernetes/client-node';
import { inject } from 'vitest';
import { OPERATOR_NODE_OPTIONS } from '../../scripts/bundle.js';
import { TokenVerifier } from '../../src/http/auth.js';
import { runEveryStep } from './cleanup.js';
import { installOperatorPrerequisites as install, kubectlWith } from './cluster-setup.js';
import { createPostgresDatabase, type TempDatabase } from './databases.js';
import { adminKubeConfig, createTestNamespace } from './kube.js';
import { nodeBinary, repoRoot } from './paths.js';
import { freePort } from './ports.js';

let installed: Promise<void> | undefined;

/** The global setup installs CRDs and RBAC before any test; this re-applies them (a no-op) once per worker. */
export function installOperatorPrerequisites(): Promise<void> {
  installed ??= install(inject('kubeconfigPath'));
  return installed;
}

const run = promisify(execFile);

export function kubectl(args: string[], input?: string): Promise<{ stdout: string; stderr: string }> {
  return kubectlWith(inject('kubeconfigPath'), args, input);
}

/**
 * A kubeconfig for a test user (no groups: RBAC decides everything). `server` points it elsewhere, e.g. at
 * a recording proxy (plain HTTP on localhost, which client-node accepts only with skipTLSVerify).
 */
export function userKubeconfig(
  user: 'storeop-operator' | 'storeop-operator-2',
  server?: string,
  token = inject('kubeUserTokens')[user],
): string {
  if (!token) throw new Error(`no token for ${user}; USE_EXISTING_CLUSTER runs need their own operator credentials`);
  const kc = new KubeConfig();
  const cluster = server
    ? { name: 'envtest', server, skipTLSVerify: true }
    : { name: 'envtest', server: inject('kubeServer'), caData: inject('kubeCaData') };
  kc.loadFromOptions({
    clusters: [cluster],
    users: [{ name: user, token }],
    contexts: [{ name: user, cluster: 'envtest', user }],
    currentContext: user,
  });
  const dir = mkdtempSync(join(tmpdir(), 'storeop-kc-'));
  const path = join(dir, 'kubeconfig');
  writeFileSync(path, kc.exportConfig(), { mode: 0o600 });
  return path;
}

export { freePort };

export interface OperatorProcess {
  child: ChildProcess;
  logs(): string;
  metricsUrl: string;
  healthUrl: string;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/** The encryption key the tests' operators run with (the master DB keeps store credentials encrypted). */
export const TEST_ENCRYPTION_KEYS = 'test:MDEyMzQ1Njc4OTAxMjM0NTY3ODkwMTIzNDU2Nzg5MDE=';

export async function startOperator(options: {
  masterUrl: string;
  home: string;
  namespace?: string;
  args?: string[];
  user?: 'storeop-operator' | 'storeop-operator-2';
  env?: Record<string, string>;
  /** Another API server address for the operator's kubeconfig (a recording proxy). */
  server?: string;
  /** The user's token on another control plane than the tests' shared one (with `server`). */
  token?: string;
}): Promise<OperatorProcess> {
  const kubeconfig = userKubeconfig(options.user ?? 'storeop-operator', options.server, options.token);
  const [metricsPort, healthPort] = [await freePort(), await freePort()];
  // The bundle the image runs (built from src/ by the global setup), not src/ through tsx.
  const args = [
    inject('operatorEntry'),
    'run',
    '--kubeconfig',
    kubeconfig,
    '--master-database-url',
    options.masterUrl,
    '--home',
    options.home,
    '--metrics-bind-address',
    `127.0.0.1:${metricsPort}`,
    '--health-probe-bind-address',
    `127.0.0.1:${healthPort}`,
    '--resync-period',
    '10m',
    '--grace-period',
    '5s',
    ...(options.namespace ? ['--namespace', options.namespace] : []),
    // DatabaseServers are cluster-scoped and the control plane is shared by every test file: each operator
    // manages only the servers its own test labels, as operators sharding one cluster would.
    ...(options.namespace && !options.args?.includes('--database-server-selector')
      ? ['--database-server-selector', `storeop.dev/test=${options.namespace}`]
      : []),
    // StorePlans are cluster-scoped too: each operator honours only those its own test labels.
    ...(options.namespace && !options.args?.includes('--store-plan-selector')
      ? ['--store-plan-selector', `storeop.dev/test=${options.namespace}`]
      : []),
    ...(options.args ?? []),
  ];
  const child = spawn(nodeBinary, args, {
    cwd: repoRoot,
    env: {
      ...process.env,
      NODE_OPTIONS: [process.env.NODE_OPTIONS, OPERATOR_NODE_OPTIONS].filter(Boolean).join(' '),
      STOREOP_ENCRYPTION_KEYS: TEST_ENCRYPTION_KEYS,
      ...options.env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout?.on('data', (d: Buffer) => {
    output += d.toString();
  });
  child.stderr?.on('data', (d: Buffer) => {
    output += d.toString();
  });
  const exited = new Promise<number | null>((r) =>
    child.once('exit', (code) => {
      rmSync(dirname(kubeconfig), { recursive: true, force: true }); // the token's temp folder
      r(code);
    }),
  );
  const healthUrl = `http://127.0.0.1:${healthPort}`;
  // Generous: on a busy 2-core machine a fresh operator (tsx, the master DB migrations) can take a minute.
  const deadline = Date.now() + 120_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`operator exited with ${child.exitCode}:\n${output}`);
    const ok = await fetch(`${healthUrl}/healthz`).then(
      (r) => r.ok,
      () => false,
    );
    if (ok) break;
    if (Date.now() > deadline) {
      child.kill('SIGKILL'); // the caller never gets a handle to stop it
      throw new Error(`operator did not come up:\n${output}`);
    }
    await sleep(200);
  }
  return {
    child,
    logs: () => output,
    metricsUrl: `http://127.0.0.1:${metricsPort}/metrics`,
    healthUrl,
    async stop(signal = 'SIGTERM') {
      if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
      child.kill(signal);
      const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
      const code = await exited;
      clearTimeout(timer);
      return code;
    },
  };
}

export { run };

export interface OperatorEnvironment {
  namespace: string;
  master: TempDatabase;
  home: string;
  /** `kubectl apply` of `objects` in the namespace. */
  apply(...objects: Record<string, unknown>[]): Promise<void>;
  /** Starts `storeop run --namespace` on this environment's namespace, master and home. */
  start(options?: {
    args?: string[];
    env?: Record<string, string>;
    user?: 'storeop-operator' | 'storeop-operator-2';
    server?: string;
  }): Promise<OperatorProcess>;
  /** Stops the operators, removes the namespace, drops the master database and the home folder; every step is tried. */
  tearDown(): Promise<void>;
}

/** What an operator test runs in: a namespace of its own, a master database and a home folder. */
export async function operatorEnvironment(prefix: string): Promise<OperatorEnvironment> {
  await installOperatorPrerequisites();
  const namespace = await createTestNamespace(adminKubeConfig(), prefix);
  const master = await createPostgresDatabase('master');
  const home = mkdtempSync(join(tmpdir(), 'storeop-home-'));
  const operators: OperatorProcess[] = [];
  return {
    namespace,
    master,
    home,
    async apply(...objects) {
      await kubectl(['-n', namespace, 'apply', '-f', '-'], objects.map((o) => JSON.stringify(o)).join('\n'));
    },
    async start(options = {}) {
      const operator = await startOperator({ ...options, masterUrl: master.url, home, namespace });
      operators.push(operator);
      return operator;
    },
    async tearDown() {
      await runEveryStep(`could not tear down the operator environment ${namespace}`, [
        () => Promise.all(operators.map((o) => o.stop())),
        () => removeNamespace(namespace),
        () => master.drop(),
        () => rmSync(home, { recursive: true, force: true }),
      ]);
    },
  };
}

/** An operator environment whose `storeop run` is up: what most operator tests start from. */
export interface RunningOperatorEnvironment extends OperatorEnvironment {
  operator: OperatorProcess;
  /** Polls `probe` until it returns a value; fails with the last error seen and the operator's recent logs. */
  eventually<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs?: number): Promise<T>;
  /**
   * Deletes the Stores while the operator still runs (so it applies their deletion policy and drops its
   * finalizers), tears the environment down, then runs `leftovers`; every step is tried.
   */
  cleanUp(leftovers?: Iterable<() => unknown>): Promise<void>;
}

type StartOptions = Parameters<OperatorEnvironment['start']>[0];

export interface OperatorEnvironmentOptions {
  /** Applied in the namespace before the operator starts (admin Secrets, say). */
  objects?: Record<string, unknown>[];
  /** How the operator starts; a function when that depends on the environment (its home, say). */
  start?: StartOptions | ((environment: OperatorEnvironment) => StartOptions);
}

/**
 * A fresh operator environment with its objects applied and its operator started; torn down again when
 * that fails, so a failed set-up leaves nothing behind.
 */
export async function startOperatorEnvironment(
  prefix: string,
  options: OperatorEnvironmentOptions = {},
): Promise<RunningOperatorEnvironment> {
  const environment = await operatorEnvironment(prefix);
  const { namespace } = environment;
  let operator: OperatorProcess;
  try {
    if (options.objects?.length) await environment.apply(...options.objects);
    operator = await environment.start(typeof options.start === 'function' ? options.start(environment) : options.start);
  } catch (error) {
    await environment.tearDown().catch(() => {}); // the set-up's error is the one worth reporting
    throw error;
  }
  return {
    ...environment,
    operator,
    eventually: (what, probe, timeoutMs = 180_000) => eventuallyWithLogs(what, probe, () => operator.logs(), timeoutMs),
    async cleanUp(leftovers = []) {
      await runEveryStep(`could not clean up the operator environment ${namespace}`, [
        () => kubectl(['-n', namespace, 'delete', 'stores', '--all', '--wait=true', '--timeout=90s']),
        () => environment.tearDown(),
        ...leftovers,
      ]);
    },
  };
}

/** A running operator environment whose operator also serves the provisioning API, at `apiUrl`. */
export interface ApiOperatorEnvironment extends RunningOperatorEnvironment {
  apiUrl: string;
}

/**
 * `startOperatorEnvironment` with `storeop run --api-bind-address` on a free port, accepting `token`; the
 * environment's home is the PGlite volume, for API requests that ask for embedded stores.
 */
export async function startApiOperatorEnvironment(
  prefix: string,
  token: string,
  options: Pick<OperatorEnvironmentOptions, 'objects'> = {},
): Promise<ApiOperatorEnvironment> {
  const port = await freePort();
  const environment = await startOperatorEnvironment(prefix, {
    ...options,
    start: ({ home }) => ({
      args: ['--api-bind-address', `127.0.0.1:${port}`, '--pglite-home', home],
      env: { STOREOP_API_TOKEN_HASHES: TokenVerifier.hash(token) },
    }),
  });
  return { ...environment, apiUrl: `http://127.0.0.1:${port}` };
}

/**
 * The test cluster runs no controller-manager, so nothing empties a deleted namespace: remove what the
 * test and the operator put there (finalizers first, the operator is stopped), then finalize it.
 */
export async function removeNamespace(namespace: string): Promise<void> {
  for (const kind of ['stores.storeop.dev', 'storedatabases.storeop.dev']) {
    const { stdout } = await kubectl(['-n', namespace, 'get', kind, '-o', 'name']);
    for (const object of stdout.split('\n').filter(Boolean)) {
      await kubectl(['-n', namespace, 'patch', object, '--type=merge', '-p', '{"metadata":{"finalizers":null}}']).catch(() => {});
    }
  }
  await kubectl(['-n', namespace, 'delete', 'stores.storeop.dev,storedatabases.storeop.dev,secrets,events', '--all', '--wait=false']);
  await kubectl(['delete', 'namespace', namespace, '--wait=false']);
  const body = JSON.stringify({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: namespace }, spec: { finalizers: [] } });
  await kubectl(['replace', '--raw', `/api/v1/namespaces/${namespace}/finalize`, '-f', '-'], body);
}

/**
 * Polls `probe` until it answers something other than undefined or false (a throw counts as not yet);
 * after `timeoutMs` fails with the last error and the tail of `logs()` (the operator's, say).
 */
export async function eventuallyWithLogs<T>(
  what: string,
  probe: () => Promise<T | undefined | false>,
  logs: () => string,
  timeoutMs = 180_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined && value !== false) return value;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what} (${String(last)})\n--- logs ---\n${logs().slice(-6000)}`);
    await sleep(250);
  }
}
