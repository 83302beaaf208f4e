/** @jsxRuntime automatic @jsxImportSource hono/jsx */
// One store: its database (engine, where it lives, tables with row counts, schema history, a connection
// summary without any secret), its jobs, its events, usage where recorded, and the actions a person may
// take: suspend or resume, rotate credentials (cluster mode), delete with its policy and the typed slug.
import type { StoreRow } from '../../../master/stores.js';
import type { DatabaseIdentity } from '../../../stores/identity.js';
import { Field, Layout } from '../layout.js';
import { CSRF_FIELD } from '../security.js';
import type { Session } from '../session.js';
import type { StoreContents } from '../store-contents.js';

export interface JobView {
  id: string;
  status: string;
  step: string | null;
  progress: number;
  message: string | null;
  error: string | null;
  attempts: number;
  startedAt: string;
  finishedAt: string;
  durationMs: number | null;
}

export interface StorePageProps {
  session: Session;
  store: StoreRow;
  owner: string | undefined;
  phase: string;
  identity: DatabaseIdentity | null;
  contents: StoreContents | { unavailable: string };
  jobs: JobView[];
  events: Array<{ actor: string; action: string; at: string }>;
  usage: Array<{ date: string; products: number; orders: number; storageBytes: string; apiCalls: number }>;
  /** Suspend, resume and delete need the database's credentials again (none are kept for the console). */
  needsCredentials: boolean;
  /** Why the console cannot act on this store, when it cannot. */
  actionsUnavailable: string | undefined;
  clusterMode: boolean;
  notice: { kind: 'ok' | 'bad'; text: string } | undefined;
}

/** The connection summary: where the database is, never a user's password or a URL with one. */
function connectionFacts(store: StoreRow, identity: DatabaseIdentity | null): Array<[string, string]> {
  const facts: Array<[string, string]> = [];
  const add = (label: string, value: unknown) => {
    if (value !== null && value !== undefined && value !== '') facts.push([label, String(value)]);
  };
  add('Engine', store.database_type ?? identity?.engine);
  add(
    'Mode',
    identity?.mode === 'connect' ? 'Connected existing database' : identity?.mode === 'create' ? 'Created by storeop' : undefined,
  );
  if (identity?.engine === 'pglite') add('Where', 'Embedded (PGlite) on the storeop host');
  add('Server', store.database_server);
  add('Host', store.database_host ?? identity?.['server.host'] ?? identity?.['connection.host']);
  add('Port', identity?.['server.port'] ?? identity?.['connection.port']);
  add('Database', store.database_name ?? identity?.databaseName ?? identity?.['connection.database']);
  add('Schema', identity?.['connection.schema']);
  add('Isolation', identity?.isolation);
  add('Supabase project', identity?.['supabase.projectRef']);
  add('Deletion policy', store.deletion_policy ?? 'Retain (default)');
  return facts;
}

function CredentialFields(props: { prefix: string; show: boolean }) {
  if (!props.show) return null;
  return (
    <>
      <Field
        id={`${props.prefix}-username`}
        name="username"
        label="Database user"
        required
        hint="The server's admin user (created database) or the store's user (connected database); used for this action only, never kept."
      />
      <Field id={`${props.prefix}-password`} name="password" label="Password" type="password" />
    </>
  );
}

