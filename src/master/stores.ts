// The stores registry and each store's current subscription.
import { type Kysely, type Selectable, sql } from 'kysely';
import { StoreopError } from '../errors.js';
import { PLANS, type PlanName } from './plans.js';
import type { DatabaseStatus, MasterDB, StoresTable } from './types.js';

export type StoreRow = Selectable<StoresTable>;

export interface StoreDeclaration {
  slug: string;
  name: string;
  ownerEmail?: string | undefined;
  plan?: PlanName | undefined;
  /** Who declares the store ("kubernetes:ns/name", "apply", "api"); another source's slug is a conflict. */
  source?: string | undefined;
}

/**
 * Creates or updates the store's row (idempotent); refuses a slug that another source already owns. `read`:
 * the store as a caller just read it (readDeclaredStore), so an unchanged store costs no second read.
 */
export async function upsertStore(
  db: Kysely<MasterDB>,
  store: StoreDeclaration,
  read?: { found: DeclaredStoreRow | undefined },
): Promise<StoreRow> {
  const found = read ? read.found : await readDeclaredStore(db, store.slug);
  if (found && declares(found, store)) return storeRow(found);
  return db.transaction().execute(async (trx) => {
    const ownerId = store.ownerEmail ? await upsertOwner(trx, store.ownerEmail) : null;
    const plan = store.plan ?? 'free';
    const inserted = await trx
      .insertInto('stores')
      .values({
        slug: store.slug,
        name: store.name,
        owner_id: ownerId,
        subscription_plan: plan,
        source: store.source ?? null,
        trial_ends_at: PLANS[plan].trialDays ? new Date(Date.now() + PLANS[plan].trialDays * 86_400_000) : null,
        subscription_started_at: new Date(),
        subscription_status: subscriptionStatus(plan),
      })
      .onConflict((oc) => oc.column('slug').doNothing())
      .returningAll()
      .executeTakeFirst();
    let row = inserted;
    if (!row) {
      const existing = await trx.selectFrom('stores').selectAll().where('slug', '=', store.slug).forUpdate().executeTakeFirstOrThrow();
      if (store.source && existing.source && existing.source !== store.source) {
        throw new StoreopError('Conflict', `store slug ${store.slug} already belongs to ${existing.source}`, { retryable: false });
      }
      const changed =
        existing.name !== store.name ||
        existing.subscription_plan !== plan ||
        (ownerId !== null && existing.owner_id !== ownerId) ||
        (!existing.source && store.source);
      row = changed
        ? await trx
            .updateTable('stores')
            .set({
              name: store.name,
              subscription_plan: plan,
              ...(ownerId ? { owner_id: ownerId } : {}),
              ...(store.source && !existing.source ? { source: store.source } : {}),
              updated_at: sql`now()`,
            })
            .where('id', '=', existing.id)
            .returningAll()
            .executeTakeFirstOrThrow()
        : existing;
    }
    // A store inserted now has no subscription yet, and its row already carries the plan's status.
    await ensureSubscription(trx, row.id, plan, { fresh: inserted !== undefined });
    return row;
  });
}

/**
 * A store's row with what decides whether a declaration changes it (owner email, current plan) and, for a
 * store without a recorded identity, the connection its active config registers: one read serves the claim
 * check and the upsert of an unchanged store (every job and reconcile of one), which then locks and writes nothing.
 */
export interface DeclaredStoreRow extends StoreRow {
  owner_email: string | null;
  current_plan: string | null;
  /** The active config's connection fields (no secrets), read only when database_identity is null. */
  active_connection: Record<string, unknown> | null;
}

export async function readDeclaredStore(db: Kysely<MasterDB>, slug: string): Promise<DeclaredStoreRow | undefined> {
  const found = await db
    .selectFrom('stores')
    .selectAll('stores')
    .select((eb) => [
      eb.selectFrom('users').select('users.email').whereRef('users.id', '=', 'stores.owner_id').as('owner_email'),
      eb
        .selectFrom('subscriptions')
        .select('subscriptions.plan_name')
        .whereRef('subscriptions.store_id', '=', 'stores.id')
        .where('subscriptions.cancelled_at', 'is', null)
        .limit(1)
        .as('current_plan'),
      eb
        .selectFrom('integration_configs')
        .select(sql<Record<string, unknown>>`integration_configs.config_data -> 'connection'`.as('connection'))
        .whereRef('integration_configs.store_id', '=', 'stores.id')
        .where('integration_configs.is_active', '=', true)
        .where('stores.database_identity', 'is', null)
        .limit(1)
        .as('active_connection'),
    ])
    .where('stores.slug', '=', slug)
    .executeTakeFirst();
  return found as DeclaredStoreRow | undefined;
}

/** The stores row alone, without the facts readDeclaredStore adds. */
export function storeRow(found: DeclaredStoreRow): StoreRow {
  const { owner_email: _owner, current_plan: _plan, active_connection: _connection, ...row } = found;
  return row;
}

/** Whether the row already says all the declaration says (name, plan and current subscription, owner, source). */
function declares(found: DeclaredStoreRow, store: StoreDeclaration): boolean {
  const plan = store.plan ?? 'free';
  return (
    found.name === store.name &&
    found.subscription_plan === plan &&
    found.current_plan === plan &&
    (!store.ownerEmail || found.owner_email === store.ownerEmail.toLowerCase()) &&
    (!store.source || found.source === store.source)
  );
}

async function upsertOwner(db: Kysely<MasterDB>, email: string): Promise<string> {
  const row = await db
    .insertInto('users')
    .values({ email: email.toLowerCase() })
    .onConflict((oc) => oc.column('email').doUpdateSet({ email: (eb) => eb.ref('excluded.email') }))
    .returning('id')
    .executeTakeFirstOrThrow();
  return row.id;
}

