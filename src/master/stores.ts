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

/** Creates or updates the store's row (idempotent); refuses a slug that another source already owns. */
export async function upsertStore(db: Kysely<MasterDB>, store: StoreDeclaration): Promise<StoreRow> {
  const unchanged = await unchangedStore(db, store);
  if (unchanged) return unchanged;
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
    await ensureSubscription(trx, row.id, plan);
    return row;
  });
}

/**
 * The store's row when it already says all the declaration says (name, plan and current subscription, owner,
 * source): one read, nothing locked or written. Every job and reconcile of an unchanged store upserts it, and
 * the transaction below would write its owner and lock its row each time. Anything else (a change, a
 * conflict) takes the transaction, which decides under the row lock.
 */
async function unchangedStore(db: Kysely<MasterDB>, store: StoreDeclaration): Promise<StoreRow | undefined> {
  const plan = store.plan ?? 'free';
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
    ])
    .where('stores.slug', '=', store.slug)
    .executeTakeFirst();
  if (!found) return undefined;
  const { owner_email: ownerEmail, current_plan: currentPlan, ...row } = found;
  const same =
    row.name === store.name &&
    row.subscription_plan === plan &&
    currentPlan === plan &&
    (!store.ownerEmail || ownerEmail === store.ownerEmail.toLowerCase()) &&
    (!store.source || row.source === store.source);
  return same ? row : undefined;
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

/** One current subscription per store, on the declared plan; a plan change cancels the old one. */
async function ensureSubscription(db: Kysely<MasterDB>, storeId: string, plan: PlanName): Promise<void> {
  const current = await db
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
  await db
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
    .execute();
  await db
    .updateTable('stores')
    .set({ subscription_status: terms.trialDays ? 'trialing' : 'active' })
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
