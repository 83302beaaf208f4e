// The Supabase project behind a store: found by its recorded ref or by name (so a crash between
// "created" and "recorded" never creates a second one), or created, then watched until healthy.
import { StoreopError } from '../../errors.js';
import type { ManagementApi, RegionSelection, SupabaseProject } from './management-api.js';

/** Statuses after which the project will not become healthy by waiting. */
const FAILED = new Set([
  'INIT_FAILED',
  'REMOVED',
  'INACTIVE',
  'PAUSED',
  'PAUSING',
  'GOING_DOWN',
  'RESTORE_FAILED',
  'PAUSE_FAILED',
  'RESIZE_FAILED',
]);
const HEALTHY = 'ACTIVE_HEALTHY';

export type ProjectState =
  | { kind: 'ready'; project: SupabaseProject }
  | { kind: 'waiting'; project: SupabaseProject }
  | { kind: 'failed'; project: SupabaseProject; reason: string };

export function projectName(slug: string): string {
  return `storeop-${slug}`;
}

export function projectState(project: SupabaseProject): ProjectState {
  if (project.status === HEALTHY) return { kind: 'ready', project };
  if (FAILED.has(project.status)) return { kind: 'failed', project, reason: `Supabase project ${project.ref} is ${project.status}` };
  return { kind: 'waiting', project };
}

export interface EnsureProjectOptions {
  slug: string;
  organizationSlug: string;
  region: RegionSelection;
  /** The ref recorded by an earlier run (status or master DB). */
  knownRef?: string | undefined;
  /** The database password to create the project with; kept by the caller before this is called. */
  dbPass: string;
  /** Called as soon as the API returns the new project, before anything else can fail. */
  onCreated: (project: SupabaseProject) => Promise<void>;
}

export async function ensureProject(api: ManagementApi, options: EnsureProjectOptions): Promise<SupabaseProject> {
  if (options.knownRef) {
    const known = await api.getProject(options.knownRef);
    if (known) return known;
    throw new StoreopError(
      'ProvisioningFailed',
      `Supabase project ${options.knownRef}, recorded for store ${options.slug}, no longer exists`,
      { retryable: false },
    );
  }
  const name = projectName(options.slug);
  const existing = await findByName(api, name, options.organizationSlug);
  if (existing) {
    await options.onCreated(existing);
    return existing;
  }
  let created: SupabaseProject;
  try {
    created = await api.createProject({ name, organizationSlug: options.organizationSlug, dbPass: options.dbPass, region: options.region });
  } catch (error) {
    // The outcome is unknown (timeout, 5xx): look before trying again, never create blindly.
    const after = await findByName(api, name, options.organizationSlug).catch(() => undefined);
    if (!after) throw error;
    created = after;
  }
  await options.onCreated(created);
  return created;
}

async function findByName(api: ManagementApi, name: string, organizationSlug: string): Promise<SupabaseProject | undefined> {
  const projects = await api.listProjects();
  return projects.find(
    (p) => p.name === name && (!p.organization_slug || p.organization_slug === organizationSlug) && p.status !== 'REMOVED',
  );
}
