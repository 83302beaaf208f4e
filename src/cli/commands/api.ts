// storeop api: the provisioning HTTP API on its own (no cluster): runs jobs in this process.
import { hostname } from 'node:os';
import { serve } from '@hono/node-server';
import { z } from 'zod';
import { createApi, DEFAULT_RATE_LIMIT_PER_MINUTE } from '../../http/app.js';
import { TokenVerifier } from '../../http/auth.js';
import { LocalProvisioner } from '../../http/provisioner.js';
import { createLogger, LOG_LEVELS } from '../../log.js';
import { openMaster, storeopHome } from '../../master/database.js';
import { failAbandonedJobs } from '../../master/jobs.js';
import { loadKeyring } from '../../master/keyring.js';
import { parseFlags } from '../args.js';

export const apiHelp = `usage: storeop api [--bind-address HOST:PORT] [--master-database-url URL] [--api-token-hashes-file FILE]
                   [--max-concurrent-jobs N] [--max-queued-jobs N] [--rate-limit N] [--log-level LEVEL]

Serves the provisioning API: POST /v1/provision, GET /v1/provision/{jobId}/status, GET /v1/stores,
GET /v1/stores/{id}, GET /v1/openapi.json. Clients send "Authorization: Bearer TOKEN"; the server
knows only SHA-256 hashes of the tokens (STOREOP_API_TOKEN_HASHES, comma-separated, or a file with
one per line), each optionally followed by a name for logs and audit rows ("HASH ci-deployer").
Make one with: printf %s "$TOKEN" | sha256sum

  --rate-limit N        requests a minute per token (per address without a valid token); default 600
  --max-queued-jobs N   jobs that may wait for a free slot; default 100
Beyond either limit the API answers 429 with Retry-After.`;

const flags = z.object({
  'bind-address': z
    .string()
    .regex(/^[^:]*:\d{1,5}$/, 'must look like HOST:PORT or :PORT')
    .default('127.0.0.1:8090'),
  'master-database-url': z.string().optional(),
  'api-token-hashes-file': z.string().optional(),
  'max-concurrent-jobs': z.coerce.number().int().min(1).max(64).default(4),
  'max-queued-jobs': z.coerce.number().int().min(0).max(100_000).default(100),
  'rate-limit': z.coerce.number().int().min(1).max(1_000_000).default(DEFAULT_RATE_LIMIT_PER_MINUTE),
  'log-level': z.enum(LOG_LEVELS).optional(), // unset: STOREOP_LOG_LEVEL, else info
  home: z.string().optional(),
});

const spec = {
  'bind-address': { type: 'string' },
  'master-database-url': { type: 'string' },
  'api-token-hashes-file': { type: 'string' },
  'max-concurrent-jobs': { type: 'string' },
  'max-queued-jobs': { type: 'string' },
  'rate-limit': { type: 'string' },
  'log-level': { type: 'string' },
  home: { type: 'string' },
} as const;

/** A job's runner is "host:pid"; on this host a dead pid means the job was abandoned. */
function runnerAlive(runner: string): boolean {
  const at = runner.lastIndexOf(':');
  if (runner.slice(0, at) !== hostname()) return true; // another host: not ours to judge
  try {
    process.kill(Number(runner.slice(at + 1)), 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export async function apiCommand(argv: string[]): Promise<number> {
  const { flags: f } = parseFlags(argv, spec, flags);
  const log = createLogger({ level: f['log-level'] });
  const tokens = TokenVerifier.fromConfig({ file: f['api-token-hashes-file'], env: process.env.STOREOP_API_TOKEN_HASHES });
  const home = storeopHome(f.home);
  const master = await openMaster({ url: f['master-database-url'], home });
  const keyring = loadKeyring({ home, embedded: master.engine === 'pglite' });
  const ctx = { master, keyring, actor: 'api' };
  const abandoned = await failAbandonedJobs(master.db, runnerAlive);
  if (abandoned) log.warn({ jobs: abandoned }, 'marked jobs of a stopped server as failed');
  const provisioner = new LocalProvisioner(ctx, log, home, f['max-concurrent-jobs'], f['max-queued-jobs']);
  const app = createApi({ master: ctx, tokens, provisioner, log, rateLimitPerMinute: f['rate-limit'] });
  const at = f['bind-address'].lastIndexOf(':');
  const host = f['bind-address'].slice(0, at) || '0.0.0.0';
  const port = Number(f['bind-address'].slice(at + 1));
  const server = serve({ fetch: app.fetch, hostname: host, port }, (info) => {
    log.info({ address: `${info.address}:${info.port}`, master: master.location }, 'provisioning API listening');
  });
  await new Promise<void>((resolve) => {
    const stop = () => resolve();
    process.once('SIGTERM', stop);
    process.once('SIGINT', stop);
  });
  log.info('shutting down: finishing accepted jobs');
  server.close();
  await provisioner.drain();
  await master.close();
  return 0;
}
