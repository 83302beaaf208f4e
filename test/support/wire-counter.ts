// A TCP relay in front of a real database server that reads the client's side of the wire protocol and
// counts what the client sent: connections, round trips and the statements' text. Tests point the store's
// public host/port at it, so they see exactly what storeop's store-role sessions cost, whatever the driver
// does inside (PostgreSQL frontend protocol v3; MySQL client/server protocol).
import { createServer, type Server, type Socket, connect as tcpConnect } from 'node:net';

export type WireProtocol = 'postgres' | 'mysql';

export interface WireCounter {
  readonly port: number;
  /** Connections opened through the relay since the last reset. */
  readonly connections: number;
  /** Client round trips: one per connection handshake, plus one per query (PostgreSQL: per Query or Sync). */
  readonly roundTrips: number;
  /** The SQL text the clients sent, in order. */
  readonly statements: readonly string[];
  /** Connections open right now. */
  readonly open: number;
  reset(): void;
  close(): Promise<void>;
}

interface Counts {
  connections: number;
  roundTrips: number;
  statements: string[];
  open: number;
}

/** Parses the PostgreSQL frontend stream: the startup packet (and SSLRequest) without a type byte, then typed messages. */
function postgresReader(counts: Counts): (chunk: Buffer) => void {
  let buffer = Buffer.alloc(0);
  let started = false;
  return (chunk) => {
    buffer = Buffer.concat([buffer, chunk]);
    for (;;) {
      if (!started) {
        if (buffer.length < 8) return;
        const length = buffer.readInt32BE(0);
        if (buffer.length < length) return;
        const code = buffer.readInt32BE(4);
        started = code !== 80877103 && code !== 80877104; // SSLRequest / GSSENCRequest come before the startup packet
        buffer = buffer.subarray(length);
        continue;
      }
      if (buffer.length < 5) return;
      const type = String.fromCharCode(buffer[0] as number);
      const length = buffer.readInt32BE(1);
      if (buffer.length < 1 + length) return;
      const body = buffer.subarray(5, 1 + length);
      if (type === 'Q') {
        counts.roundTrips++;
        counts.statements.push(body.toString('utf8', 0, body.indexOf(0)));
      } else if (type === 'P') {
        const nameEnd = body.indexOf(0);
        counts.statements.push(body.toString('utf8', nameEnd + 1, body.indexOf(0, nameEnd + 1)));
      } else if (type === 'S') {
        counts.roundTrips++;
      }
      buffer = buffer.subarray(1 + length);
    }
  };
}

const COM_QUIT = 0x01;
const COM_QUERY = 0x03;

/** Parses MySQL client packets: a command starts a new sequence (sequence id 0); the handshake answers continue one. */
function mysqlReader(counts: Counts): (chunk: Buffer) => void {
  let buffer = Buffer.alloc(0);
  return (chunk) => {
    buffer = Buffer.concat([buffer, chunk]);
    for (;;) {
      if (buffer.length < 4) return;
      const length = buffer.readUIntLE(0, 3);
      if (buffer.length < 4 + length) return;
      const sequence = buffer[3];
      const command = buffer[4];
      if (sequence === 0 && command !== COM_QUIT) {
        counts.roundTrips++;
        if (command === COM_QUERY) counts.statements.push(buffer.toString('utf8', 5, 4 + length));
        else counts.statements.push(`<command 0x${command?.toString(16)}>`);
      }
      buffer = buffer.subarray(4 + length);
    }
  };
}

export async function startWireCounter(protocol: WireProtocol, upstream: { host: string; port: number }): Promise<WireCounter> {
  const counts: Counts = { connections: 0, roundTrips: 0, statements: [], open: 0 };
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    counts.connections++;
    counts.roundTrips++; // the handshake
    counts.open++;
    const backend = tcpConnect(upstream.port, upstream.host);
    sockets.add(client).add(backend);
    const read = protocol === 'postgres' ? postgresReader(counts) : mysqlReader(counts);
    client.on('data', (chunk: Buffer) => {
      read(chunk);
      backend.write(chunk);
    });
    backend.on('data', (chunk: Buffer) => client.write(chunk));
    let closed = false;
    const close = () => {
      if (closed) return;
      closed = true;
      counts.open--;
      client.destroy();
      backend.destroy();
      sockets.delete(client);
      sockets.delete(backend);
    };
    for (const socket of [client, backend]) {
      socket.on('error', close);
      socket.on('close', close);
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (!address || typeof address === 'string') throw new Error('the wire counter has no port');
  return {
    port: address.port,
    get connections() {
      return counts.connections;
    },
    get roundTrips() {
      return counts.roundTrips;
    },
    get statements() {
      return counts.statements;
    },
    get open() {
      return counts.open;
    },
    reset() {
      counts.connections = 0;
      counts.roundTrips = 0;
      counts.statements = [];
    },
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
