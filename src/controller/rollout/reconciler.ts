// Reconciles a StoreSchema: the rollout of its version across the Stores that use it, one stage at a time.
// Level-triggered: each run reads the durable state (master DB admissions and applied versions, the
// rollout's gates) and the caches, asks the pure stage logic (stores/rollout/plan.ts) what to do, records
// the admissions it decides, wakes those stores' StoreDatabases and writes status when it changed. A crash
// between any two steps converges on the next run: admissions are idempotent inserts, and stores admitted
// but not finished count as in flight.
import { randomUUID } from 'node:crypto';
import { ROLLOUT_PAUSE_ANNOTATION, ROLLOUT_RESUME_ANNOTATION } from '../../api/rollout-annotations.js';
import { type StoreSchema, storeSchemaSpec } from '../../api/store-schema.js';
import { isStoreopError } from '../../errors.js';
import { admitStores, applyResume, findRollout, type RolloutRow, recordProgress, startRollout } from '../../master/rollouts.js';
import { admitSchemaVersion, findSchemaVersion } from '../../master/schema-versions.js';
import { classifyChanges, describeRefusals, refusedChanges } from '../../schema/changes.js';
import { schemaFromSpec } from '../../schema/from-spec.js';
import { planRollout } from '../../stores/rollout/plan.js';
import { type ControllerContext, jitter, type ReconcileResult, TerminalError } from '../context.js';
import { rolloutMembers, schemaInUse } from './members.js';
import { decisionStatus, refusedStatus, writeStatus } from './status.js';

/** How often a rollout with stores in flight looks at the master DB for their outcomes. */
export const ROLLOUT_POLL_MS = 2_000;

/** The least time between two status writes that only move a stage's counts. */
const STATUS_INTERVAL_MS = 1_000;

export class RolloutReconciler {
  constructor(
    private readonly ctx: ControllerContext,
    /** Runs a StoreDatabase's reconcile soon: the admitted store's schema work. */
    private readonly wake: (namespace: string, databaseName: string) => void,
  ) {}

  async reconcile(_namespace: string, name: string): Promise<ReconcileResult> {
    const schema = this.ctx.caches.schemas.get('', name);
    if (!schema || schema.metadata.deletionTimestamp) return {};
    const log = this.ctx.log.child({ controller: 'storeschema', name, reconcileID: randomUUID() });
    const db = this.ctx.master.master.db;
    const parsed = storeSchemaSpec.safeParse(schema.spec);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      return this.#refuse(schema, 'InvalidSpec', `spec.${issue?.path.join('.')}: ${issue?.message}`);
    }
    const spec = parsed.data;
    try {
      schemaFromSpec(spec, name); // the cross-checks (references, defaults, migrations per dialect)
    } catch (error) {
      if (isStoreopError(error, 'InvalidSpec')) return this.#refuse(schema, 'InvalidSpec', error.message);
      throw error;
    }

    // A new version is admitted only when its changes from the version before are safe or handled by a
    // migration: a refused one leaves the rollout, and every store, as they were.
    let rollout = await findRollout(db, name);
    if (rollout && rollout.version !== spec.version) {
      const previous = await findSchemaVersion(db, name, rollout.version);
      const refused = refusedChanges(classifyChanges(previous?.spec, spec));
      if (refused.length > 0) return this.#refuse(schema, 'DestructiveChange', describeRefusals(spec.version, refused));
    }
    try {
      await admitSchemaVersion(db, name, spec); // a version is immutable: another spec under it is refused
    } catch (error) {
      if (isStoreopError(error, 'Conflict')) return this.#refuse(schema, 'VersionChanged', error.message);
      throw error;
    }
    rollout = await startRollout(db, name, spec.version);
    rollout = await this.#resumeIfAsked(schema, rollout);

