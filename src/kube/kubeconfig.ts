// The operator's KubeConfig: every API call and watch shares one keep-alive connection pool to the API server.
// @kubernetes/client-node 2.0.1 builds a new undici Agent for every request (its private createDispatcher), so
// each call paid a TLS handshake on both sides and left an idle socket behind (issue 19). Upstream note:
// docs/upstream/client-node-dispatcher.md.
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import type { AgentOptions } from 'node:https';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { type Cluster, KubeConfig, type RequestContext } from '@kubernetes/client-node';
import { StoreopError } from '../errors.js';

type Dispatcher = NonNullable<ReturnType<RequestContext['getDispatcher']>>;
type CreateDispatcher = (cluster: Cluster | null, agentOptions: AgentOptions) => Dispatcher | undefined;

/** How long close() lets in-flight requests finish before it drops the connections. */
const CLOSE_GRACE_MS = 2_000;

/**
 * A KubeConfig whose requests reuse one undici Agent per (cluster, user) and TLS material. Credentials are
 * read per request as before: the Authorization header is still set on each call, and a rotated CA or
 * client certificate gives a new key, so the next request gets a fresh pool built with it.
 */
export class PooledKubeConfig extends KubeConfig {
  readonly #pools = new Map<string, { key: string; dispatcher: Dispatcher }>();

  constructor() {
    super();
    // The library has no public hook for this: wrap its (TypeScript-private) factory on this instance.
    const self = this as unknown as { createDispatcher?: CreateDispatcher };
    if (typeof self.createDispatcher !== 'function') {
      throw new Error('@kubernetes/client-node has no KubeConfig.createDispatcher any more: revisit src/kube/kubeconfig.ts');
    }
    const build = self.createDispatcher.bind(this);
    self.createDispatcher = (cluster, agentOptions) => this.#pooled(cluster, agentOptions, build);
  }

  #pooled(cluster: Cluster | null, agentOptions: AgentOptions, build: CreateDispatcher): Dispatcher | undefined {
    const options = this.createDispatcherOptions(cluster, agentOptions);
    if (options.type === 'none') return undefined; // undici's global dispatcher, which pools already
    const identity = JSON.stringify([cluster?.name, cluster?.server, this.getCurrentUser()?.name]);
    const key = fingerprint(options);
    const current = this.#pools.get(identity);
    if (current?.key === key) return current.dispatcher;
    const dispatcher = build(cluster, agentOptions);
    if (dispatcher === undefined) return undefined;
    // A replaced pool (rotated TLS material) is not closed here: a request that already holds it may still
    // be about to use it. Its idle sockets time out (undici's keep-alive timeout) and it is then garbage.
    this.#pools.set(identity, { key, dispatcher });
    return dispatcher;
  }

  /** Closes the pools: in-flight requests get a short grace period, then their connections are dropped. */
  async close(): Promise<void> {
    const pools = [...this.#pools.values()].map(({ dispatcher }) => dispatcher);
    this.#pools.clear();
    await Promise.all(
      pools.map(async (dispatcher) => {
        let timer: NodeJS.Timeout | undefined;
        const graceful = dispatcher.close().then(() => true);
        const late = new Promise<false>((done) => {
          timer = setTimeout(() => done(false), CLOSE_GRACE_MS);
        });
        const closed = await Promise.race([graceful, late]).catch(() => false);
        clearTimeout(timer);
        if (!closed) await dispatcher.destroy().catch(() => {});
      }),
    );
  }
}

/** A digest of the dispatcher options, TLS material included, so that the map keeps no key or certificate text. */
function fingerprint(options: object): string {
  const text = JSON.stringify(options, function (this: Record<string, unknown>, name: string, value: unknown) {
    const raw = this[name]; // before Buffer#toJSON turned it into an array of numbers
    return Buffer.isBuffer(raw) ? raw.toString('base64') : value;
  });
  return createHash('sha256').update(text).digest('hex');
}

/**
 * The kubeconfig storeop runs with: the given file, else in-cluster, else $KUBECONFIG, else ~/.kube/config;
 * with its connections pooled. Close it on shutdown.
 */
export function loadKubeConfig(path?: string): PooledKubeConfig {
  const kc = new PooledKubeConfig();
  const home = join(homedir(), '.kube/config');
  if (path) kc.loadFromFile(path);
  else if (process.env.KUBERNETES_SERVICE_HOST) kc.loadFromCluster();
  else if (process.env.KUBECONFIG) kc.loadFromFile(process.env.KUBECONFIG);
  else if (existsSync(home)) kc.loadFromFile(home);
  else
    throw new StoreopError('ConnectionFailed', 'no Kubernetes cluster configured: pass --kubeconfig, set KUBECONFIG, or run in a cluster');
  return kc;
}
