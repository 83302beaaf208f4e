/** @jsxRuntime automatic @jsxImportSource hono/jsx */
// The console's store routes: the stores table, one store, a new store, a job's progress, and the store
// actions (suspend, resume, delete). Work goes through the JSON API's own provisioner (the store service
// behind it), never through HTTP calls to the API.
import type { Hono } from 'hono';
import { z } from 'zod';
import { fieldIssues, strictObject } from '../../api/common.js';
import { isStoreopError } from '../../errors.js';
import { recordAudit } from '../../master/audit.js';
import { getJob } from '../../master/jobs.js';
import { findStore, type StoreRow } from '../../master/stores.js';
import type { DatabaseIdentity } from '../../stores/identity.js';
import { publicJobError } from '../job-errors.js';
import { TooManyRequests } from '../rate-limit.js';
import { provisionRequest } from '../schemas.js';
import { type ConsoleContext, type ConsoleEnv, type ConsoleServices, readForm, sessionOf } from './context.js';
import { ErrorPage } from './error-page.js';
import { actionForm, databaseOfIdentity, type NewStoreForm, needsCredentials, newStoreForm, provisionRequestOf } from './forms.js';
import { jobStream, storesStream } from './live.js';
import { JobPage } from './pages/job.js';
import { NewStorePage } from './pages/new-store.js';
import { StorePage } from './pages/store.js';
import { StoresPage } from './pages/stores.js';
import { auditOf, filterStores, jobsOf, ownerOf, phaseOf, storeSummaries, usageOf } from './queries.js';
import { csrfAccepted } from './security.js';

const filtersQuery = strictObject({
  q: z.string().max(200).optional(),
  phase: z.string().max(32).optional(),
  engine: z.string().max(32).optional(),
});

/** Outcomes an action redirects with: fixed sentences, so no user string travels in a URL into a page. */
const NOTICES = {
  deleted: { kind: 'ok', text: 'The store was deleted.' },
} as const;

const PASSWORD_FIELDS = new Set(['adminPassword', 'connPassword', 'supabaseToken', '_csrf']);

function errorPage(c: ConsoleContext, status: 400 | 403 | 404 | 409 | 413 | 415 | 429 | 501, title: string, message: string) {
  return c.html(<ErrorPage session={c.get('session')} title={title} message={message} />, status);
}

/** What an action's failure says: the store service's own message for what the person can fix. */
function actionFailure(c: ConsoleContext, error: unknown) {
  if (error instanceof TooManyRequests) return errorPage(c, 429, 'Try again later', error.message);
  if (isStoreopError(error, 'Conflict')) return errorPage(c, 409, 'Refused', error.message);
  if (isStoreopError(error, 'InvalidSpec')) return errorPage(c, 400, 'Refused', error.message.replace(/^spec\./, 'database.'));
  throw error;
}

