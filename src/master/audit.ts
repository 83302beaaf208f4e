import type { Kysely } from 'kysely';
import type { MasterDB } from './types.js';

export interface AuditEvent {
  storeId?: string | null;
  actor: string;
  action: string;
  targetType?: string;
  targetId?: string;
  /** Never a secret: callers pass identifiers and outcomes only. */
  details?: Record<string, unknown>;
}

/** The actor of an API request: the token's configured name, never the token or its hash. */
export const apiActor = (tokenName: string): string => `api-token:${tokenName}`;

export async function recordAudit(db: Kysely<MasterDB>, event: AuditEvent): Promise<void> {
  await db
    .insertInto('audit_logs')
    .values({
      store_id: event.storeId ?? null,
      actor: event.actor,
      action: event.action,
      target_type: event.targetType ?? null,
      target_id: event.targetId ?? null,
      details: event.details ? JSON.stringify(event.details) : null,
    })
    .execute();
}