export function StorePage(p: StorePageProps) {
  const s = p.store;
  const suspended = s.database_status === 'suspended';
  const deleted = s.database_status === 'detached';
  return (
    <Layout title={`Store ${s.slug}`} session={p.session} section="none">
      <h1>
        {s.name} <span class="hint">({s.slug})</span>
      </h1>
      {p.notice && (
        <p class={`notice ${p.notice.kind}`} role="status">
          {p.notice.text}
        </p>
      )}
      <div class="grid">
        <section class="panel" aria-labelledby="overview">
          <h2 id="overview">Overview</h2>
          <dl class="facts">
            <dt>Phase</dt>
            <dd class={`phase phase-${p.phase}`} id="store-phase">
              {p.phase}
            </dd>
            <dt>Owner</dt>
            <dd>{p.owner ?? 'none'}</dd>
            <dt>Plan</dt>
            <dd>{s.subscription_plan}</dd>
            <dt>Schema</dt>
            <dd>{s.schema_version ? `${s.schema_name ?? 'storeop-default'} ${s.schema_version}` : 'not recorded'}</dd>
            <dt>Last change</dt>
            <dd>{new Date(s.updated_at).toISOString()}</dd>
          </dl>
        </section>
        <section class="panel" aria-labelledby="connection">
          <h2 id="connection">Database</h2>
          <dl class="facts">
            {connectionFacts(s, p.identity).map(([label, value]) => (
              <>
                <dt>{label}</dt>
                <dd>{value}</dd>
              </>
            ))}
          </dl>
          <p class="hint">Credentials are never shown here: applications read them from the store's connection Secret.</p>
        </section>
      </div>

      <h2 id="tables">Tables</h2>
      {'unavailable' in p.contents ? (
        <p class="notice">{p.contents.unavailable}</p>
      ) : (
        <div class="table-wrap" tabindex={0}>
          <table aria-labelledby="tables" id="tables-table">
            <thead>
              <tr>
                <th scope="col">Table</th>
                <th scope="col">Rows</th>
              </tr>
            </thead>
            <tbody>
              {p.contents.tables.map((t) => (
                <tr data-table={t.name}>
                  <td>{t.schema && t.schema !== 'public' ? `${t.schema}.${t.name}` : t.name}</td>
                  <td>{t.rows === null ? 'not counted' : String(t.rows)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}

      <h2 id="history">Schema history</h2>
      {'unavailable' in p.contents || p.contents.history.length === 0 ? (
        <p>No schema history recorded.</p>
      ) : (
        <div class="table-wrap" tabindex={0}>
          <table aria-labelledby="history">
            <thead>
              <tr>
                <th scope="col">Version</th>
                <th scope="col">Kind</th>
                <th scope="col">Description</th>
                <th scope="col">Applied</th>
                <th scope="col">Took</th>
              </tr>
            </thead>
            <tbody>
              {p.contents.history.map((h) => (
                <tr>
                  <td>{h.version}</td>
                  <td>{h.kind}</td>
                  <td>{h.description}</td>
                  <td>{h.appliedAt}</td>
                  <td>{`${h.durationMs} ms`}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}

      <h2 id="jobs">Jobs</h2>
      <div class="table-wrap" tabindex={0}>
        <table aria-labelledby="jobs">
          <thead>
            <tr>
              <th scope="col">Job</th>
              <th scope="col">Status</th>
              <th scope="col">Step</th>
              <th scope="col">Message</th>
              <th scope="col">Attempts</th>
              <th scope="col">Started</th>
              <th scope="col">Took</th>
            </tr>
          </thead>
          <tbody>
            {p.jobs.map((j) => (
              <tr>
                <td>
                  <a href={`/jobs/${j.id}`}>{j.id.slice(0, 8)}</a>
                </td>
                <td>{j.status}</td>
                <td>{j.step ?? ''}</td>
                <td>{j.error ?? j.message ?? ''}</td>
                <td>{String(j.attempts)}</td>
                <td>{j.startedAt}</td>
                <td>{j.durationMs === null ? '' : `${(j.durationMs / 1000).toFixed(1)} s`}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>

      <h2 id="events">Events</h2>
      {p.events.length === 0 ? (
        <p>No events recorded.</p>
      ) : (
        <ul aria-labelledby="events">
          {p.events.map((e) => (
            <li>{`${e.at} ${e.action} by ${e.actor}`}</li>
          ))}
        </ul>
      )}

      <h2 id="usage">Usage</h2>
      {p.usage.length === 0 ? (
        <p>No usage recorded for this store.</p>
      ) : (
        <div class="table-wrap" tabindex={0}>
          <table aria-labelledby="usage">
            <thead>
              <tr>
                <th scope="col">Day</th>
                <th scope="col">Products</th>
                <th scope="col">Orders</th>
                <th scope="col">Storage (bytes)</th>
                <th scope="col">API calls</th>
              </tr>
            </thead>
            <tbody>
              {p.usage.map((u) => (
                <tr>
                  <td>{u.date}</td>
                  <td>{String(u.products)}</td>
                  <td>{String(u.orders)}</td>
                  <td>{u.storageBytes}</td>
                  <td>{String(u.apiCalls)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}

      <h2 id="actions">Actions</h2>
      {deleted ? (
        <p>This store was deleted; its slug may be declared again.</p>
      ) : p.actionsUnavailable ? (
        <p class="notice">{p.actionsUnavailable}</p>
      ) : (
        <div class="actions">
          <form
            method="post"
            action={`/stores/${encodeURIComponent(s.slug)}/${suspended ? 'resume' : 'suspend'}`}
            aria-label={suspended ? 'Resume' : 'Suspend'}
          >
            <input type="hidden" name={CSRF_FIELD} value={p.session.csrf} />
            <p class="hint">
              {suspended
                ? 'Resume re-enables the database login and marks the store active.'
                : 'Suspend disables the store database login and marks it suspended.'}
            </p>
            <CredentialFields prefix={suspended ? 'resume' : 'suspend'} show={p.needsCredentials} />
            <button type="submit" class="secondary">
              {suspended ? 'Resume store' : 'Suspend store'}
            </button>
          </form>
          <div class="panel">
            <h3>Rotate credentials</h3>
            <p class="hint">
              {p.clusterMode
                ? 'Rotation runs in the operator: annotate the StoreDatabase (storeop.dev/rotate-credentials) or set spec.credentials.rotation.'
                : 'Not available without a cluster: rotation keeps its state in the operator\u2019s status and Secrets (storeop run --api-bind-address).'}
            </p>
          </div>
          <form method="post" action={`/stores/${encodeURIComponent(s.slug)}/delete`} aria-label="Delete">
            <input type="hidden" name={CSRF_FIELD} value={p.session.csrf} />
            <p>
              Deletion policy: <strong id="deletion-policy">{s.deletion_policy ?? 'Retain'}</strong>.{' '}
              {(s.deletion_policy ?? 'Retain') === 'Delete'
                ? 'The database and its role are dropped.'
                : 'The database is kept and the store detached from it.'}
            </p>
            <CredentialFields prefix="delete" show={p.needsCredentials && s.deletion_policy === 'Delete'} />
            <Field name="confirm" label={`Type ${s.slug} to confirm`} required extra={{ 'data-confirm-for': s.slug, pattern: s.slug }} />
            <button type="submit" class="danger" id="delete-button">
              Delete store
            </button>
          </form>
        </div>
      )}
    </Layout>
  );
}
