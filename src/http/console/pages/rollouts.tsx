/** @jsxRuntime automatic @jsxImportSource hono/jsx */
// Rollouts: each StoreSchema's rollout with its stages and counts, the stores that failed, and the gates
// a person controls (pause, resume; a resume also approves a gated stage and retries failed stores).

import { Layout } from '../layout.js';
import type { RolloutView } from '../queries.js';
import { CSRF_FIELD } from '../security.js';
import type { Session } from '../session.js';

function stateOf(r: RolloutView): string {
  if (r.complete) return 'Complete';
  if (r.paused) return 'Paused';
  if (r.halted) return 'Halted (failure budget reached)';
  if (r.awaitingStage) return `Waiting for approval of stage ${r.awaitingStage}`;
  return 'Progressing';
}

export function RolloutsPage(props: { session: Session; rollouts: RolloutView[]; notice?: string | undefined }) {
  return (
    <Layout title="Rollouts" session={props.session} section="rollouts">
      <h1>Rollouts</h1>
      {props.notice && (
        <p class="notice ok" role="status">
          {props.notice}
        </p>
      )}
      {props.rollouts.length === 0 && <p>No StoreSchema rollout has started: stores use the schema they were provisioned with.</p>}
      {props.rollouts.map((r) => (
        <section class="panel" aria-labelledby={`rollout-${r.schema}`}>
          <h2 id={`rollout-${r.schema}`}>{`${r.schema} ${r.version}`}</h2>
          <dl class="facts">
            <dt>State</dt>
            <dd>{stateOf(r)}</dd>
            <dt>Previous version</dt>
            <dd>{r.previousVersion ?? 'none'}</dd>
            <dt>Current stage</dt>
            <dd>{r.currentStage ?? 'not started'}</dd>
          </dl>
          <h3>Stages</h3>
          {r.counts.length === 0 ? (
            <p>No store admitted yet.</p>
          ) : (
            <div class="table-wrap" tabindex={0}>
              <table>
                <thead>
                  <tr>
                    <th scope="col">Stage</th>
                    <th scope="col">State</th>
                    <th scope="col">Stores</th>
                  </tr>
                </thead>
                <tbody>
                  {r.counts.map((c) => (
                    <tr>
                      <td>{c.stage}</td>
                      <td>{c.state}</td>
                      <td>{String(c.stores)}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          )}
          {r.failed.length > 0 && (
            <>
              <h3>Failed stores</h3>
              <ul>
                {r.failed.map((f) => (
                  <li>
                    <a href={`/stores/${encodeURIComponent(f.slug)}`}>{f.slug}</a>{' '}
                    {`(stage ${f.stage}): ${f.reason ?? ''} ${f.message ?? ''}`}
                  </li>
                ))}
              </ul>
            </>
          )}
          <div class="actions">
            <form method="post" action={`/rollouts/${encodeURIComponent(r.schema)}/${r.paused ? 'resume' : 'pause'}`}>
              <input type="hidden" name={CSRF_FIELD} value={props.session.csrf} />
              <button type="submit" class="secondary">
                {r.paused ? `Resume ${r.schema}` : `Pause ${r.schema}`}
              </button>
            </form>
            {!r.paused && (r.halted || r.awaitingStage) && (
              <form method="post" action={`/rollouts/${encodeURIComponent(r.schema)}/resume`}>
                <input type="hidden" name={CSRF_FIELD} value={props.session.csrf} />
                <button type="submit">{r.awaitingStage ? `Approve stage ${r.awaitingStage}` : 'Resume and retry failed stores'}</button>
              </form>
            )}
          </div>
        </section>
      ))}
    </Layout>
  );
}
