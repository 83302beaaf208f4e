// What the console reads from the master DB: the stores overview, one store's jobs, audit events and
// usage, and the rollouts. Read-only; every value is shown as text by the pages.
import type { Kysely } from 'kysely';
import type { DatabaseStatus, MasterDB } from '../../master/types.js';

/** The phase a person reads, from the store's database status (the same words as the Store CRD's phase). */
export function phaseOf(status: DatabaseStatus | string): string {
  switch (status) {
    case 'active':
      return 'Ready';
    case 'provisioning':
      return 'Provisioning';
    case 'suspended':
      return 'Suspended';
    case 'failed':
      return 'Failed';
    case 'detached':
      return 'Deleted';
    default:
      return String(status);
  }
}

export const PHASES = ['Ready', 'Provisioning', 'Suspended', 'Failed', 'Deleted'] as const;

export interface StoreSummary {
  id: string;
  slug: string;
  name: string;
  owner: string | null;
  plan: string;
  engine: string | null;
  where: string | null;
  schema: string | null;
  phase: string;
  updatedAt: string;
}

const iso = (d: Date | string | null) => (d ? new Date(d).toISOString() : '');

export async function storeSummaries(db: Kysely<MasterDB>): Promise<StoreSummary[]> {
  const rows = await db
    .selectFrom('stores')
    .leftJoin('users', 'users.id', 'stores.owner_id')
    .select([
      'stores.id',
      'stores.slug',
      'stores.name',
      'users.email as owner',
      'stores.subscription_plan',
      'stores.database_type',
      'stores.database_server',
      'stores.database_host',
      'stores.schema_name',
      'stores.schema_version',
      'stores.database_status',
      'stores.updated_at',
    ])
    .orderBy('stores.slug')
    .execute();
  return rows.map((r) => ({
    id: r.id,
    slug: r.slug,
    name: r.name,
    owner: r.owner,
    plan: r.subscription_plan,
    engine: r.database_type,
    where: r.database_server ?? r.database_host,
    schema: r.schema_version ? `${r.schema_name ?? 'storeop-default'} ${r.schema_version}` : null,
    phase: phaseOf(r.database_status),
    updatedAt: iso(r.updated_at),
  }));
}

export interface StoreFilters {
  q?: string | undefined;
  phase?: string | undefined;
  engine?: string | undefined;
}

export function filterStores(stores: StoreSummary[], filters: StoreFilters): StoreSummary[] {
  const q = filters.q?.trim().toLowerCase();
  return stores.filter(
    (s) =>
      (!q || [s.slug, s.name, s.owner ?? ''].some((v) => v.toLowerCase().includes(q))) &&
      (!filters.phase || s.phase === filters.phase) &&
      (!filters.engine || s.engine === filters.engine),
  );
}

export async function jobsOf(db: Kysely<MasterDB>, storeId: string) {
  return db.selectFrom('provisioning_jobs').selectAll().where('store_id', '=', storeId).orderBy('created_at', 'desc').limit(10).execute();
}

export async function auditOf(db: Kysely<MasterDB>, storeId: string) {
  return db
    .selectFrom('audit_logs')
    .select(['actor', 'action', 'created_at'])
    .where('store_id', '=', storeId)
    .orderBy('id', 'desc')
    .limit(20)
    .execute();
}

export async function ownerOf(db: Kysely<MasterDB>, ownerId: string | null): Promise<string | undefined> {
  if (!ownerId) return undefined;
  const row = await db.selectFrom('users').select('email').where('id', '=', ownerId).executeTakeFirst();
  return row?.email;
}

/** Usage where recorded (usage_metrics, written by the usage collector when it runs); none is not an error. */
export async function usageOf(db: Kysely<MasterDB>, storeId: string) {
  try {
    return await db
      .selectFrom('usage_metrics')
      .select(['metric_date', 'product_count', 'order_count', 'storage_used_bytes', 'api_calls'])
      .where('store_id', '=', storeId)
      .orderBy('metric_date', 'desc')
      .limit(7)
      .execute();
  } catch {
    return [];
  }
}

export interface RolloutView {
  schema: string;
  version: string;
  previousVersion: string | null;
  currentStage: string | null;
  awaitingStage: string | null;
  complete: boolean;
  halted: boolean;
  paused: boolean;
  counts: Array<{ stage: string; state: string; stores: number }>;
  failed: Array<{ slug: string; stage: string; reason: string | null; message: string | null }>;
}

export async function rolloutViews(db: Kysely<MasterDB>): Promise<RolloutView[]> {
  const rollouts = await db.selectFrom('schema_rollouts').selectAll().orderBy('schema_name').execute();
  const views: RolloutView[] = [];
  for (const r of rollouts) {
    const counts = await db
      .selectFrom('schema_rollout_stores')
      .select(['stage', 'state', (eb) => eb.fn.countAll<number>().as('stores')])
      .where('schema_name', '=', r.schema_name)
      .where('version', '=', r.version)
      .groupBy(['stage', 'state'])
      .orderBy('stage')
      .execute();
    const failed = await db
      .selectFrom('schema_rollout_stores')
      .innerJoin('stores', 'stores.id', 'schema_rollout_stores.store_id')
      .select(['stores.slug', 'schema_rollout_stores.stage', 'schema_rollout_stores.reason', 'schema_rollout_stores.message'])
      .where('schema_rollout_stores.schema_name', '=', r.schema_name)
      .where('schema_rollout_stores.version', '=', r.version)
      .where('schema_rollout_stores.state', '=', 'failed')
      .orderBy('stores.slug')
      .limit(50)
      .execute();
    views.push({
      schema: r.schema_name,
      version: r.version,
      previousVersion: r.previous_version,
      currentStage: r.current_stage,
      awaitingStage: r.awaiting_stage,
      complete: r.complete,
      halted: r.halted,
      paused: r.paused,
      counts: counts.map((c) => ({ stage: c.stage, state: c.state, stores: Number(c.stores) })),
      failed,
    });
  }
  return views;
}

/** The phase and last change of every store: what the live stores table receives. */
export async function phases(db: Kysely<MasterDB>) {
  const rows = await db.selectFrom('stores').select(['slug', 'database_status', 'updated_at']).orderBy('slug').execute();
  return rows.map((r) => ({ slug: r.slug, phase: phaseOf(r.database_status), updatedAt: iso(r.updated_at) }));
}