export function storeRoutes(app: Hono<ConsoleEnv>, services: ConsoleServices): void {
  const db = services.master.master.db;
  const clusterMode = services.provisioner.remove === undefined;

  app.get('/', async (c) => {
    const query = filtersQuery.safeParse(c.req.query());
    if (!query.success)
      return errorPage(
        c,
        400,
        'Bad filter',
        fieldIssues(query.error)
          .map((i) => `${i.path}: ${i.message}`)
          .join('; '),
      );
    const filters = { q: query.data.q || undefined, phase: query.data.phase || undefined, engine: query.data.engine || undefined };
    const all = await storeSummaries(db);
    const engines = [...new Set(all.map((s) => s.engine).filter((e): e is string => !!e))].sort();
    return c.html(
      <StoresPage session={sessionOf(c)} stores={filterStores(all, filters)} total={all.length} filters={filters} engines={engines} />,
    );
  });

  app.get('/events/stores', (c) => {
    const query = filtersQuery.safeParse(c.req.query());
    return storesStream(c, services, sessionOf(c).id, query.success ? query.data : {});
  });

  app.get('/stores/new', (c) => c.html(<NewStorePage session={sessionOf(c)} values={{}} errors={{}} />));

  app.post('/stores/new', async (c) => {
    const session = sessionOf(c);
    const read = await readForm(c);
    if (!read.ok) return errorPage(c, read.status, 'Form refused', read.message);
    if (!csrfAccepted(c, session, read.fields._csrf))
      return errorPage(c, 403, 'Form expired', 'The form is stale or came from elsewhere: reload the page and submit again.');
    // Values shown again on an error, passwords and tokens excepted.
    const values = Object.fromEntries(Object.entries(read.fields).filter(([k]) => !PASSWORD_FIELDS.has(k))) as Partial<
      Record<keyof NewStoreForm, string>
    >;
    const parsed = newStoreForm.safeParse(read.fields);
    if (!parsed.success) {
      const form = fieldIssues(parsed.error)
        .map((i) => `${i.path}: ${i.message}`)
        .join('; ');
      return c.html(<NewStorePage session={session} values={values} errors={{ form }} />, 400);
    }
    const built = provisionRequestOf(parsed.data);
    if ('errors' in built) return c.html(<NewStorePage session={session} values={values} errors={built.errors} />, 400);
    try {
      const accepted = await services.provisioner.submit(built.request);
      await recordAudit(db, {
        storeId: accepted.storeId,
        actor: `console:${session.tokenName}`,
        action: 'store.provision.requested',
        targetType: 'store',
        targetId: built.request.store.slug,
        details: { jobId: accepted.jobId },
      }).catch((error: unknown) => services.log.warn({ err: (error as Error).message }, 'could not audit a console request'));
      return c.redirect(`/jobs/${accepted.jobId}`, 303);
    } catch (error) {
      const status =
        error instanceof TooManyRequests ? 429 : isStoreopError(error, 'Conflict') ? 409 : isStoreopError(error, 'InvalidSpec') ? 400 : 0;
      if (!status) throw error;
      const message = (error as Error).message.replace(/^spec\./, 'database.');
      return c.html(<NewStorePage session={session} values={values} errors={{ form: message }} />, status as 400 | 409 | 429);
    }
  });

  app.get('/jobs/:jobId', async (c) => {
    const job = await getJob(db, c.req.param('jobId'));
    if (!job) return errorPage(c, 404, 'No such job', 'There is no provisioning job with this id.');
    const store = await db.selectFrom('stores').select(['slug', 'database_status']).where('id', '=', job.store_id).executeTakeFirst();
    return c.html(
      <JobPage
        session={sessionOf(c)}
        jobId={job.id}
        slug={store?.slug ?? ''}
        status={job.status}
        step={job.step}
        progress={job.progress}
        message={job.message}
        error={publicJobError(job)}
        phase={store ? phaseOf(store.database_status) : ''}
      />,
    );
  });

  app.get('/events/jobs/:jobId', (c) => jobStream(c, services, sessionOf(c).id, c.req.param('jobId')));

  app.get('/stores/:slug', async (c) => {
    const store = await findStore(db, c.req.param('slug'));
    if (!store) return errorPage(c, 404, 'No such store', 'There is no store with this slug.');
    const notice = NOTICES[c.req.query('done') as keyof typeof NOTICES];
    return c.html(await storePage(c, store, notice));
  });

  async function storePage(c: ConsoleContext, store: StoreRow, notice?: { kind: 'ok' | 'bad'; text: string }) {
    const identity = store.database_identity as DatabaseIdentity | null;
    const readable = store.database_status === 'active';
    const contents = readable
      ? await services.contents.read(store.id).catch((error: unknown) => {
          services.log.warn({ store: store.slug, err: (error as Error).message }, 'console could not read a store database');
          return { unavailable: 'The store database could not be reached just now.' };
        })
      : { unavailable: `Tables are shown while the store is Ready; it is ${phaseOf(store.database_status)}.` };
    const jobs = (await jobsOf(db, store.id)).map((j) => ({
      id: j.id,
      status: j.status,
      step: j.step,
      progress: j.progress,
      message: j.message,
      error: publicJobError(j),
      attempts: j.attempts,
      startedAt: j.started_at ? new Date(j.started_at).toISOString() : '',
      finishedAt: j.finished_at ? new Date(j.finished_at).toISOString() : '',
      durationMs: j.started_at && j.finished_at ? new Date(j.finished_at).getTime() - new Date(j.started_at).getTime() : null,
    }));
    const events = (await auditOf(db, store.id)).map((e) => ({
      actor: e.actor,
      action: e.action,
      at: new Date(e.created_at).toISOString(),
    }));
    const usage = (await usageOf(db, store.id)).map((u) => ({
      date: String(u.metric_date).slice(0, 10),
      products: u.product_count,
      orders: u.order_count,
      storageBytes: String(u.storage_used_bytes),
      apiCalls: u.api_calls,
    }));
    const actionsUnavailable =
      identity === null
        ? 'Actions are available once the store has been Ready (storeop records where its database is then).'
        : identity.engine === 'supabase'
          ? 'Supabase stores are suspended and deleted through their manifest or the JSON API.'
          : undefined;
    return (
      <StorePage
        session={sessionOf(c)}
        store={store}
        owner={await ownerOf(db, store.owner_id)}
        phase={phaseOf(store.database_status)}
        identity={identity}
        contents={contents}
        jobs={jobs}
        events={events}
        usage={usage}
        needsCredentials={needsCredentials(identity)}
        actionsUnavailable={actionsUnavailable}
        clusterMode={clusterMode}
        notice={notice}
      />
    );
  }

  /** Reads and checks an action's form: the store, the CSRF token, the fields. */
  async function actionInput(c: ConsoleContext) {
    const session = sessionOf(c);
    const store = await findStore(db, c.req.param('slug') ?? '');
    if (!store) return { response: errorPage(c, 404, 'No such store', 'There is no store with this slug.') };
    const read = await readForm(c);
    if (!read.ok) return { response: errorPage(c, read.status, 'Form refused', read.message) };
    if (!csrfAccepted(c, session, read.fields._csrf))
      return { response: errorPage(c, 403, 'Form expired', 'The form is stale or came from elsewhere: reload the page and submit again.') };
    const parsed = actionForm.safeParse(read.fields);
    if (!parsed.success)
      return {
        response: errorPage(
          c,
          400,
          'Form refused',
          fieldIssues(parsed.error)
            .map((i) => `${i.path}: ${i.message}`)
            .join('; '),
        ),
      };
    return { session, store, form: parsed.data, identity: store.database_identity as DatabaseIdentity | null };
  }

  for (const action of ['suspend', 'resume'] as const) {
    app.post(`/stores/:slug/${action}`, async (c) => {
      const input = await actionInput(c);
      if ('response' in input) return input.response;
      const { store, form, identity, session } = input;
      const database = identity && databaseOfIdentity(identity, form, store.deletion_policy ?? undefined);
      if (!database)
        return errorPage(c, 400, 'Not available', 'The console cannot rebuild this store database; use its manifest or the JSON API.');
      const body = provisionRequest.safeParse({
        store: {
          slug: store.slug,
          displayName: store.name,
          plan: store.subscription_plan,
          ...((await ownerOf(db, store.owner_id)) ? { owner: await ownerOf(db, store.owner_id) } : {}),
          suspend: action === 'suspend',
        },
        ...database,
      });
      if (!body.success)
        return errorPage(
          c,
          400,
          'Refused',
          fieldIssues(body.error)
            .map((i) => `${i.path}: ${i.message}`)
            .join('; '),
        );
      try {
        const accepted = await services.provisioner.submit(body.data);
        await recordAudit(db, {
          storeId: store.id,
          actor: `console:${session.tokenName}`,
          action: `store.${action}.requested`,
          targetType: 'store',
          targetId: store.slug,
        }).catch(() => undefined);
        return c.redirect(`/jobs/${accepted.jobId}`, 303);
      } catch (error) {
        return actionFailure(c, error);
      }
    });
  }

  app.post('/stores/:slug/delete', async (c) => {
    const input = await actionInput(c);
    if ('response' in input) return input.response;
    const { store, form, identity, session } = input;
    if (form.confirm !== store.slug) return errorPage(c, 400, 'Not deleted', `Type the store's slug exactly to confirm the deletion.`);
    const remove = services.provisioner.remove?.bind(services.provisioner);
    if (!remove)
      return errorPage(c, 501, 'Not available', 'In cluster mode, delete the Store object: the controller honours its deletionPolicy.');
    const policy = store.deletion_policy ?? 'Retain';
    const database = policy === 'Delete' && identity && needsCredentials(identity) ? databaseOfIdentity(identity, form, policy) : undefined;
    try {
      await remove(store.slug, database ?? {});
      await recordAudit(db, {
        storeId: store.id,
        actor: `console:${session.tokenName}`,
        action: 'store.delete.requested',
        targetType: 'store',
        targetId: store.slug,
      }).catch(() => undefined);
      return c.redirect(`/stores/${encodeURIComponent(store.slug)}?done=deleted`, 303);
    } catch (error) {
      return actionFailure(c, error);
    }
  });
}
