/** @jsxRuntime automatic @jsxImportSource hono/jsx */
// Stores: every store with its owner, plan, engine, placement, schema version and phase, searchable and
// filterable (a GET form, so it works without script), and updated live over server-sent events.

import { Layout } from '../layout.js';
import { PHASES, type StoreFilters, type StoreSummary } from '../queries.js';
import type { Session } from '../session.js';

export function StoresPage(props: { session: Session; stores: StoreSummary[]; total: number; filters: StoreFilters; engines: string[] }) {
  const f = props.filters;
  return (
    <Layout title="Stores" session={props.session} section="stores">
      <h1>Stores</h1>
      <form method="get" action="/" class="filters" aria-label="Search stores">
        <div class="field">
          <label for="q">Search</label>
          <input id="q" name="q" type="search" value={f.q ?? ''} placeholder="slug, name or owner" />
        </div>
        <div class="field">
          <label for="phase">Phase</label>
          <select id="phase" name="phase">
            <option value="">Any phase</option>
            {PHASES.map((p) => (
              <option value={p} selected={f.phase === p}>
                {p}
              </option>
            ))}
          </select>
        </div>
        <div class="field">
          <label for="engine">Engine</label>
          <select id="engine" name="engine">
            <option value="">Any engine</option>
            {props.engines.map((e) => (
              <option value={e} selected={f.engine === e}>
                {e}
              </option>
            ))}
          </select>
        </div>
        <div class="field">
          <button type="submit">Filter</button>
        </div>
      </form>
      <p class="hint" id="live-status" aria-live="polite">
        {`${props.stores.length} of ${props.total} stores`}
      </p>
      <p class="notice" id="live-notice" hidden>
        <span></span> <a href="/">Reload</a>
      </p>
      <div class="table-wrap" tabindex={0}>
        <table data-live-stores="/events/stores">
          <caption class="skip">Stores</caption>
          <thead>
            <tr>
              <th scope="col">Slug</th>
              <th scope="col">Name</th>
              <th scope="col">Owner</th>
              <th scope="col">Plan</th>
              <th scope="col">Engine</th>
              <th scope="col">Server / region</th>
              <th scope="col">Schema version</th>
              <th scope="col">Phase</th>
              <th scope="col">Last change</th>
            </tr>
          </thead>
          <tbody>
            {props.stores.map((s) => (
              <tr data-slug={s.slug} data-phase={s.phase}>
                <td>
                  <a href={`/stores/${encodeURIComponent(s.slug)}`}>{s.slug}</a>
                </td>
                <td class="name">{s.name}</td>
                <td>{s.owner ?? ''}</td>
                <td>{s.plan}</td>
                <td>{s.engine ?? ''}</td>
                <td>{s.where ?? ''}</td>
                <td>{s.schema ?? ''}</td>
                <td class={`phase phase-${s.phase}`}>{s.phase}</td>
                <td class="updated">{s.updatedAt}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      {props.stores.length === 0 && (
        <p>
          No stores match. <a href="/stores/new">Create a store</a>.
        </p>
      )}
    </Layout>
  );
}
