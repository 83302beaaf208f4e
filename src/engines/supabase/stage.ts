// Supabase through the staged contract: settings and Secrets resolved, the project found or created
// (its database password kept through the driver before it is used), then "waiting" until it is healthy.
// The carry holds the project's ref, name and status: never the password, the token or a key.
import type { StoreDatabaseTemplateSpec } from '../../api/store-database.js';
import { StoreopError } from '../../errors.js';
import type { PrepareContext, Stage, StageCarry } from '../staged.js';
import type { SupabaseTarget } from '../target.js';
import { prepareSupabase, resolveSupabaseSettings, type SupabaseSettings } from './prepare.js';

/** The name under which the driver keeps the generated database password (create mode). */
export const SUPABASE_PASSWORD_SECRET = 'db-password';
const DEFAULT_POLL_MS = 10_000;

export function supabaseSettingsFor(
  spec: StoreDatabaseTemplateSpec,
  ctx: Pick<PrepareContext, 'read' | 'defaults'>,
): Promise<SupabaseSettings> {
  return resolveSupabaseSettings(spec, ctx.read, { apiUrl: ctx.defaults?.supabaseApiUrl });
}

/**
 * One step: answers ready (with the target), waiting (the project is coming up) or failed (the project
 * will not come up by waiting). Errors on the way (a missing Secret, a refused token, the API down) throw.
 */
export async function prepareSupabaseStage(spec: StoreDatabaseTemplateSpec, ctx: PrepareContext): Promise<Stage> {
  const settings = await supabaseSettingsFor(spec, ctx);
  const knownRef = typeof ctx.carry.projectRef === 'string' ? ctx.carry.projectRef : undefined;
  let carry: StageCarry = { ...ctx.carry };
  const preparation = await prepareSupabase(settings, {
    slug: ctx.slug,
    knownRef,
    knownPassword: settings.mode === 'create' ? await ctx.knownSecret(SUPABASE_PASSWORD_SECRET) : undefined,
    keepPassword: (password) => ctx.keepSecret(SUPABASE_PASSWORD_SECRET, password),
    recordRef: async (project) => {
      carry = { projectRef: project.ref, projectName: project.name, projectStatus: project.status };
      await ctx.record(carry);
    },
  });
  const project = preparation.project;
  carry = { ...carry, projectRef: project.ref, projectName: project.name, projectStatus: project.status };
  if (preparation.kind === 'waiting')
    return {
      state: 'waiting',
      retryAfterMs: ctx.pollMs ?? DEFAULT_POLL_MS,
      reason: `waiting for Supabase project ${project.ref} (${project.status})`,
      carry,
    };
  if (preparation.kind === 'failed')
    return { state: 'failed', error: new StoreopError('ProvisioningFailed', preparation.reason, { retryable: false }), carry };
  return { state: 'ready', target: preparation.target, carry };
}

/** What SupabaseEngine.deprovision needs to delete a recorded project: its ref and the Management API. */
export function supabaseDeprovisionTarget(settings: SupabaseSettings, projectRef: string): SupabaseTarget {
  return {
    engine: 'supabase',
    mode: settings.mode,
    connection: {
      host: settings.database.host.replaceAll('{ref}', projectRef),
      port: settings.database.port,
      user: settings.database.user.replaceAll('{ref}', projectRef),
      database: settings.database.name.replaceAll('{ref}', projectRef),
    },
    project: { ref: projectRef, url: settings.projectUrl.replaceAll('{ref}', projectRef) },
    ...(settings.token ? { management: { apiUrl: settings.apiUrl, token: settings.token } } : {}),
  };
}
