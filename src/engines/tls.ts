// How the drivers' TLS and address options are built from an endpoint: the sslmode (require = encrypted,
// verify-full = encrypted to a server whose certificate matches the CA and the host name) and the address
// the egress policy pinned. A server without TLS fails the connection: there is no silent clear-text fallback.
import { connect } from 'node:net';
import type { ConnectionOptions as TlsConnectionOptions } from 'node:tls';
import { dialAddress } from './egress.js';
import type { ServerEndpoint, TlsMode, TlsOptions } from './target.js';

export function tlsMode(tls: TlsOptions | undefined): TlsMode {
  if (!tls) return 'disable';
  return tls.rejectUnauthorized === false ? 'require' : 'verify-full';
}

function verified(tls: TlsOptions): boolean {
  return tls.rejectUnauthorized ?? true;
}

/** pg: where to connect (the pinned address) and its `ssl`, verifying against the host name, not the address. */
export function pgAddressAndSsl(endpoint: ServerEndpoint): { host: string; ssl?: TlsConnectionOptions } {
  const host = dialAddress(endpoint.host);
  if (!endpoint.tls) return { host };
  const ssl: TlsConnectionOptions = { rejectUnauthorized: verified(endpoint.tls), ...(endpoint.tls.ca ? { ca: endpoint.tls.ca } : {}) };
  // pg sets SNI and checks the certificate against `host`: once pinned to an address, name the server.
  if (host !== endpoint.host) ssl.servername = endpoint.host;
  return { host, ssl };
}

/**
 * mysql2: host stays the name (mysql2 derives the TLS server name from it); a pinned address is dialled
 * through `stream`. verify-full also checks the host name (mysql2's verifyIdentity), not only the CA.
 */
export function mysqlAddressAndSsl(endpoint: ServerEndpoint): {
  host: string;
  stream?: () => ReturnType<typeof connect>;
  ssl?: { rejectUnauthorized: boolean; verifyIdentity: boolean; ca?: string };
} {
  const address = dialAddress(endpoint.host);
  const out: ReturnType<typeof mysqlAddressAndSsl> = { host: endpoint.host };
  if (address !== endpoint.host) out.stream = () => connect({ host: address, port: endpoint.port });
  if (endpoint.tls) {
    const verify = verified(endpoint.tls);
    out.ssl = { rejectUnauthorized: verify, verifyIdentity: verify, ...(endpoint.tls.ca ? { ca: endpoint.tls.ca } : {}) };
  }
  return out;
}
