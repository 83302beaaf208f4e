// storeop schema plan | types -f schema.yaml: what a StoreSchema version would change across the stores
// that use it (against the master DB, as storeop apply), and its TypeScript row types.
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { objectName } from '../../api/common.js';
import { ManifestError, parseManifests, readSources } from '../../apply/manifests.js';
import { KubeClient } from '../../kube/client.js';
import { loadKubeConfig } from '../../kube/kubeconfig.js';
import { openMaster, storeopHome } from '../../master/database.js';
import { loadKeyring } from '../../master/keyring.js';
import { planStatements } from '../../provisioning/dry-run.js';
import { definitionFromSpec } from '../../schema/from-spec.js';
import { describeConflicts } from '../../schema/plan.js';
import { rowTypesSource } from '../../schema/type-source.js';
import { planSchemaForFleet, type SchemaPlanReport } from '../../stores/schema-plan.js';
import type { DeclaredSchema } from '../../stores/store-schemas.js';
import { parseFlags, UsageError } from '../args.js';
import { planSchemaInCluster } from '../schema-plan-cluster.js';

export const schemaHelp = `usage: storeop schema plan -f FILE|DIR|- [-f ...] [--master-database-url URL] [--home DIR]
       storeop schema plan -f FILE|DIR|- [-f ...] --kubeconfig PATH [--namespace NS] [--operator-namespace NS]
       storeop schema types -f FILE|- [--name SCHEMA]

plan   Validates the StoreSchema documents and shows, before anything runs, what each version would do:
       its changes from the version the master DB admitted last (additive ones, destructive ones a new
       migration handles, and refused ones), then, for every store whose database is at a version of that
       schema, the statements and migrations it would get, or the conflicts that would stop it (a column of
       another type added by hand). Reads only; exits 1 when anything is refused or conflicts. The master DB
       is the one storeop apply uses (--home / STOREOP_HOME, or --master-database-url /
       STOREOP_MASTER_DATABASE_URL). With --kubeconfig, through the API server instead: the version is
       compared with the cluster's StoreSchema of that name, and every Store that uses the schema (in
       --namespace, else all) is read through its database target as the operator resolves it (its
       StoreDatabase, its Secrets, its DatabaseServer, whose admin Secret is in --operator-namespace unless
       adminSecretRef names one; default $POD_NAMESPACE, else default).
types  Prints the TypeScript row types (StoreDB) of a StoreSchema, for Kysely<StoreDB> and
       ConnectionManager.forStore<StoreDB>(); --name picks one when the file holds several.`;

const flags = z.object({
  filename: z.array(z.string().min(1), { error: 'is required (-f FILE, DIR or -)' }).min(1, 'is required (-f FILE, DIR or -)'),
  'master-database-url': z.string().min(1).optional(),
  home: z.string().min(1).optional(),
  name: z.string().min(1).optional(),
  kubeconfig: z.string().min(1).optional(),
  namespace: objectName.optional(),
  'operator-namespace': objectName.optional(),
});

const flagSpec = {
  filename: { type: 'string', short: 'f', multiple: true },
  'master-database-url': { type: 'string' },
  home: { type: 'string' },
  name: { type: 'string' },
  kubeconfig: { type: 'string' },
  namespace: { type: 'string', short: 'n' },
  'operator-namespace': { type: 'string' },
} as const;

function declaredSchemas(filenames: string[]): DeclaredSchema[] {
  const set = parseManifests(readSources(filenames, () => readFileSync(0, 'utf8')));
  if (set.schemas.length === 0) throw new ManifestError([`${filenames.join(', ')}: no StoreSchema in the manifests`]);
  return set.schemas;
}