    const { members, waiting } = await rolloutMembers(this.ctx, name, spec.version);
    // A new Store that found no version of this schema recorded yet gets one now.
    for (const w of waiting) this.wake(w.namespace, w.databaseName);
    const decision = planRollout(spec.rollout, members, {
      pausedByUser: schema.metadata.annotations?.[ROLLOUT_PAUSE_ANNOTATION] === 'true' || rollout.paused,
      halted: rollout.halted,
      approvedStage: rollout.approved_stage ?? undefined,
    });
    if (decision.admit.length > 0) {
      await admitStores(
        db,
        name,
        spec.version,
        decision.admit.map((m) => ({ storeId: m.storeId, stage: m.stage })),
      );
      for (const m of decision.admit) this.wake(m.namespace, m.databaseName);
      log.info(
        { version: spec.version, stage: decision.currentStage, stores: decision.admit.map((m) => `${m.namespace}/${m.name}`) },
        'admitted',
      );
    }
    await recordProgress(db, name, {
      startedStage: decision.startedStage ?? null,
      awaitingStage: decision.awaitingStage ?? null,
      complete: decision.phase === 'Complete',
      halted: rollout.halted || decision.haltNow,
    });
    if (decision.haltNow && this.#reports(name)) await this.ctx.events.record(schema, 'Warning', 'FailureBudgetExceeded', decision.message);
    const inFlight = members.some((m) => m.state === 'inFlight') || decision.admit.length > 0;
    // While stores move through a stage, each finish runs a pass: its counts are written at most once per
    // STATUS_INTERVAL_MS (a phase or stage change at once), so a big stage is not one status write per store.
    const held = this.#statusHeld(schema, spec.version, decision);
    if (this.#reports(name) && held === 0) {
      await writeStatus(this.ctx, schema, decisionStatus(schema, spec.version, decision));
      this.#statusWrittenAt.set(name, Date.now());
    }
    if (held > 0) return { requeueAfterMs: Math.min(held, jitter(ROLLOUT_POLL_MS)) };
    return inFlight ? { requeueAfterMs: jitter(ROLLOUT_POLL_MS) } : {};
  }

  readonly #statusWrittenAt = new Map<string, number>();

  /** How long to hold back a status write of only new counts (0: write now). */
  #statusHeld(schema: StoreSchema, version: string, decision: ReturnType<typeof planRollout>): number {
    const status = schema.status;
    const sameShape =
      decision.phase === 'Progressing' &&
      status?.phase === 'Progressing' &&
      status.version === version &&
      status.currentStage === decision.currentStage &&
      status.observedGeneration === schema.metadata.generation;
    if (!sameShape) return 0;
    const since = Date.now() - (this.#statusWrittenAt.get(schema.metadata.name) ?? 0);
    return Math.max(0, STATUS_INTERVAL_MS - since);
  }

  /** A resume annotation not acted on yet: acted on once, durably (the token is kept in the master DB). */
  async #resumeIfAsked(schema: StoreSchema, rollout: RolloutRow): Promise<RolloutRow> {
    const token = schema.metadata.annotations?.[ROLLOUT_RESUME_ANNOTATION];
    if (!token || token === rollout.resume_token) return rollout;
    const db = this.ctx.master.master.db;
    // Its event, like its status, comes from an operator that has Stores of it (see #reports).
    if ((await applyResume(db, schema.metadata.name, token)) && this.#reports(schema.metadata.name)) {
      await this.ctx.events.record(schema, 'Normal', 'Resumed', `rollout of version ${rollout.version} resumed`);
    }
    return (await findRollout(db, schema.metadata.name)) ?? rollout;
  }

  async #refuse(schema: StoreSchema, reason: string, message: string): Promise<never> {
    if (this.#reports(schema.metadata.name)) {
      await writeStatus(this.ctx, schema, refusedStatus(schema, reason, message));
      await this.ctx.events.record(schema, 'Warning', reason, message);
    }
    throw new TerminalError(message);
  }

  /**
   * Whether this operator writes the StoreSchema's status: with --namespace, operators of other namespaces
   * share the cluster-scoped object, and only one whose namespace has Stores of it reports (a cluster-wide
   * operator always does).
   */
  #reports(name: string): boolean {
    return !this.ctx.watchNamespace || schemaInUse(this.ctx, name);
  }
}