const subscriptionStatus = (plan: PlanName) => (PLANS[plan].trialDays ? 'trialing' : 'active');

/** One current subscription per store, on the declared plan; a plan change cancels the old one. */
async function ensureSubscription(db: Kysely<MasterDB>, storeId: string, plan: PlanName, { fresh }: { fresh: boolean }): Promise<void> {
  const current = fresh
    ? undefined
    : await db
        .selectFrom('subscriptions')
        .select(['id', 'plan_name'])
        .where('store_id', '=', storeId)
        .where('cancelled_at', 'is', null)
        .executeTakeFirst();
  if (current?.plan_name === plan) return;
  if (current)
    await db
      .updateTable('subscriptions')
      .set({ cancelled_at: sql`now()`, status: 'cancelled', updated_at: sql`now()` })
      .where('id', '=', current.id)
      .execute();
  const terms = PLANS[plan];
  const now = new Date();
  const created = await db
    .insertInto('subscriptions')
    .values({
      store_id: storeId,
      plan_name: plan,
      status: terms.trialDays ? 'trialing' : 'active',
      price_monthly: terms.priceMonthly,
      price_annual: terms.priceAnnual,
      max_products: terms.maxProducts,
      max_orders_per_month: terms.maxOrdersPerMonth,
      max_storage_gb: terms.maxStorageGb,
      max_api_calls_per_month: terms.maxApiCallsPerMonth,
      started_at: now,
      trial_ends_at: terms.trialDays ? new Date(now.getTime() + terms.trialDays * 86_400_000) : null,
      current_period_start: now,
      current_period_end: new Date(now.getTime() + 30 * 86_400_000),
    })
    .returning('id')
    .executeTakeFirstOrThrow();
  // A plan change is recorded for billing as a zero-amount transaction: charging money is not storeop's job.
  if (current)
    await db
      .insertInto('billing_transactions')
      .values({
        store_id: storeId,
        subscription_id: created.id,
        amount: '0.00',
        status: 'recorded',
        payment_method: 'plan-change',
        description: `plan change: ${current.plan_name} -> ${plan}`,
        processed_at: now,
      })
      .execute();
  if (!fresh)
    await db
      .updateTable('stores')
      .set({ subscription_status: subscriptionStatus(plan) })
      .where('id', '=', storeId)
      .execute();
}

export interface DatabaseFacts {
  status: DatabaseStatus;
  type?: string;
  host?: string;
  name?: string;
}

export async function setDatabaseFacts(db: Kysely<MasterDB>, storeId: string, facts: DatabaseFacts): Promise<void> {
  const values = {
    database_status: facts.status,
    ...(facts.type !== undefined ? { database_type: facts.type } : {}),
    ...(facts.host !== undefined ? { database_host: facts.host } : {}),
    ...(facts.name !== undefined ? { database_name: facts.name } : {}),
    is_active: facts.status !== 'suspended' && facts.status !== 'detached',
  };
  await db
    .updateTable('stores')
    .set({ ...values, updated_at: sql`now()` })
    .where('id', '=', storeId)
    // Only when a fact differs: re-running an unchanged store (a second apply, a resync) leaves its row,
    // updated_at included, as it was.
    .where((eb) =>
      eb.or(Object.entries(values).map(([column, value]) => eb(eb.ref(column as keyof typeof values), 'is distinct from', value))),
    )
    .execute();
}

export async function findStore(db: Kysely<MasterDB>, idOrSlug: string): Promise<StoreRow | undefined> {
  const byId = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(idOrSlug);
  return db
    .selectFrom('stores')
    .selectAll()
    .where(byId ? 'id' : 'slug', '=', idOrSlug)
    .executeTakeFirst();
}

export async function listStores(db: Kysely<MasterDB>): Promise<StoreRow[]> {
  return db.selectFrom('stores').selectAll().orderBy('slug').execute();
}

/** At most `limit` stores in slug order, those after the slug `after` when given (keyset pagination). */
export async function listStoresPage(db: Kysely<MasterDB>, page: { after?: string | undefined; limit: number }): Promise<StoreRow[]> {
  let query = db.selectFrom('stores').selectAll();
  if (page.after !== undefined) query = query.where('slug', '>', page.after);
  return query.orderBy('slug').limit(page.limit).execute();
}

export async function setStorageFacts(db: Kysely<MasterDB>, storeId: string, facts: { type: string; status: string }): Promise<void> {
  await db
    .updateTable('stores')
    .set({ storage_type: facts.type, storage_status: facts.status, updated_at: sql`now()` })
    .where('id', '=', storeId)
    .execute();
}

/**
 * Records the DatabaseServer a store is placed on, unless one is recorded already (placement is sticky);
 * answers the server the store is on now.
 */
export async function recordServer(db: Kysely<MasterDB>, storeId: string, server: string): Promise<string> {
  await db.updateTable('stores').set({ database_server: server }).where('id', '=', storeId).where('database_server', 'is', null).execute();
  const row = await db.selectFrom('stores').select('database_server').where('id', '=', storeId).executeTakeFirstOrThrow();
  return row.database_server ?? server;
}

/** How many stores each DatabaseServer holds, by the master DB's records. */
export async function storesPerServer(db: Kysely<MasterDB>): Promise<Map<string, number>> {
  const rows = await db
    .selectFrom('stores')
    .select(['database_server', (eb) => eb.fn.countAll<number>().as('stores')])
    .where('database_server', 'is not', null)
    .groupBy('database_server')
    .execute();
  return new Map(rows.map((r) => [r.database_server as string, Number(r.stores)]));
}
