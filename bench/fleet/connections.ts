// Peak PostgreSQL connections of one process (the operator), sampled every ~250 ms: pg_stat_activity
// grouped by user, database and application, kept to the backends whose client port is one of the
// process's own TCP sockets (/proc/PID/fd → socket inode → /proc/net/tcp), because other clients
// (other work on the machine, the bench itself) share the server and its admin user.
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import pg from 'pg';
import { BENCH_APPLICATION } from './postgres.js';

export interface ConnectionPeaks {
  /** Peak of connections as the admin user to the admin database, at one time. */
  admin: number;
  /** Peak of connections to the master DB. */
  master: number;
  /** Peak of connections as store roles to store databases. */
  stores: number;
  /** Peak of all of the process's connections. */
  total: number;
  /** Peak per "user/database/application" group (for the groups above and anything else). */
  groups: Record<string, number>;
  samples: number;
}

/**
 * Local ports of the process's TCP connections to `serverPort`. The remote port matters: Linux reuses an
 * ephemeral port for connections to different destinations, so another process's connection to the
 * database server can have the same local port as one of ours to the API server.
 */
export function localPorts(pid: number, serverPort: number): Set<number> {
  const inodes = new Set<string>();
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      const link = readlinkSync(`/proc/${pid}/fd/${fd}`);
      if (link.startsWith('socket:[')) inodes.add(link.slice(8, -1));
    } catch {
      // closed meanwhile
    }
  }
  const ports = new Set<number>();
  for (const table of [`/proc/${pid}/net/tcp`, `/proc/${pid}/net/tcp6`]) {
    let text = '';
    try {
      text = readFileSync(table, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const cols = line.trim().split(/\s+/);
      if (cols.length < 10 || !inodes.has(cols[9] as string)) continue;
      const port = (address: string) => Number.parseInt(address.split(':').at(-1) as string, 16);
      if (port(cols[2] as string) === serverPort) ports.add(port(cols[1] as string));
    }
  }
  return ports;
}

export class ConnectionSampler {
  readonly #client: pg.Client;
  readonly #timer: NodeJS.Timeout;
  #pid: number;
  #busy = false;
  peaks: ConnectionPeaks = ConnectionSampler.#empty();

  static #empty(): ConnectionPeaks {
    return { admin: 0, master: 0, stores: 0, total: 0, groups: {}, samples: 0 };
  }

  private constructor(
    client: pg.Client,
    pid: number,
    readonly adminUser: string,
    readonly adminDb: string,
    readonly masterDb: string,
    readonly serverPort: number,
  ) {
    this.#client = client;
    this.#pid = pid;
    this.#timer = setInterval(() => void this.#sample(), 250);
  }

  static async start(adminUrl: string, masterDb: string, pid: number): Promise<ConnectionSampler> {
    const client = new pg.Client({ connectionString: adminUrl, application_name: BENCH_APPLICATION });
    await client.connect();
    const url = new URL(adminUrl);
    return new ConnectionSampler(
      client,
      pid,
      decodeURIComponent(url.username || 'postgres'),
      url.pathname.slice(1) || 'postgres',
      masterDb,
      Number(url.port || 5432),
    );
  }

  /** Starts a new measurement (peaks since now), optionally of another process. */
  reset(pid?: number): void {
    if (pid !== undefined) this.#pid = pid;
    this.peaks = ConnectionSampler.#empty();
  }

  async #sample(): Promise<void> {
    if (this.#busy) return;
    this.#busy = true;
    try {
      const ports = localPorts(this.#pid, this.serverPort);
      const { rows } = await this.#client.query<{ usename: string | null; datname: string | null; app: string; port: number | null }>(
        "SELECT usename, datname, application_name AS app, client_port AS port FROM pg_stat_activity WHERE backend_type = 'client backend'",
      );
      const groups: Record<string, number> = {};
      let admin = 0;
      let master = 0;
      let stores = 0;
      let total = 0;
      for (const r of rows) {
        if (r.port === null || !ports.has(r.port) || r.app === BENCH_APPLICATION) continue;
        total++;
        // Store roles are one group (store_*), not one row per store.
        const store = r.usename?.startsWith('store_') && r.datname === r.usename;
        const key = store ? `store_*/store_*/${r.app || '-'}` : `${r.usename}/${r.datname}/${r.app || '-'}`;
        groups[key] = (groups[key] ?? 0) + 1;
        if (r.datname === this.masterDb) master++;
        else if (r.usename === this.adminUser) admin++;
        else if (r.usename?.startsWith('store_')) stores++;
      }
      const p = this.peaks;
      p.admin = Math.max(p.admin, admin);
      p.master = Math.max(p.master, master);
      p.stores = Math.max(p.stores, stores);
      p.total = Math.max(p.total, total);
      for (const [key, n] of Object.entries(groups)) p.groups[key] = Math.max(p.groups[key] ?? 0, n);
      p.samples++;
    } catch {
      // the process ended between reading its sockets and the query: skip this sample
    } finally {
      this.#busy = false;
    }
  }

  async stop(): Promise<void> {
    clearInterval(this.#timer);
    await this.#client.end().catch(() => {});
  }
}
