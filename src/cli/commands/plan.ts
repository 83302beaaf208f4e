// storeop plan --database-url URL: the exact statements provisioning would run there; changes nothing.
import { z } from 'zod';
import { targetSummary } from '../../engines/target.js';
import { describeTarget } from '../../errors.js';
import { planProvisioning, planStatements } from '../../provisioning/dry-run.js';
import { describeConflicts } from '../../schema/plan.js';
import { parseFlags } from '../args.js';
import { targetFromUrls } from '../targets.js';

export const planHelp = `usage: storeop plan --database-url URL [--no-seed]

Prints the statements that provisioning would run on the database at URL (postgres://, mysql://
or pglite://FOLDER), in that database's dialect. Connects read-only; changes nothing.`;

const flags = z.object({
  'database-url': z.string({ error: 'is required' }).min(1, 'is required'),
  seed: z.boolean().optional(),
});

export async function planCommand(argv: string[]): Promise<number> {
  const { flags: f } = parseFlags(argv, { 'database-url': { type: 'string' }, seed: { type: 'boolean' } }, flags);
  const target = targetFromUrls({ databaseUrl: f['database-url'] });
  const plan = await planProvisioning(target, { seed: f.seed === false ? false : {} });
  const statements = planStatements(plan);
  const out = process.stdout;
  out.write(`-- storeop plan: ${describeTarget(targetSummary(target))} (dialect ${plan.schema.dialect})\n`);
  out.write(
    `-- store schema ${plan.schemaVersion} (${plan.schemaHash.slice(0, 12)})${plan.databaseExists ? '' : '; the database does not exist yet'}\n`,
  );
  if (plan.schema.conflicts.length) {
    out.write(`-- CONFLICTS (provisioning would stop and change nothing): ${describeConflicts(plan.schema.conflicts)}\n`);
    return 1;
  }
  out.write(
    `-- ${plan.schema.existingTables.length} store table(s) present, ${plan.schema.missingTables.length} missing; ${statements.length} statement(s)\n`,
  );
  for (const statement of statements) out.write(`${statement}\n`);
  out.write(plan.seedPending ? '-- then: seed default rows (categories, CMS pages, SEO defaults, settings) where missing\n' : '');
  if (!statements.length && !plan.seedPending) out.write('-- nothing to do: the database matches the store schema\n');
  return 0;
}
