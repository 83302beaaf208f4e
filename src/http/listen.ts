// Starts the HTTP server of the provisioning API (standalone and cluster mode) with connection timeouts
// that survive a busy event loop.
import type { Server } from 'node:http';
import { serve } from '@hono/node-server';

/**
 * How long an idle keep-alive connection stays open. Node's default (5 s) loses a race against its own
 * clients: when the event loop is busy for longer than that (an embedded PGlite store initialising on a
 * loaded machine), the expired idle timer runs before the socket's pending request is read, and the
 * server closes a connection the client has just reused (the client sees ECONNRESET). 65 s is also the
 * usual value behind load balancers, whose idle timeout (60 s) it must exceed.
 */
export const KEEP_ALIVE_TIMEOUT_MS = 65_000;

export function listen(
  fetch: (request: Request) => Response | Promise<Response>,
  address: { hostname: string; port: number },
  onListening: (info: { address: string; port: number }) => void,
): Server {
  const server = serve({ fetch, hostname: address.hostname, port: address.port }, onListening) as Server;
  server.keepAliveTimeout = KEEP_ALIVE_TIMEOUT_MS;
  // Headers of a request must be allowed to take longer than the idle timeout of the connection they arrive on.
  server.headersTimeout = KEEP_ALIVE_TIMEOUT_MS + 1_000;
  return server;
}
