/** @jsxRuntime automatic @jsxImportSource hono/jsx */
// A provisioning job as it runs: the progress bar, each step's message as it arrives (server-sent events),
// and the outcome with what to do next. Without script the page still shows the state when loaded.

import { Layout } from '../layout.js';
import type { Session } from '../session.js';

export interface JobPageProps {
  session: Session;
  jobId: string;
  slug: string;
  status: string;
  step: string | null;
  progress: number;
  message: string | null;
  error: string | null;
  /** The store's phase now (shown once the job has ended). */
  phase: string;
}

export function JobPage(p: JobPageProps) {
  const done = p.status === 'succeeded';
  const failed = p.status === 'failed';
  const storeHref = `/stores/${encodeURIComponent(p.slug)}`;
  return (
    <Layout title={`Provisioning ${p.slug}`} session={p.session} section="none">
      <h1>
        Provisioning <a href={storeHref}>{p.slug}</a>
      </h1>
      <section
        data-job-events={done || failed ? undefined : `/events/jobs/${p.jobId}`}
        data-current-step={p.step ?? ''}
        aria-labelledby="progress-label"
      >
        <p id="progress-label">
          Status: <strong id="job-status">{p.status}</strong>, <span id="job-percent">{`${p.progress}%`}</span>
        </p>
        <progress id="job-progress" max="100" value={String(p.progress)} aria-labelledby="progress-label">
          {`${p.progress}%`}
        </progress>
        <p id="job-message" aria-live="polite">
          {p.message ?? ''}
        </p>
        <h2>Steps</h2>
        <ol class="steps" id="job-steps">
          {p.step && <li>{`${p.step}: ${p.message ?? ''}`}</li>}
        </ol>
      </section>
      <div class="notice ok" id="job-done" tabindex={-1} hidden={!done} role="status">
        <p>
          The store is <strong id="job-phase">{p.phase}</strong>. <a href={storeHref}>Open the store</a> to see its tables and connection.
        </p>
      </div>
      <div class="notice bad" id="job-failed" tabindex={-1} hidden={!failed} role="alert">
        <p>
          The job failed: <span id="job-error">{p.error ?? ''}</span>
        </p>
        <p>
          What next: check the database's address and credentials, then <a href="/stores/new">submit the store again</a> with the same slug;
          the job resumes where it stopped. <a href={storeHref}>The store's page</a> lists its jobs.
        </p>
      </div>
    </Layout>
  );
}
