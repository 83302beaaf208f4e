// storeop rollout status|pause|resume SCHEMA: watch and steer a StoreSchema rollout. With --kubeconfig
// through the API server (status from the StoreSchema; pause and resume as annotations the rollout
// controller reads); without a cluster against the master DB, which holds the same rollout state.
import { existsSync } from 'node:fs';
import { z } from 'zod';
import { objectName } from '../../api/common.js';
import { ROLLOUT_PAUSE_ANNOTATION, ROLLOUT_RESUME_ANNOTATION } from '../../api/rollout-annotations.js';
import { parseDatabaseUrl } from '../../engines/url.js';
import { StoreopError } from '../../errors.js';
import { describeApiError, KubeClient } from '../../kube/client.js';
import { loadKubeConfig } from '../../kube/kubeconfig.js';
import { masterUrl, openMaster, storeopHome } from '../../master/database.js';
import { loadKeyring } from '../../master/keyring.js';
import { applyResume, findRollout, setPaused } from '../../master/rollouts.js';
import { runRollout } from '../../stores/rollout/standalone.js';
import { parseFlags, UsageError } from '../args.js';
import { formatView, viewFromMaster, viewFromStatus } from '../rollout-view.js';

export const rolloutHelp = `usage: storeop rollout status SCHEMA [-o table|json|yaml] [--kubeconfig PATH | --master-database-url URL | --home DIR]
       storeop rollout pause SCHEMA  [--kubeconfig PATH | --master-database-url URL | --home DIR]
       storeop rollout resume SCHEMA [--kubeconfig PATH | --master-database-url URL | --home DIR]

status  the rollout of the StoreSchema's version: phase, stages with their counts, the stores that failed and why.
pause   admits no more stores (stores already migrating finish).
resume  lifts a pause, approves the stage waiting for approval (pause: true), and continues after a
        reached failure budget: the stores that failed this version are tried again (fix the version first).
        Without a cluster it then runs the rollout itself (as storeop apply does) until it completes or
        stops at the next gate, and prints where it stands; exit 1 when stores failed.

With --kubeconfig, through the API server: status reads the StoreSchema; pause and resume set the
annotations ${ROLLOUT_PAUSE_ANNOTATION} and ${ROLLOUT_RESUME_ANNOTATION}, which the operator acts on.
Without it, against the master DB (--master-database-url, STOREOP_MASTER_DATABASE_URL, else DIR/master
with DIR from --home, STOREOP_HOME or ./.storeop), as storeop apply.`;

const flags = z.object({
  output: z.enum(['table', 'json', 'yaml']).default('table'),
  kubeconfig: z.string().min(1).optional(),
  'master-database-url': z.string().min(1).optional(),
  home: z.string().min(1).optional(),
});
const spec = {
  output: { type: 'string', short: 'o' },
  kubeconfig: { type: 'string' },
  'master-database-url': { type: 'string' },
  home: { type: 'string' },
} as const;

const ACTIONS = ['status', 'pause', 'resume'] as const;
type Action = (typeof ACTIONS)[number];
type Flags = z.infer<typeof flags>;

export async function rolloutCommand(argv: string[]): Promise<number> {
  const { flags: f, positionals } = parseFlags(argv, spec, flags);
  const [action, name, ...extra] = positionals;
  if (!ACTIONS.includes(action as Action)) throw new UsageError('expected "status", "pause" or "resume"; see "storeop rollout --help"');
  if (!name) throw new UsageError(`${action}: give the StoreSchema name`);
  if (extra.length) throw new UsageError(`unexpected argument "${extra[0]}"`);
  const parsedName = objectName.safeParse(name);
  if (!parsedName.success) throw new UsageError(`SCHEMA: ${parsedName.error.issues[0]?.message}`);
  if (f.kubeconfig && (f['master-database-url'] || f.home))
    throw new UsageError('--kubeconfig (cluster) and --master-database-url/--home (no cluster) exclude each other');
  return f.kubeconfig
    ? inCluster(action as Action, parsedName.data, f, f.kubeconfig)
    : withoutCluster(action as Action, parsedName.data, f);
}

async function inCluster(action: Action, name: string, f: Flags, kubeconfig: string): Promise<number> {
  const kube = new KubeClient(loadKubeConfig(kubeconfig));
  const call = async <T>(what: string, fn: () => Promise<T>): Promise<T> => {
    try {
      return await fn();
    } catch (error) {
      throw new StoreopError('ConnectionFailed', `${what} StoreSchema ${name}: ${describeApiError(error)}`);
    }
  };
  const schema = await call('reading', () => kube.getStoreSchema(name));
  if (!schema) {
    process.stderr.write(`storeop rollout: StoreSchema ${name} not found\n`);
    return 1;
  }
  if (action === 'status') {
    process.stdout.write(formatView(viewFromStatus(schema), f.output));
    return 0;
  }
  const annotations =
    action === 'pause'
      ? { [ROLLOUT_PAUSE_ANNOTATION]: 'true' }
      : { [ROLLOUT_PAUSE_ANNOTATION]: null, [ROLLOUT_RESUME_ANNOTATION]: new Date().toISOString() };
  await call('annotating', () => kube.patchStoreSchema(name, { metadata: { annotations } }));
  process.stdout.write(`StoreSchema ${name}: ${action === 'pause' ? 'pause' : 'resume'} requested; the operator acts on it\n`);
  return 0;
}

async function withoutCluster(action: Action, name: string, f: Flags): Promise<number> {
  // A read or a change of a rollout: an embedded master that does not exist yet is reported, not created.
  const url = masterUrl({ url: f['master-database-url'], home: f.home });
  const embedded = parseDatabaseUrl(url, 'master database URL').dataDir;
  if (embedded && !existsSync(embedded)) {
    process.stderr.write(`storeop rollout: no rollout of ${name}: there is no master database at ${embedded} yet\n`);
    return 1;
  }
  const master = await openMaster({ url, home: f.home });
  try {
    const rollout = await findRollout(master.db, name);
    if (!rollout) {
      process.stderr.write(`storeop rollout: no rollout of StoreSchema ${name} in ${master.location}\n`);
      return 1;
    }
    if (action === 'status') {
      process.stdout.write(formatView(await viewFromMaster(master.db, rollout), f.output));
      return 0;
    }
    if (action === 'pause') {
      // A run in progress (storeop apply, another resume) sees it before its next admission.
      await setPaused(master.db, name, true);
      process.stdout.write(`StoreSchema ${name}: paused\n`);
      return 0;
    }
    await applyResume(master.db, name, `cli:${new Date().toISOString()}`);
    process.stdout.write(`StoreSchema ${name}: resumed\n`);
    // Without an operator, this command runs the rollout on: until it completes or stops at the next gate.
    const keyring = loadKeyring({ home: storeopHome(f.home), embedded: master.engine === 'pglite' });
    const decision = await runRollout({ db: master.db, keyring }, name, (line) => process.stdout.write(`${line}\n`));
    if (!decision) return 1;
    process.stdout.write(formatView(await viewFromMaster(master.db, (await findRollout(master.db, name)) ?? rollout), f.output));
    return decision.phase === 'Failed' || decision.reason === 'FailureBudgetExceeded' ? 1 : 0;
  } finally {
    await master.close();
  }
}
