/** @jsxRuntime automatic @jsxImportSource hono/jsx */
// New store: name, slug (checked as you type with the API's rule), owner and plan; then the database:
// create a new one (embedded, on a PostgreSQL or MySQL/MariaDB server, on a pool of DatabaseServers, or on
// Supabase) or connect an existing one. Submitting starts a job and shows its progress.
import { PLAN_NAMES } from '../../../api/plans.js';
import { SLUG_PATTERN } from '../../../naming.js';
import type { FormErrors, NewStoreForm } from '../forms.js';
import { Field, Layout } from '../layout.js';
import { CSRF_FIELD } from '../security.js';
import type { Session } from '../session.js';

type Values = Partial<Record<keyof NewStoreForm, string>>;

function Choice(props: { name: string; value: string; label: string; checked: boolean }) {
  return (
    <label>
      <input type="radio" name={props.name} value={props.value} checked={props.checked} />
      {props.label}
    </label>
  );
}

function Select(props: { name: string; label: string; options: readonly string[]; value: string | undefined }) {
  return (
    <div class="field">
      <label for={props.name}>{props.label}</label>
      <select id={props.name} name={props.name}>
        {props.options.map((o) => (
          <option value={o} selected={props.value === o}>
            {o}
          </option>
        ))}
      </select>
    </div>
  );
}

export function NewStorePage(props: { session: Session; values: Values; errors: FormErrors }) {
  const v = props.values;
  const e = props.errors;
  const option = v.option ?? 'create';
  const target = v.target ?? 'embedded';
  return (
    <Layout title="New store" session={props.session} section="new">
      <h1>New store</h1>
      {e.form && (
        <p class="notice bad" role="alert">
          {e.form}
        </p>
      )}
      <form method="post" action="/stores/new" novalidate>
        <input type="hidden" name={CSRF_FIELD} value={props.session.csrf} />
        <fieldset>
          <legend>Store</legend>
          <Field name="displayName" label="Name" value={v.displayName} error={e.displayName} required />
          <Field
            name="slug"
            label="Slug"
            value={v.slug}
            error={e.slug}
            required
            hint={'2-41 characters of a-z, 0-9 and "-", starting with a letter. It cannot change later.'}
            extra={{ 'data-slug-pattern': SLUG_PATTERN.source, 'aria-errormessage': 'slug-status' }}
          />
          <p id="slug-status" class="hint" aria-live="polite"></p>
          <Field name="owner" label="Owner email" type="email" value={v.owner} error={e.owner} autocomplete="email" />
          <Select name="plan" label="Plan" options={PLAN_NAMES} value={v.plan} />
        </fieldset>

        <fieldset>
          <legend>Database</legend>
          <div class="choices">
            <Choice name="option" value="create" label="Create new database" checked={option === 'create'} />
            <Choice name="option" value="connect" label="Connect existing database" checked={option === 'connect'} />
          </div>
        </fieldset>

        <fieldset data-show-when="option=create">
          <legend>Where the new database lives</legend>
          <div class="choices">
            <Choice name="target" value="embedded" label="Embedded (PGlite)" checked={target === 'embedded'} />
            <Choice name="target" value="postgresql" label="PostgreSQL server" checked={target === 'postgresql'} />
            <Choice name="target" value="mysql" label="MySQL / MariaDB server" checked={target === 'mysql'} />
            <Choice name="target" value="pool" label="Server pool (DatabaseServers)" checked={target === 'pool'} />
            <Choice name="target" value="supabase" label="Supabase" checked={target === 'supabase'} />
          </div>
          <p class="hint" data-show-when="target=embedded">
            The store database lives in its own folder under storeop's home on this host.
          </p>
        </fieldset>

        <fieldset data-show-when="target=postgresql|mysql">
          <legend>Database server</legend>
          <Field name="serverHost" label="Host" value={v.serverHost} error={e.serverHost} />
          <Field
            name="serverPort"
            label="Port"
            value={v.serverPort}
            error={e.serverPort}
            hint="Blank: 5432 for PostgreSQL, 3306 for MySQL."
          />
          <Field
            name="adminUser"
            label="Admin user"
            value={v.adminUser}
            error={e.adminUser}
            hint="Allowed to create databases and roles; used for this job only."
          />
          <Field name="adminPassword" label="Admin password" type="password" error={e.adminPassword} />
        </fieldset>

        <fieldset data-show-when="target=pool">
          <legend>Server pool</legend>
          <Select name="poolEngine" label="Engine" options={['postgresql', 'mysql']} value={v.poolEngine} />
          <Field name="serverRef" label="DatabaseServer (blank: any of the engine)" value={v.serverRef} error={e.serverRef} />
        </fieldset>

        <fieldset data-show-when="target=supabase">
          <legend>Supabase</legend>
          <Field name="supabaseOrg" label="Organization slug" value={v.supabaseOrg} error={e.supabaseOrg} />
          <Select name="supabaseRegionGroup" label="Region group" options={['americas', 'emea', 'apac']} value={v.supabaseRegionGroup} />
          <Field name="supabaseToken" label="Access token" type="password" error={e.supabaseToken} />
        </fieldset>

        <fieldset data-show-when="option=connect">
          <legend>Existing database</legend>
          <Select name="connectEngine" label="Engine" options={['postgresql', 'mysql']} value={v.connectEngine} />
          <Field name="connHost" label="Host" value={v.connHost} error={e.connHost} />
          <Field name="connPort" label="Port" value={v.connPort} error={e.connPort} hint="Blank: the engine's default." />
          <Field name="connDatabase" label="Database" value={v.connDatabase} error={e.connDatabase} />
          <Field name="connSchema" label="Schema (PostgreSQL, blank: public)" value={v.connSchema} error={e.connSchema} />
          <Field name="connUser" label="User" value={v.connUser} error={e.connUser} />
          <Field name="connPassword" label="Password" type="password" error={e.connPassword} />
          <p class="hint">Existing tables are kept: storeop creates only the tables its schema misses.</p>
        </fieldset>

        <button type="submit">Create store</button>
      </form>
    </Layout>
  );
}
