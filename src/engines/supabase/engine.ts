// A healthy Supabase project's database is PostgreSQL in connect mode: the pipeline runs unchanged on a
// direct (or session pooler) connection. Deleting a store can delete the project itself.
import type { StoreDatabaseTemplateSpec } from '../../api/store-database.js';
import { StoreopError } from '../../errors.js';
import type { Fingerprint } from '../../schema/fingerprint.js';
import type { Engine, Placement, Tenant, TenantOptions } from '../engine.js';
import { PostgresEngine } from '../postgres.js';
import type { PrepareContext, Stage } from '../staged.js';
import type { ConnectTarget, DatabaseTarget, SupabaseTarget, TenantConnection } from '../target.js';
import { ManagementApi } from './management-api.js';
import { prepareSupabaseStage } from './stage.js';

function supabaseTarget(target: DatabaseTarget): SupabaseTarget {
  if (target.engine !== 'supabase') throw new StoreopError('InvalidSpec', 'not a Supabase target');
  return target;
}

function asPostgres(target: SupabaseTarget): ConnectTarget {
  return { engine: 'postgresql', mode: 'connect', connection: target.connection };
}

export class SupabaseEngine implements Engine {
  readonly dialect = 'postgres' as const;
  readonly #postgres = new PostgresEngine();

  /** The project's database as the store reaches it (the same place ensureDatabase() reports). */
  placement(target: DatabaseTarget, slug: string): Placement {
    return { ...this.#postgres.placement(asPostgres(supabaseTarget(target)), slug), engine: 'supabase' };
  }

  /** The project first: found or created once, then waited for until healthy (see stage.ts). */
  prepare(spec: StoreDatabaseTemplateSpec, ctx: PrepareContext): Promise<Stage> {
    return prepareSupabaseStage(spec, ctx);
  }

  testConnection(target: DatabaseTarget): Promise<string> {
    return this.#postgres.testConnection(asPostgres(supabaseTarget(target)));
  }

  async ensureDatabase(target: DatabaseTarget, slug: string): Promise<TenantConnection> {
    const t = supabaseTarget(target);
    const connection = await this.#postgres.ensureDatabase(asPostgres(t), slug, '');
    return {
      ...connection,
      engine: 'supabase',
      projectRef: t.project.ref,
      projectUrl: t.project.url,
      ...(t.project.anonKey ? { anonKey: t.project.anonKey } : {}),
      ...(t.project.serviceRoleKey ? { serviceRoleKey: t.project.serviceRoleKey } : {}),
    };
  }

  openTenant(connection: TenantConnection, options?: TenantOptions): Promise<Tenant> {
    return this.#postgres.openTenant({ ...connection, engine: 'postgresql' }, options);
  }

  /** The project's database is PostgreSQL reached as its own user: the same one-session check. */
  fingerprint(connection: TenantConnection, tables: readonly string[]): Promise<Fingerprint> {
    return this.#postgres.fingerprint({ ...connection, engine: 'postgresql' }, tables);
  }

  /** Create mode: deletes the project (irreversible). Connect mode never gets here with Delete. */
  async deprovision(target: DatabaseTarget): Promise<void> {
    const t = supabaseTarget(target);
    if (!t.management) throw new StoreopError('InvalidSpec', 'deleting a Supabase project needs the Management API access token');
    await new ManagementApi({ baseUrl: t.management.apiUrl, token: t.management.token }).deleteProject(t.project.ref);
  }

  async setLoginEnabled(): Promise<void> {
    // Suspension is recorded in the master DB; the project keeps running (pausing it is a billing decision).
  }
}
