// storeop provision: runs the pipeline against one database and prints progress and a summary.
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { z } from 'zod';
import { createsStoreRole } from '../../engines/target.js';
import { connectionUrl } from '../../engines/url.js';
import { slugSchema } from '../../naming.js';
import { provision } from '../../provisioning/pipeline.js';
import { parseFlags } from '../args.js';
import { formatTable, progressDisplay } from '../output.js';
import { targetFromUrls } from '../targets.js';

export const provisionHelp = `usage: storeop provision --database-url URL --store SLUG [--admin-url URL] [--isolation database|schema]
                         [--no-seed] [--currency USD] [--locale en-US] [--credentials-file FILE]

Connect mode (no --admin-url): creates the missing store tables in the existing database at URL.
Create mode (--admin-url): creates the store's database (or schema) and role on the admin's server;
URL then names where apps reach it (its database name is used when given). A generated password is
kept in --credentials-file (default .storeop/credentials/SLUG.env, mode 0600) before it is used.`;

const flags = z.object({
  'database-url': z.string({ error: 'is required' }).min(1, 'is required'),
  store: z.string({ error: 'is required' }).pipe(slugSchema),
  'admin-url': z.string().optional(),
  isolation: z.enum(['database', 'schema']).optional(),
  seed: z.boolean().optional(),
  currency: z
    .string()
    .regex(/^[A-Z]{3}$/, 'must be a three-letter ISO 4217 code such as USD')
    .optional(),
  locale: z
    .string()
    .regex(/^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$/, 'must be a BCP 47 tag such as en-US')
    .optional(),
  'credentials-file': z.string().optional(),
});

const spec = {
  'database-url': { type: 'string' },
  store: { type: 'string' },
  'admin-url': { type: 'string' },
  isolation: { type: 'string' },
  seed: { type: 'boolean' },
  currency: { type: 'string' },
  locale: { type: 'string' },
  'credentials-file': { type: 'string' },
} as const;

function readKeptPassword(file: string): string | undefined {
  if (!existsSync(file)) return undefined;
  return /^STOREOP_STORE_PASSWORD=(.*)$/m.exec(readFileSync(file, 'utf8'))?.[1];
}

function writeCredentials(file: string, lines: Record<string, string>): void {
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  writeFileSync(
    file,
    `${Object.entries(lines)
      .map(([k, v]) => `${k}=${v}`)
      .join('\n')}\n`,
    { mode: 0o600 },
  );
  chmodSync(file, 0o600);
}

export async function provisionCommand(argv: string[]): Promise<number> {
  const { flags: f } = parseFlags(argv, spec, flags);
  const target = targetFromUrls({
    databaseUrl: f['database-url'],
    ...(f['admin-url'] ? { adminUrl: f['admin-url'] } : {}),
    ...(f.isolation ? { isolation: f.isolation } : {}),
  });
  const slug = f.store;
  const createsRole = createsStoreRole(target);
  const credentialsFile = resolve(f['credentials-file'] ?? `.storeop/credentials/${slug}.env`);
  const givenPassword = createsRole ? new URL(f['database-url']).password : '';
  const password = createsRole ? (givenPassword ? decodeURIComponent(givenPassword) : readKeptPassword(credentialsFile)) : undefined;

  const display = progressDisplay();
  const result = await provision({
    slug,
    target,
    ...(password ? { password } : {}),
    persistPassword: async (generated) => writeCredentials(credentialsFile, { STOREOP_STORE_PASSWORD: generated }),
    seed: f.seed === false ? false : { ...(f.currency ? { currency: f.currency } : {}), ...(f.locale ? { locale: f.locale } : {}) },
    onProgress: (p) => display.update(slug, p),
  }).finally(() => display.done());

  if (createsRole && !givenPassword) {
    writeCredentials(credentialsFile, {
      STOREOP_STORE_PASSWORD: result.connection.password ?? '',
      DATABASE_URL: connectionUrl(result.connection, { includePassword: true }),
    });
  }
  process.stdout.write(
    `${formatTable(
      ['STORE', 'ENGINE', 'DATABASE', 'TABLES', 'CHANGES', 'SEEDED', 'DURATION'],
      [
        [
          slug,
          result.connection.engine,
          connectionUrl(result.connection, { includePassword: false }),
          `${result.tablesCreated}/${result.totalTables}`,
          String(result.applied.length + result.migrationsApplied.length),
          String(result.seedRowsInserted),
          `${result.durationMs}ms`,
        ],
      ],
    )}\n`,
  );
  process.stdout.write(result.changed ? `store ${slug} is ready\n` : `store ${slug} is ready; nothing changed\n`);
  if (createsRole && !givenPassword) process.stdout.write(`credentials: ${credentialsFile}\n`);
  return 0;
}
