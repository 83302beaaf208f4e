// Server-sent events for the console's live views: the stores table (phase and last change of every store,
// sent when anything changed) and one job's progress (sent on every change until it ends). Each stream
// reads the master DB at a steady pace and stops when the browser leaves or the session ends.
import { setTimeout as sleep } from 'node:timers/promises';
import { streamSSE } from 'hono/streaming';
import { getJob } from '../../master/jobs.js';
import { publicJobError } from '../job-errors.js';
import type { ConsoleContext, ConsoleServices } from './context.js';
import { filterStores, phaseOf, type StoreFilters, storeSummaries } from './queries.js';

const STORES_EVERY_MS = 1000;
const JOB_EVERY_MS = 500;

export function storesStream(c: ConsoleContext, services: ConsoleServices, sessionId: string, filters: StoreFilters) {
  const db = services.master.master.db;
  return streamSSE(c, async (stream) => {
    let last = '';
    while (!stream.aborted && !stream.closed && services.sessions.alive(sessionId)) {
      const all = await storeSummaries(db);
      const listed = new Set(filterStores(all, filters).map((s) => s.slug));
      const data = JSON.stringify(all.map((s) => ({ slug: s.slug, phase: s.phase, updatedAt: s.updatedAt, listed: listed.has(s.slug) })));
      if (data !== last) {
        await stream.writeSSE({ event: 'stores', data });
        last = data;
      }
      await sleep(STORES_EVERY_MS);
    }
  });
}

export function jobStream(c: ConsoleContext, services: ConsoleServices, sessionId: string, jobId: string) {
  const db = services.master.master.db;
  return streamSSE(c, async (stream) => {
    let last = '';
    while (!stream.aborted && !stream.closed && services.sessions.alive(sessionId)) {
      const job = await getJob(db, jobId);
      if (!job) return;
      const ended = job.status === 'succeeded' || job.status === 'failed';
      const store = ended
        ? await db.selectFrom('stores').select('database_status').where('id', '=', job.store_id).executeTakeFirst()
        : undefined;
      const data = JSON.stringify({
        status: job.status,
        step: job.step,
        progress: job.progress,
        message: job.message,
        error: publicJobError(job),
        phase: store ? phaseOf(store.database_status) : null,
      });
      if (data !== last) {
        await stream.writeSSE({ event: 'job', data });
        last = data;
      }
      if (ended) return;
      await sleep(JOB_EVERY_MS);
    }
  });
}
