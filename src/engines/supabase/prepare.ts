// The steps before a Supabase store's schema can be provisioned: resolve settings and Secrets, find or
// create the project (keeping its database password before asking for it), and check its health.
// Waiting is the caller's business: this answers "ready", "waiting" or "failed" and never sleeps.
import type { StoreDatabaseTemplateSpec } from '../../api/store-database.js';
import { StoreopError } from '../../errors.js';
import { generatePassword } from '../password.js';
import type { SecretReader, SupabaseTarget } from '../target.js';
import {
  DEFAULT_SUPABASE_API_URL,
  ManagementApi,
  type RegionSelection,
  type SupabaseApiKey,
  type SupabaseProject,
} from './management-api.js';
import { ensureProject, projectState } from './project.js';

export interface SupabaseSettings {
  mode: 'create' | 'connect';
  apiUrl: string;
  token?: string | undefined;
  organizationSlug?: string | undefined;
  region: RegionSelection;
  projectRef?: string | undefined;
  databasePassword?: string | undefined;
  serviceRoleKey?: string | undefined;
  database: { host: string; port: number; user: string; name: string; tls: boolean };
  /** PEM of the CA that signs the project's database certificate (Supabase uses its own). */
  databaseCa?: string | undefined;
  projectUrl: string;
  storageBucket: string;
  exposeServiceRoleKey: boolean;
}

async function secret(read: SecretReader, ref: { name: string; key: string } | undefined, field: string): Promise<string | undefined> {
  if (!ref) return undefined;
  const value = await read(ref.name, ref.key);
  if (value === undefined)
    throw new StoreopError('InvalidSpec', `${field}: Secret ${ref.name} has no key ${JSON.stringify(ref.key)} (or does not exist)`, {
      retryable: true,
    });
  return value;
}

export async function resolveSupabaseSettings(
  spec: StoreDatabaseTemplateSpec,
  read: SecretReader,
  defaults: { apiUrl?: string | undefined } = {},
): Promise<SupabaseSettings> {
  const s = spec.supabase;
  if (!s) throw new StoreopError('InvalidSpec', 'spec.supabase is required for engine supabase', { retryable: false });
  const token = await secret(read, s.accessTokenSecretRef, 'spec.supabase.accessTokenSecretRef');
  if (spec.mode === 'create') {
    if (!token)
      throw new StoreopError('InvalidSpec', 'spec.supabase.accessTokenSecretRef is required in create mode', { retryable: false });
    if (!s.organizationSlug)
      throw new StoreopError('InvalidSpec', 'spec.supabase.organizationSlug is required in create mode', { retryable: false });
  } else {
    if (!s.projectRef) throw new StoreopError('InvalidSpec', 'spec.supabase.projectRef is required in connect mode', { retryable: false });
    if (!s.databasePasswordSecretRef)
      throw new StoreopError('InvalidSpec', 'spec.supabase.databasePasswordSecretRef is required in connect mode', { retryable: false });
  }
  return {
    mode: spec.mode,
    apiUrl: s.apiUrl ?? defaults.apiUrl ?? DEFAULT_SUPABASE_API_URL,
    token,
    organizationSlug: s.organizationSlug,
    region: s.region ? { type: 'specific', code: s.region } : { type: 'smartGroup', code: s.regionGroup ?? 'americas' },
    projectRef: s.projectRef,
    databasePassword: await secret(read, s.databasePasswordSecretRef, 'spec.supabase.databasePasswordSecretRef'),
    serviceRoleKey: await secret(read, s.serviceRoleKeySecretRef, 'spec.supabase.serviceRoleKeySecretRef'),
    database: s.database ?? { host: 'db.{ref}.supabase.co', port: 5432, user: 'postgres', name: 'postgres', tls: true },
    databaseCa: await secret(read, s.database?.caSecretRef, 'spec.supabase.database.caSecretRef'),
    projectUrl: s.projectUrl,
    storageBucket: s.storageBucket,
    exposeServiceRoleKey: s.exposeServiceRoleKey,
  };
}

