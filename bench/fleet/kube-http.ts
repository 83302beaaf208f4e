// The bench's own Kubernetes client: JSON over one keep-alive HTTPS agent, so that creating and
// watching thousands of objects costs the bench (and kube-apiserver) one TLS set-up per socket,
// not per request. Its traffic goes straight to the API server, never through the recording proxy.
import { Agent, request } from 'node:https';
import { KubeConfig } from '@kubernetes/client-node';

export class KubeError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

export interface ObjectMeta {
  name: string;
  namespace?: string;
  resourceVersion?: string;
  finalizers?: string[];
  deletionTimestamp?: string;
}

export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata: ObjectMeta;
  spec?: Record<string, unknown>;
  status?: { phase?: string; conditions?: { type: string; status: string }[] };
}

export interface KubeList {
  metadata: { resourceVersion: string };
  items: KubeObject[];
}

export class KubeHttp {
  readonly server: URL;
  readonly caData: string | undefined;
  /** The bearer token of the kubeconfig's user, when it has one (the recording proxy forwards only tokens). */
  readonly token: string | undefined;
  readonly #agent: Agent;
  readonly #headers: Record<string, string>;

  private constructor(server: URL, agent: Agent, headers: Record<string, string>, caData: string | undefined, token: string | undefined) {
    this.server = server;
    this.#agent = agent;
    this.#headers = headers;
    this.caData = caData;
    this.token = token;
  }

  static async fromKubeconfig(path: string): Promise<KubeHttp> {
    const kc = new KubeConfig();
    kc.loadFromFile(path);
    const cluster = kc.getCurrentCluster();
    if (!cluster) throw new Error(`${path}: no current cluster`);
    const opts: { ca?: Buffer; cert?: Buffer; key?: Buffer; headers?: Record<string, string>; rejectUnauthorized?: boolean } = {};
    await kc.applyToHTTPSOptions(opts as never);
    const agent = new Agent({
      keepAlive: true,
      maxSockets: 64,
      ...(opts.ca ? { ca: opts.ca } : {}),
      ...(opts.cert ? { cert: opts.cert } : {}),
      ...(opts.key ? { key: opts.key } : {}),
      ...(cluster.skipTLSVerify ? { rejectUnauthorized: false } : {}),
    });
    const headers = { ...(opts.headers ?? {}) };
    const auth = headers.Authorization ?? headers.authorization;
    const token = auth?.startsWith('Bearer ') ? auth.slice('Bearer '.length) : undefined;
    const caData = opts.ca ? Buffer.from(opts.ca).toString('base64') : undefined;
    return new KubeHttp(new URL(cluster.server), agent, headers, caData, token);
  }

  /** One request; the body is JSON (merge-patch for PATCH). 404 answers undefined when `missingOk`. */
  async call<T>(method: string, path: string, body?: unknown, missingOk = false): Promise<T | undefined> {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const contentType = method === 'PATCH' ? 'application/merge-patch+json' : 'application/json';
    return new Promise<T | undefined>((resolve, reject) => {
      const req = request(
        {
          host: this.server.hostname,
          port: this.server.port || 443,
          method,
          path,
          agent: this.#agent,
          headers: { ...this.#headers, accept: 'application/json', ...(payload ? { 'content-type': contentType } : {}) },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('error', reject);
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            const status = res.statusCode ?? 0;
            if (status === 404 && missingOk) return resolve(undefined);
            if (status >= 300) return reject(new KubeError(status, `${method} ${path}: ${status} ${text.slice(0, 300)}`));
            resolve(text ? (JSON.parse(text) as T) : undefined);
          });
        },
      );
      req.on('error', reject);
      req.end(payload);
    });
  }

  /** A watch stream: calls `onEvent` per event until the server ends it (resolves) or it fails. */
  watch(path: string, onEvent: (type: string, object: KubeObject) => void, signal: AbortSignal): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const req = request(
        {
          host: this.server.hostname,
          port: this.server.port || 443,
          method: 'GET',
          path,
          agent: this.#agent,
          headers: this.#headers,
          signal,
        },
        (res) => {
          if ((res.statusCode ?? 0) >= 300) {
            res.resume();
            return reject(new KubeError(res.statusCode ?? 0, `watch ${path}: ${res.statusCode}`));
          }
          let buffer = '';
          res.setEncoding('utf8');
          res.on('data', (chunk: string) => {
            buffer += chunk;
            for (let nl = buffer.indexOf('\n'); nl >= 0; nl = buffer.indexOf('\n')) {
              const line = buffer.slice(0, nl);
              buffer = buffer.slice(nl + 1);
              if (!line.trim()) continue;
              const event = JSON.parse(line) as { type: string; object: KubeObject & { code?: number } };
              if (event.type === 'ERROR')
                return reject(new KubeError(event.object.code ?? 500, `watch ${path}: ${JSON.stringify(event.object)}`));
              onEvent(event.type, event.object);
            }
          });
          res.on('end', () => resolve());
          res.on('error', reject);
        },
      );
      req.on('error', (error) => (signal.aborted ? resolve() : reject(error)));
      req.end();
    });
  }

  close(): void {
    this.#agent.destroy();
  }
}

/** Runs `fn` over `items` with at most `limit` at once; the first failure is thrown after the rest settle. */
export async function eachLimited<T>(items: readonly T[], limit: number, fn: (item: T, index: number) => Promise<void>): Promise<void> {
  let next = 0;
  let failure: unknown;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      try {
        await fn(items[i] as T, i);
      } catch (error) {
        failure ??= error;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  if (failure) throw failure;
}
