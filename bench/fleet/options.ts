// Command-line flags of `npm run bench:fleet`, validated with zod: a bad flag is reported by name.
import { parseArgs } from 'node:util';
import { z } from 'zod';
import { durationSchema } from '../../src/cli/duration.js';

/** A mistake on the command line: printed without a stack trace. */
export class UsageError extends Error {}

export const USAGE = `usage: npm run bench:fleet -- [flags]

  --stores N               Stores per fleet run (default 1000)
  --workers LIST           operator --max-concurrent-reconciles per fleet run, e.g. 4,8,16 (default 4)
  --apply-concurrency N    concurrent creates/deletes, as a batched kubectl apply (default 20)
  --resync-period DUR      the operator's --resync-period in the no-op resync window (default 60s)
  --resync-windows N       resync periods to watch (RSS at each; default 3)
  --memory-points LIST     objects (Stores + as many StoreDatabases) per memory point (default 0,2000,5000,10000)
  --heap-snapshots DIR     write a V8 heap snapshot of the operator at the last memory point into DIR
                           (summarise it with bench/heap-summary.ts)
  --skip-memory            no memory curve
  --skip-resync            no resync window
  --skip-floor             no in-process floor run
  --ready-timeout DUR      give up waiting for Ready / deletion after this long (default 30m)
  --kubeconfig PATH        use this cluster instead of a fresh envtest control plane (also $KUBECONFIG with
                           STOREOP_FLEET_EXISTING_CLUSTER=true); the CRDs and RBAC must be installed
  --postgres-url URL       admin URL of the PostgreSQL server the stores go to
                           (default $STOREOP_BENCH_POSTGRES_URL, else postgres://postgres@127.0.0.1:5432/postgres)
  --json FILE              also write the results as JSON (rewritten after every phase)
  --operator-log FILE      append the operator's log (every phase) to FILE
  --no-build               run the operator from the existing dist/bundle/ (default: build it first)
  --operator-dist DIR      run the operator from DIR/cli/main.js instead (another checkout's built dist/,
                           for an A/B run of two commits with the same bench; DIR is not built)
  --operator-node-options OPTS
                           extra node flags for the operator, space-separated, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof"`;

const list = (flag: string, min: number, max: number) =>
  z.string().transform((raw, ctx) => {
    const values = raw.split(',').map((part) => Number(part.trim()));
    if (values.length === 0 || values.some((n) => !Number.isInteger(n) || n < min || n > max)) {
      ctx.addIssue({ code: 'custom', message: `--${flag} must be a comma-separated list of whole numbers from ${min} to ${max}` });
      return z.NEVER;
    }
    return values;
  });

const count = (flag: string, min: number, max: number) =>
  z.coerce
    .number({ message: `--${flag} must be a number` })
    .int(`--${flag} must be a whole number`)
    .min(min, `--${flag} must be at least ${min}`)
    .max(max, `--${flag} must be at most ${max}`);

const duration = (flag: string) =>
  z.string().transform((raw, ctx) => {
    const parsed = durationSchema.safeParse(raw);
    if (!parsed.success) {
      ctx.addIssue({ code: 'custom', message: `--${flag} must be a duration such as 90s or 2m` });
      return z.NEVER;
    }
    return parsed.data;
  });

const flagsSchema = z
  .object({
    stores: count('stores', 1, 20_000).default(1000),
    workers: list('workers', 1, 256).default([4]),
    'apply-concurrency': count('apply-concurrency', 1, 200).default(20),
    'resync-period': duration('resync-period').default(60_000),
    'resync-windows': count('resync-windows', 1, 10).default(3),
    'memory-points': list('memory-points', 0, 50_000).default([0, 2000, 5000, 10000]),
    'heap-snapshots': z.string().min(1, '--heap-snapshots must name a folder').optional(),
    'operator-node-options': z
      .string()
      .transform((raw) => raw.split(/\s+/).filter(Boolean))
      .refine((flags) => flags.every((flag) => flag.startsWith('--')), '--operator-node-options must be node flags (each starting with --)')
      .default([]),
    'skip-memory': z.boolean().default(false),
    'skip-resync': z.boolean().default(false),
    'skip-floor': z.boolean().default(false),
    'ready-timeout': duration('ready-timeout').default(30 * 60_000),
    kubeconfig: z.string().min(1, '--kubeconfig must name a file').optional(),
    'postgres-url': z
      .string()
      .regex(/^postgres(ql)?:\/\//, '--postgres-url must be a postgres:// URL')
      .default(process.env.STOREOP_BENCH_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres'),
    json: z.string().min(1, '--json must name a file').optional(),
    'operator-log': z.string().min(1, '--operator-log must name a file').optional(),
    'no-build': z.boolean().default(false),
    'operator-dist': z.string().min(1, '--operator-dist must name a folder').optional(),
    help: z.boolean().default(false),
  })
  .strict();

export type FleetOptions = z.infer<typeof flagsSchema>;

const spec = {
  stores: { type: 'string' },
  workers: { type: 'string' },
  'apply-concurrency': { type: 'string' },
  'resync-period': { type: 'string' },
  'resync-windows': { type: 'string' },
  'memory-points': { type: 'string' },
  'heap-snapshots': { type: 'string' },
  'operator-node-options': { type: 'string' },
  'skip-memory': { type: 'boolean' },
  'skip-resync': { type: 'boolean' },
  'skip-floor': { type: 'boolean' },
  'ready-timeout': { type: 'string' },
  kubeconfig: { type: 'string' },
  'postgres-url': { type: 'string' },
  json: { type: 'string' },
  'operator-log': { type: 'string' },
  'no-build': { type: 'boolean' },
  'operator-dist': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

export function parseOptions(argv: string[]): FleetOptions {
  let values: Record<string, unknown>;
  try {
    values = parseArgs({ args: argv, options: spec, strict: true, allowPositionals: false }).values;
  } catch (error) {
    throw new UsageError(`${(error as Error).message}\n\n${USAGE}`);
  }
  const env = process.env.STOREOP_FLEET_EXISTING_CLUSTER === 'true' ? process.env.KUBECONFIG : undefined;
  const parsed = flagsSchema.safeParse({ ...values, kubeconfig: values.kubeconfig ?? env });
  if (!parsed.success) throw new UsageError(parsed.error.issues.map((issue) => issue.message).join('\n'));
  return parsed.data;
}