export async function schemaCommand(argv: string[]): Promise<number> {
  const [action, ...rest] = argv;
  if (action !== 'plan' && action !== 'types') throw new UsageError('expected "plan" or "types"; see "storeop schema --help"');
  const { flags: f } = parseFlags(rest, flagSpec, flags);
  const schemas = declaredSchemas(f.filename);
  if (action === 'types') {
    const chosen = f.name ? schemas.find((s) => s.name === f.name) : schemas.length === 1 ? schemas[0] : undefined;
    if (!chosen)
      throw new UsageError(
        f.name
          ? `--name: no StoreSchema ${f.name} in the manifests (found ${schemas.map((s) => s.name).join(', ')})`
          : `--name: the manifests hold ${schemas.length} StoreSchemas (${schemas.map((s) => s.name).join(', ')}); name one`,
      );
    process.stdout.write(rowTypesSource(definitionFromSpec(chosen.spec), { schema: chosen.name, version: chosen.spec.version }));
    return 0;
  }
  if (f.name) throw new UsageError('--name is for storeop schema types');
  if (f.kubeconfig && (f['master-database-url'] || f.home))
    throw new UsageError('--kubeconfig (cluster) and --master-database-url/--home (no cluster) exclude each other');
  if (!f.kubeconfig && (f.namespace || f['operator-namespace']))
    throw new UsageError('--namespace and --operator-namespace need --kubeconfig');
  if (f.kubeconfig) {
    const kube = new KubeClient(loadKubeConfig(f.kubeconfig));
    const operatorNamespace = f['operator-namespace'] ?? process.env.POD_NAMESPACE ?? 'default';
    let blocked = false;
    for (const schema of schemas) {
      const report = await planSchemaInCluster(kube, schema, { namespace: f.namespace, operatorNamespace });
      process.stdout.write(formatReport(report, 'the cluster has'));
      blocked ||= isBlocked(report);
    }
    return blocked ? 1 : 0;
  }

  const home = storeopHome(f.home);
  const master = await openMaster({ url: f['master-database-url'], home });
  try {
    const keyring = loadKeyring({ home, embedded: master.engine === 'pglite' });
    let blocked = false;
    for (const schema of schemas) {
      const report = await planSchemaForFleet(master.db, keyring, schema);
      process.stdout.write(formatReport(report, 'the master DB admitted'));
      blocked ||= isBlocked(report);
    }
    return blocked ? 1 : 0;
  } finally {
    await master.close();
  }
}

function isBlocked(report: SchemaPlanReport): boolean {
  return report.review.problems.length > 0 || report.stores.some((s) => s.plan.schema.conflicts.length > 0);
}

/** `source` says where the version compared with comes from: "the master DB admitted" or "the cluster has". */
function formatReport({ review, stores, unchecked }: SchemaPlanReport, source: string): string {
  const { name, spec } = review.schema;
  const lines: string[] = [];
  const previous = review.previous
    ? `${source} ${review.previous.version}${source.endsWith('admitted') ? ' last' : ''}`
    : source.endsWith('admitted')
      ? 'no version admitted yet'
      : 'not in the cluster yet';
  lines.push(`StoreSchema ${name} version ${spec.version} (${previous})`);
  for (const change of review.changes) {
    const verdict = change.refused ? 'REFUSED ' : change.handledBy ? `handled by migration ${change.handledBy}: ` : '';
    lines.push(`  ${verdict}${change.kind} ${change.description}`);
  }
  if (review.changes.length === 0) lines.push('  no changes to the tables');
  for (const problem of review.problems) lines.push(`  REFUSED: ${problem}`);
  lines.push(`${stores.length} store(s) use StoreSchema ${name}:`);
  for (const store of stores) {
    const { plan } = store;
    const head = `  store ${store.slug} (${store.database}, at version ${store.version})`;
    if (plan.schema.conflicts.length) {
      lines.push(`${head}: CONFLICTS, it would stop and change nothing: ${describeConflicts(plan.schema.conflicts)}`);
      continue;
    }
    const statements = planStatements(plan);
    lines.push(
      `${head}: ${plan.schema.changes.length} change(s), ${plan.pendingMigrations.length} migration(s)${statements.length ? '' : '; nothing to do'}`,
    );
    for (const statement of statements) lines.push(`    ${statement}`);
  }
  for (const store of unchecked) lines.push(`  store ${store.slug}: could not be checked: ${store.reason}`);
  return `${lines.join('\n')}\n`;
}
