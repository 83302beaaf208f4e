// A real Kubernetes control plane for tests (envtest for Node): etcd and kube-apiserver as child
// processes on free loopback ports, each run in a temporary folder that is removed on stop.
// USE_EXISTING_CLUSTER=true with KUBECONFIG points the same tests at any real cluster instead.
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { appendFileSync, closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Health, KubeConfig } from '@kubernetes/client-node';
import { repoRoot } from './paths.js';
import { freePort } from './ports.js';

export interface ControlPlane {
  /** Path of a kubeconfig file whose current context is the cluster admin. */
  kubeconfigPath: string;
  /** Server URL and admin bearer token, for building further users' kubeconfigs. */
  server: string;
  caData: string;
  /** Token of a user that belongs to no group: RBAC decides everything it may do. */
  userTokens: Record<string, string>;
  stop(): Promise<void>;
}

/** Users, besides the admin, that the token file authenticates; tests bind them to roles. */
export const TEST_USERS = ['storeop-operator', 'storeop-operator-2'] as const;

export function kubeConfigFor(path: string): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromFile(path);
  return kc;
}

function assetsDir(): string {
  return execFileSync('bash', [join(repoRoot, 'scripts/envtest-assets')], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
  }).trim();
}

function startProcess(binary: string, args: string[], logPath: string): ChildProcess {
  const log = openSync(logPath, 'a');
  const child = spawn(binary, args, { stdio: ['ignore', log, log] });
  closeSync(log);
  child.on('error', (error) => appendFileSync(logPath, `${binary}: ${error.message}\n`));
  return child;
}

function tail(path: string, lines = 30): string {
  try {
    return readFileSync(path, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return `(no ${path})`;
  }
}

/** Kills the children and removes the folder if the test process dies without stopping them (SIGKILL). */
function startGuardian(pids: number[], dir: string): ChildProcess {
  const script = `while kill -0 ${process.pid} 2>/dev/null; do sleep 1; done; kill ${pids.join(' ')} 2>/dev/null; sleep 2; kill -9 ${pids.join(' ')} 2>/dev/null; rm -rf '${dir}'`;
  const guardian = spawn('bash', ['-c', script], { detached: true, stdio: 'ignore' });
  guardian.unref();
  return guardian;
}

async function waitUntil(what: string, check: () => Promise<boolean>, timeoutMs: number, logs: () => string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check().catch(() => false)) return;
    await sleep(200);
  }
  throw new Error(`${what} did not become ready within ${timeoutMs / 1000}s\n${logs()}`);
}

async function stopProcess(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((done) => child.once('exit', () => done()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
  await exited;
  clearTimeout(timer);
}

function writeKubeconfig(path: string, server: string, caData: string, user: string, token: string): void {
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'envtest', server, caData, skipTLSVerify: false }],
    users: [{ name: user, token }],
    contexts: [{ name: user, cluster: 'envtest', user }],
    currentContext: user,
  });
  writeFileSync(path, kc.exportConfig(), { mode: 0o600 });
}

export function writeUserKubeconfig(plane: ControlPlane, user: string, path: string): void {
  const token = plane.userTokens[user];
  if (!token) throw new Error(`unknown test user ${user}`);
  writeKubeconfig(path, plane.server, plane.caData, user, token);
}

export async function startControlPlane(): Promise<ControlPlane> {
  const dir = mkdtempSync(join(tmpdir(), 'storeop-envtest-'));
  const assets = assetsDir();
  const [etcdClient, etcdPeer, apiPort] = [await freePort(), await freePort(), await freePort()];

  const etcd = startProcess(
    join(assets, 'etcd'),
    [
      `--data-dir=${join(dir, 'etcd')}`,
      `--listen-client-urls=http://127.0.0.1:${etcdClient}`,
      `--advertise-client-urls=http://127.0.0.1:${etcdClient}`,
      `--listen-peer-urls=http://127.0.0.1:${etcdPeer}`,
      '--unsafe-no-fsync=true',
    ],
    join(dir, 'etcd.log'),
  );

  const adminToken = randomBytes(24).toString('hex');
  const userTokens = Object.fromEntries(TEST_USERS.map((user) => [user, randomBytes(24).toString('hex')]));
  const tokenLines = [
    `${adminToken},admin,admin,"system:masters"`,
    ...TEST_USERS.map((user, i) => `${userTokens[user]},${user},user-${i}`),
  ];
  writeFileSync(join(dir, 'tokens.csv'), `${tokenLines.join('\n')}\n`, { mode: 0o600 });
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  writeFileSync(join(dir, 'sa.key'), privateKey.export({ type: 'pkcs1', format: 'pem' }), { mode: 0o600 });

  const apiserver = startProcess(
    join(assets, 'kube-apiserver'),
    [
      `--etcd-servers=http://127.0.0.1:${etcdClient}`,
      `--cert-dir=${join(dir, 'certs')}`,
      `--secure-port=${apiPort}`,
      '--bind-address=127.0.0.1',
      '--advertise-address=127.0.0.1',
      '--insecure-port=0',
      `--token-auth-file=${join(dir, 'tokens.csv')}`,
      '--authorization-mode=RBAC',
      '--service-account-issuer=https://kubernetes.default.svc.cluster.local',
      `--service-account-key-file=${join(dir, 'sa.key')}`,
      `--service-account-signing-key-file=${join(dir, 'sa.key')}`,
      '--service-cluster-ip-range=10.0.0.0/24',
      '--allow-privileged=true',
      '--disable-admission-plugins=ServiceAccount',
    ],
    join(dir, 'kube-apiserver.log'),
  );
  const guardian = startGuardian([etcd.pid ?? 0, apiserver.pid ?? 0].filter(Boolean), dir);

  const server = `https://127.0.0.1:${apiPort}`;
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    await stopProcess(apiserver);
    await stopProcess(etcd);
    if (guardian.pid) {
      try {
        process.kill(guardian.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    rmSync(dir, { recursive: true, force: true });
  };

  try {
    await waitUntil(
      'etcd',
      async () => (await fetch(`http://127.0.0.1:${etcdClient}/health`)).ok,
      30_000,
      () => tail(join(dir, 'etcd.log')),
    );
    const certPath = join(dir, 'certs/apiserver.crt');
    await waitUntil(
      'kube-apiserver certificate',
      async () => existsSync(certPath),
      60_000,
      () => tail(join(dir, 'kube-apiserver.log')),
    );
    const caData = readFileSync(certPath).toString('base64');
    const kubeconfigPath = join(dir, 'kubeconfig');
    writeKubeconfig(kubeconfigPath, server, caData, 'admin', adminToken);
    const health = new Health(kubeConfigFor(kubeconfigPath));
    await waitUntil(
      'kube-apiserver /readyz',
      () => health.readyz({}),
      90_000,
      () => tail(join(dir, 'kube-apiserver.log')),
    );
    return { kubeconfigPath, server, caData, userTokens, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}
