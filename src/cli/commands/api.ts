// storeop api: the provisioning HTTP API on its own (no cluster): runs jobs in this process.
import { sql } from 'kysely';
import { z } from 'zod';
import { setAdminConnectionLimit } from '../../engines/admin-limit.js';
import { cidrList, EgressPolicy } from '../../engines/egress.js';
import { createApi, DEFAULT_RATE_LIMIT_PER_MINUTE } from '../../http/app.js';
import { TokenVerifier } from '../../http/auth.js';
import { listen } from '../../http/listen.js';
import { apiProbes } from '../../http/probes.js';
import { LocalProvisioner } from '../../http/provisioner.js';
import { createLogger, LOG_LEVELS } from '../../log.js';
import { openMaster, storeopHome } from '../../master/database.js';
import { failAbandonedJobs, runnerAlive } from '../../master/jobs.js';
import { loadKeyring } from '../../master/keyring.js';
import { collectUsage } from '../../stores/usage/collector.js';
import { recordedOverrides } from '../../stores/usage/report.js';
import { UsageSchedule } from '../../stores/usage/schedule.js';
import { parseFlags, UsageError } from '../args.js';
import { durationSchema } from '../duration.js';

export const apiHelp = `usage: storeop api [--bind-address HOST:PORT] [--master-database-url URL] [--api-token-hashes-file FILE]
                   [--max-concurrent-jobs N] [--max-queued-jobs N] [--rate-limit N] [--log-level LEVEL]
                   [--egress-allow CIDR,...] [--egress-deny CIDR,...]
                   [--supabase-api-url URL] [--supabase-poll-interval DURATION] [--supabase-timeout DURATION]
                   [--usage-interval DURATION]

Serves the provisioning API: POST /v1/provision, GET /v1/provision/{jobId}/status, GET /v1/stores,
GET /v1/stores/{id}, GET /v1/stores/{id}/usage, GET /v1/usage/summary, GET /v1/openapi.json, the web
console at / (sign in with an API token), and /healthz, /readyz (the master DB answers) and /metrics
without a token. Errors are RFC 9457 application/problem+json with a stable type and code. Every
--usage-interval (default 15m, jittered; 0s: never) it collects the stores' usage and checks their plan
limits, as storeop usage collect does. Clients send "Authorization: Bearer TOKEN"; the server
knows only SHA-256 hashes of the tokens (STOREOP_API_TOKEN_HASHES, comma-separated, or a file with
one per line), each optionally followed by a name for logs and audit rows ("HASH ci-deployer").
Make one with: printf %s "$TOKEN" | sha256sum. A Supabase store's job waits for its project to come up
(polled every --supabase-poll-interval, default 10s, for at most --supabase-timeout, default 15m).

  --rate-limit N        requests a minute per token (per address without a valid token); default 600
  --max-queued-jobs N   jobs that may wait for a free slot; default 100
Beyond either limit the API answers 429 with Retry-After.

Egress policy for the database hosts in requests: every address a host resolves to is checked and the
job connects to that address. Link-local (169.254.0.0/16, fe80::/10), cloud metadata (100.100.100.200,
fd00:ec2::254) and "this host" (0.0.0.0/8, ::) are always refused; loopback and private networks are
allowed unless denied. --egress-allow (env STOREOP_EGRESS_ALLOW) makes only those networks reachable;
--egress-deny (env STOREOP_EGRESS_DENY) refuses more, e.g. 127.0.0.0/8,::1. A deny wins over an allow.`;

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
  'supabase-api-url': z.url().optional(),
  'supabase-poll-interval': durationSchema.default(10_000),
  'supabase-timeout': durationSchema.default(15 * 60_000),
  'egress-allow': cidrList.optional(),
  'egress-deny': cidrList.optional(),
  'usage-interval': durationSchema.default(15 * 60_000),
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
  'supabase-api-url': { type: 'string' },
  'supabase-poll-interval': { type: 'string' },
  'supabase-timeout': { type: 'string' },
  'egress-allow': { type: 'string' },
  'egress-deny': { type: 'string' },
  'usage-interval': { type: 'string' },
} as const;

/** A CIDR list from its flag, else its environment variable; a bad entry names where it came from. */
function cidrsFrom(flag: z.infer<typeof cidrList> | undefined, envName: string) {
  if (flag) return flag;
  const raw = process.env[envName];
  if (raw === undefined) return undefined;
  const parsed = cidrList.safeParse(raw);
  if (!parsed.success) throw new UsageError(`${envName}: ${parsed.error.issues[0]?.message ?? 'invalid'}`);
  return parsed.data;
}

export async function apiCommand(argv: string[]): Promise<number> {
  const { flags: f } = parseFlags(argv, spec, flags);
  const log = createLogger({ level: f['log-level'] });
  const egress = new EgressPolicy({
    allow: cidrsFrom(f['egress-allow'], 'STOREOP_EGRESS_ALLOW'),
    deny: cidrsFrom(f['egress-deny'], 'STOREOP_EGRESS_DENY'),
  });
  log.info({ egress: egress.summary }, 'egress policy for database hosts in requests');
  const tokens = TokenVerifier.fromConfig({ file: f['api-token-hashes-file'], env: process.env.STOREOP_API_TOKEN_HASHES });
  const home = storeopHome(f.home);
  const master = await openMaster({ url: f['master-database-url'], home });
  const keyring = loadKeyring({ home, embedded: master.engine === 'pglite' });
  const ctx = { master, keyring, actor: 'api' };
  const abandoned = await failAbandonedJobs(master.db, runnerAlive);
  if (abandoned) log.warn({ jobs: abandoned }, 'marked jobs of a stopped server as failed');
  setAdminConnectionLimit(f['max-concurrent-jobs']); // admin sessions per database server: one per job, +2
  const provisioner = new LocalProvisioner({
    master: ctx,
    log,
    home,
    concurrency: f['max-concurrent-jobs'],
    maxQueued: f['max-queued-jobs'],
    staged: {
      defaults: { supabaseApiUrl: f['supabase-api-url'] },
      pollMs: f['supabase-poll-interval'],
      deadlineMs: f['supabase-timeout'],
    },
    egress,
  });
  const probes = apiProbes(async () => {
    await sql`select 1`.execute(master.db);
    return true;
  });
  const app = createApi({ master: ctx, tokens, provisioner, log, rateLimitPerMinute: f['rate-limit'], probes });
  const usage = new UsageSchedule(
    f['usage-interval'],
    async () => {
      await collectUsage(ctx, { overrides: await recordedOverrides(master.db), log });
    },
    log,
  );
  usage.start();
  const at = f['bind-address'].lastIndexOf(':');
  const host = f['bind-address'].slice(0, at) || '0.0.0.0';
  const port = Number(f['bind-address'].slice(at + 1));
  const server = listen(app.fetch, { hostname: host, port }, (info) => {
    log.info({ address: `${info.address}:${info.port}`, master: master.location }, 'provisioning API listening');
  });
  await new Promise<void>((resolve) => {
    const stop = () => resolve();
    process.once('SIGTERM', stop);
    process.once('SIGINT', stop);
  });
  log.info('shutting down: finishing accepted jobs');
  server.close();
  await usage.stop();
  await provisioner.drain();
  await master.close();
  return 0;
}
