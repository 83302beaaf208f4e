// A recording pass-through in front of kube-apiserver: a client pointed at it (plain HTTP on 127.0.0.1)
// reaches the real API server over TLS, and every request is recorded as a Kubernetes verb on a resource.
// Tests and benchmarks count what the operator asks of the API server (LISTs, status writes, events)
// without an audit log, and only the traffic of the client pointed at it.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { AddressInfo } from 'node:net';

export type KubeVerb = 'get' | 'list' | 'watch' | 'create' | 'update' | 'patch' | 'delete' | 'deletecollection' | 'other';

export interface RecordedRequest {
  verb: KubeVerb;
  /** The resource's plural, e.g. storedatabases, secrets, events, leases. */
  resource: string;
  subresource: string | undefined;
  namespace: string | undefined;
  name: string | undefined;
  method: string;
  path: string;
  at: number;
}

export interface RecordingProxy {
  /** The address to put in a kubeconfig (with skipTLSVerify: client-node requires it for http servers). */
  url: string;
  readonly requests: readonly RecordedRequest[];
  /** Requests matching every given field (undefined fields match anything). */
  count(filter?: Partial<Pick<RecordedRequest, 'verb' | 'resource' | 'subresource' | 'namespace' | 'name'>>): number;
  /** Forgets what was recorded so far (a measurement window starts). */
  reset(): void;
  stop(): Promise<void>;
}

/** Reads verb and resource from an API path: /api/v1/... (core) or /apis/GROUP/VERSION/... */
export function describeRequest(method: string, url: string): Omit<RecordedRequest, 'at'> {
  const parsed = new URL(url, 'http://proxy');
  const parts = parsed.pathname.split('/').filter(Boolean);
  const rest = parts[0] === 'api' ? parts.slice(2) : parts[0] === 'apis' ? parts.slice(3) : [];
  let namespace: string | undefined;
  if (rest[0] === 'namespaces' && rest.length >= 3) {
    namespace = rest[1];
    rest.splice(0, 2);
  }
  const [resource = parts.join('/'), name, subresource] = rest;
  const watch = parsed.searchParams.get('watch');
  const verb = ((): KubeVerb => {
    switch (method) {
      case 'GET':
        if (watch === 'true' || watch === '1') return 'watch';
        return name ? 'get' : 'list';
      case 'POST':
        return 'create';
      case 'PUT':
        return 'update';
      case 'PATCH':
        return 'patch';
      case 'DELETE':
        return name ? 'delete' : 'deletecollection';
      default:
        return 'other';
    }
  })();
  return { verb, resource, subresource, namespace, name, method, path: parsed.pathname };
}

/** Starts a proxy to `server` (https://host:port, its CA as base64 PEM). */
export async function startRecordingProxy(target: { server: string; caData: string }): Promise<RecordingProxy> {
  const upstream = new URL(target.server);
  const ca = Buffer.from(target.caData, 'base64');
  let requests: RecordedRequest[] = [];
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const method = req.method ?? 'GET';
    requests.push({ ...describeRequest(method, req.url ?? '/'), at: Date.now() });
    const forward = httpsRequest(
      {
        host: upstream.hostname,
        port: upstream.port,
        method,
        path: req.url,
        headers: { ...req.headers, host: upstream.host },
        ca,
      },
      (upstreamRes) => {
        res.writeHead(upstreamRes.statusCode ?? 502, upstreamRes.headers);
        // Send the headers now: a watch's body may not start for a long time, and the client waits for them.
        res.flushHeaders();
        upstreamRes.pipe(res);
      },
    );
    forward.on('error', (error) => {
      if (!res.headersSent) res.writeHead(502, { 'content-type': 'text/plain' });
      res.end(`recording proxy: ${error.message}`);
    });
    // A watch the client gives up on must not stay open upstream.
    res.on('close', () => forward.destroy());
    req.pipe(forward);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    get requests() {
      return requests;
    },
    count(filter = {}) {
      return requests.filter((r) =>
        (Object.keys(filter) as Array<keyof typeof filter>).every((key) => filter[key] === undefined || r[key] === filter[key]),
      ).length;
    },
    reset() {
      requests = [];
    },
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