export type Preparation =
  | { kind: 'ready'; target: SupabaseTarget; project: SupabaseProject }
  | { kind: 'waiting'; project: SupabaseProject }
  | { kind: 'failed'; project: SupabaseProject; reason: string };

export interface PrepareOptions {
  slug: string;
  /** The project ref recorded by an earlier run. */
  knownRef?: string | undefined;
  /** The database password kept by an earlier run (create mode). */
  knownPassword?: string | undefined;
  /** Keeps a newly generated database password; called before the project is created with it. */
  keepPassword: (password: string) => Promise<void>;
  /** Records the project ref as soon as the API returns it. */
  recordRef: (project: SupabaseProject) => Promise<void>;
}

const fill = (template: string, ref: string) => template.replaceAll('{ref}', ref);

function pickKeys(keys: SupabaseApiKey[]): { anonKey?: string; serviceRoleKey?: string } {
  const anon = keys.find((k) => k.name === 'anon') ?? keys.find((k) => k.type === 'publishable');
  const service = keys.find((k) => k.name === 'service_role') ?? keys.find((k) => k.type === 'secret');
  return { ...(anon ? { anonKey: anon.api_key } : {}), ...(service ? { serviceRoleKey: service.api_key } : {}) };
}

export async function prepareSupabase(settings: SupabaseSettings, options: PrepareOptions): Promise<Preparation> {
  const api = settings.token ? new ManagementApi({ baseUrl: settings.apiUrl, token: settings.token }) : undefined;
  let password = settings.databasePassword;
  let project: SupabaseProject;
  if (settings.mode === 'create') {
    const management = api as ManagementApi;
    password = options.knownPassword;
    if (!password && !options.knownRef) {
      password = generatePassword();
      await options.keepPassword(password);
    }
    if (!password)
      throw new StoreopError(
        'ProvisioningFailed',
        `the database password of Supabase project ${options.knownRef} was lost; set it in the project and in the store's Secret`,
        { retryable: false },
      );
    project = await ensureProject(management, {
      slug: options.slug,
      organizationSlug: settings.organizationSlug as string,
      region: settings.region,
      knownRef: options.knownRef,
      dbPass: password,
      onCreated: options.recordRef,
    });
  } else {
    const ref = settings.projectRef as string;
    const found = api ? await api.getProject(ref) : { ref, name: ref, status: 'ACTIVE_HEALTHY' };
    if (!found)
      throw new StoreopError('InvalidSpec', `Supabase project ${ref} does not exist or the token cannot see it`, { retryable: true });
    project = found;
  }
  const state = projectState(project);
  if (state.kind !== 'ready') return state;
  const keys = api ? pickKeys(await api.apiKeys(project.ref)) : {};
  const serviceRoleKey = settings.serviceRoleKey ?? keys.serviceRoleKey;
  const target: SupabaseTarget = {
    engine: 'supabase',
    mode: settings.mode,
    connection: {
      host: fill(settings.database.host, project.ref),
      port: settings.database.port,
      user: fill(settings.database.user, project.ref),
      database: fill(settings.database.name, project.ref),
      ...(password !== undefined ? { password } : {}),
      ...(settings.database.tls
        ? { tls: settings.databaseCa ? { rejectUnauthorized: true, ca: settings.databaseCa } : { rejectUnauthorized: false } }
        : {}),
    },
    project: {
      ref: project.ref,
      url: fill(settings.projectUrl, project.ref),
      ...(keys.anonKey ? { anonKey: keys.anonKey } : {}),
      ...(serviceRoleKey ? { serviceRoleKey } : {}),
    },
    ...(settings.token ? { management: { apiUrl: settings.apiUrl, token: settings.token } } : {}),
  };
  return { kind: 'ready', target, project };
}
