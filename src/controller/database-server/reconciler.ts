// Reconciles a DatabaseServer: one admin session (within the server's own bound) reads its version and the
// connections in use; status says whether it is reachable and how many stores are placed on it. Runs again
// every resync period; status is written only when it changes, an event only on a transition.
import { randomUUID } from 'node:crypto';
import { type DatabaseServer, type DatabaseServerStatus, databaseServerSpec } from '../../api/database-server.js';
import { engineFor } from '../../engines/index.js';
import { isStoreopError, StoreopError } from '../../errors.js';
import { type PlacedServer, serverAdminEndpoint } from '../../stores/server-target.js';
import { getCondition } from '../conditions.js';
import { type ControllerContext, jitter, type ReconcileResult, TerminalError } from '../context.js';
import { serverProgress, withKstatus } from '../kstatus.js';
import { applyConditions, statusDiffers } from '../status.js';
import { adminSecretReader } from './admin-secret.js';

/** How soon a server whose admin Secret is missing is looked at again (the Secret may live outside the watch). */
const SECRET_RETRY_MS = 30_000;

type Check = { reachable: true; version: string; connectionsUsed: number } | { reachable: false; reason: string; message: string };

export class DatabaseServerReconciler {
  constructor(private readonly ctx: ControllerContext) {}

  async reconcile(_namespace: string, name: string): Promise<ReconcileResult> {
    const ctx = this.ctx;
    const server = ctx.servers.get(name);
    if (!server || server.metadata.deletionTimestamp) {
      ctx.metrics.forgetServer(name);
      return {};
    }
    const log = ctx.log.child({ controller: 'databaseserver', name, reconcileID: randomUUID() });
    const parsed = databaseServerSpec.safeParse(server.spec);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      const message = `spec.${issue?.path.join('.')}: ${issue?.message}`;
      await this.#report(server, { phase: 'Failed', message }, [{ type: 'Ready', status: 'False', reason: 'InvalidSpec', message }]);
      await ctx.events.record(server, 'Warning', 'InvalidSpec', message);
      throw new TerminalError(message);
    }
    const placed: PlacedServer = { name, spec: parsed.data };
    const check = await this.#check(placed);
    log.debug({ reachable: check.reachable }, 'server checked');
    ctx.metrics.serverReachable.set({ server: name }, check.reachable ? 1 : 0);
    const storeCount = ctx.servers.count(name);
    const wasReachable = getCondition(server.status?.conditions, 'Reachable')?.status;
    if (check.reachable) {
      const message = `reachable, ${check.version}, ${storeCount} store(s)`;
      await this.#report(server, { phase: 'Ready', message, version: check.version, storeCount, connectionsUsed: check.connectionsUsed }, [
        { type: 'Reachable', status: 'True', reason: 'Connected', message: `connected to ${check.version}` },
        { type: 'Ready', status: 'True', reason: 'Reachable', message },
      ]);
      if (wasReachable !== 'True') await ctx.events.record(server, 'Normal', 'Reachable', `connected to ${check.version}`);
    } else {
      const secretMissing = check.reason === 'SecretNotFound';
      await this.#report(server, { phase: secretMissing ? 'Failed' : 'Unreachable', message: check.message, storeCount }, [
        { type: 'Reachable', status: 'False', reason: check.reason, message: check.message },
        { type: 'Ready', status: 'False', reason: check.reason, message: check.message },
      ]);
      if (wasReachable !== 'False') await ctx.events.record(server, 'Warning', check.reason, check.message);
      if (secretMissing) return { requeueAfterMs: SECRET_RETRY_MS };
    }
    return { requeueAfterMs: jitter(ctx.resyncPeriodMs) };
  }

  async #check(placed: PlacedServer): Promise<Check> {
    let admin: Awaited<ReturnType<typeof serverAdminEndpoint>>;
    try {
      admin = await serverAdminEndpoint(placed, adminSecretReader(this.ctx, placed.spec));
    } catch (error) {
      if (isStoreopError(error, 'InvalidSpec')) return { reachable: false, reason: 'SecretNotFound', message: error.message };
      throw error;
    }
    const engine = engineFor(placed.spec.engine);
    if (!engine.serverHealth) throw new StoreopError('InvalidSpec', `engine ${placed.spec.engine} cannot be a DatabaseServer`);
    try {
      return { reachable: true, ...(await engine.serverHealth(admin)) };
    } catch (error) {
      // Messages of StoreopErrors carry no password (the driver errors are redacted where they are made).
      if (isStoreopError(error)) return { reachable: false, reason: error.code, message: error.message };
      throw error;
    }
  }

  /** Writes status when it changes (lastCheckTime then says when); the in-memory object follows the write. */
  async #report(
    server: DatabaseServer,
    status: Partial<DatabaseServerStatus>,
    conditions: Parameters<typeof applyConditions>[1],
  ): Promise<void> {
    const generation = server.metadata.generation;
    const next = withKstatus(
      server.status,
      { ...status, observedGeneration: generation, conditions: applyConditions(server.status?.conditions, conditions, generation) },
      generation,
      serverProgress,
    );
    if (!statusDiffers(server.status, next)) return;
    const written = await this.ctx.kube.patchDatabaseServerStatus(server.metadata.name, {
      ...next,
      lastCheckTime: new Date().toISOString(),
    });
    this.ctx.servers.cache.wrote(written);
    server.status = written.status;
  }
}
