// The identity a StoreDatabase was provisioned (or attempted) with, kept in annotations so that a change to
// an immutable field is refused, and so that deletion cleans up what was actually created.
import type { StoreDatabase } from '../../api/store-database.js';
import { type DatabaseIdentity, identityChanges } from '../../stores/identity.js';
import type { StoreDescription } from '../../stores/intent.js';
import { APPLIED_ANNOTATION, ATTEMPTED_ANNOTATION, type ControllerContext } from '../context.js';
import { adoptWritten } from './written.js';

/** What the applied/attempted annotations hold: the slug and the database identity (src/stores/identity.ts). */
export type RecordedIdentity = DatabaseIdentity & { slug: string };

/** The identity recorded for a store description: its slug and database identity. */
export function recordedIdentity(description: StoreDescription): RecordedIdentity {
  return { slug: description.slug, ...description.identity };
}

/** The immutable fields that differ from the recorded identity, described as "field (was X, now Y)". */
export function recordedChanges(before: Partial<RecordedIdentity>, now: RecordedIdentity): string[] {
  const slug = before.slug !== undefined && before.slug !== now.slug ? [`slug (was ${before.slug}, now ${now.slug})`] : [];
  return [...slug, ...identityChanges(before, now, '')];
}

/** The identity recorded once the StoreDatabase became Ready (raw annotation), if it ever did. */
export function appliedIdentity(sdb: StoreDatabase): string | undefined {
  return sdb.metadata.annotations?.[APPLIED_ANNOTATION];
}

/** The identity cleanup acts on: the applied one, else that of an attempt that never became Ready. */
export function cleanupIdentity(sdb: StoreDatabase): string | undefined {
  return appliedIdentity(sdb) ?? sdb.metadata.annotations?.[ATTEMPTED_ANNOTATION];
}

/** Records the identity of an attempt before anything is created, so a deletion can clean up after it. */
export async function recordAttempt(ctx: ControllerContext, sdb: StoreDatabase, identity: RecordedIdentity): Promise<void> {
  if (sdb.metadata.annotations?.[ATTEMPTED_ANNOTATION] !== JSON.stringify(identity))
    adoptWritten(
      ctx,
      sdb,
      await ctx.kube.annotate<StoreDatabase>('StoreDatabase', sdb.metadata, { [ATTEMPTED_ANNOTATION]: JSON.stringify(identity) }),
    );
}

/** Records the identity the database was provisioned with; the attempt record is no longer needed. */
export async function recordApplied(ctx: ControllerContext, sdb: StoreDatabase, identity: RecordedIdentity): Promise<void> {
  const written = await ctx.kube.annotate<StoreDatabase>('StoreDatabase', sdb.metadata, {
    [APPLIED_ANNOTATION]: JSON.stringify(identity),
    [ATTEMPTED_ANNOTATION]: null,
  });
  adoptWritten(ctx, sdb, written);
}
