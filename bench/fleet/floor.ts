// The floor: the same databases provisioned by the pipeline alone, in this process, at the operator's
// concurrency, with no Kubernetes and no master DB in the loop (as bench/provision.ts's storeop side).

import type { CreateTarget } from '../../src/engines/target.js';
import { parseDatabaseUrl } from '../../src/engines/url.js';
import { provision } from '../../src/provisioning/pipeline.js';
import { eachLimited } from './kube-http.js';
import { cpuSeconds } from './operator.js';

export interface FloorResult {
  stores: number;
  concurrency: number;
  seconds: number;
  storesPerSecond: number;
  /** CPU of this process (the pipeline's client side) while it ran. */
  cpuSeconds: number;
}

export function createTarget(adminUrl: string): CreateTarget {
  const parsed = parseDatabaseUrl(adminUrl, '--postgres-url');
  if (parsed.engine !== 'postgresql' || !parsed.endpoint) throw new Error('--postgres-url must be a PostgreSQL server URL');
  return { engine: 'postgresql', mode: 'create', isolation: 'database', admin: parsed.endpoint } as CreateTarget;
}

export async function runFloor(
  adminUrl: string,
  slugs: readonly string[],
  concurrency: number,
  interrupted: () => boolean,
): Promise<FloorResult> {
  const target = createTarget(adminUrl);
  const cpuBefore = cpuSeconds(process.pid);
  const started = performance.now();
  await eachLimited(slugs, concurrency, async (slug) => {
    if (interrupted()) throw new Error('interrupted');
    await provision({ slug, target, seed: { currency: 'USD', locale: 'en-US', displayName: slug } });
  });
  const seconds = (performance.now() - started) / 1000;
  return {
    stores: slugs.length,
    concurrency,
    seconds,
    storesPerSecond: slugs.length / seconds,
    cpuSeconds: cpuSeconds(process.pid) - cpuBefore,
  };
}
