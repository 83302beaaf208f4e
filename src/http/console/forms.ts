// The console's forms, validated with zod (unknown fields are errors) and turned into the JSON API's own
// provision request, which is then checked by the API's schema: the same rules, the same messages, one
// store service behind both. Passwords and tokens go into the request's one-job `secrets`, never back
// into a page.
import { z } from 'zod';
import { fieldIssues, strictObject } from '../../api/common.js';
import { PLAN_NAMES } from '../../api/plans.js';
import type { DatabaseIdentity } from '../../stores/identity.js';
import { type ProvisionRequestBody, provisionRequest } from '../schemas.js';
import { CSRF_FIELD } from './security.js';

const text = (max = 255) => z.string().max(max).optional();

export const newStoreForm = strictObject({
  [CSRF_FIELD]: z.string(),
  displayName: text(),
  slug: text(64),
  owner: text(),
  plan: z.enum(PLAN_NAMES).default('free'),
  option: z.enum(['create', 'connect']).default('create'),
  target: z.enum(['embedded', 'postgresql', 'mysql', 'pool', 'supabase']).default('embedded'),
  serverHost: text(253),
  serverPort: text(8),
  adminUser: text(128),
  adminPassword: text(1024),
  poolEngine: z.enum(['postgresql', 'mysql']).default('postgresql'),
  serverRef: text(253),
  supabaseOrg: text(128),
  supabaseRegionGroup: z.enum(['americas', 'emea', 'apac']).default('americas'),
  supabaseToken: text(1024),
  connectEngine: z.enum(['postgresql', 'mysql']).default('postgresql'),
  connHost: text(253),
  connPort: text(8),
  connDatabase: text(64),
  connSchema: text(63),
  connUser: text(128),
  connPassword: text(1024),
});
export type NewStoreForm = z.infer<typeof newStoreForm>;

/** Form fields by the request path their value ends up at, so the API's messages land on the right field. */
const FIELD_OF_PATH: Record<string, keyof NewStoreForm> = {
  'store.displayName': 'displayName',
  'store.slug': 'slug',
  'store.owner': 'owner',
  'store.plan': 'plan',
  'database.server.host': 'serverHost',
  'database.server.port': 'serverPort',
  'database.serverRef.name': 'serverRef',
  'database.supabase.organizationSlug': 'supabaseOrg',
  'database.connection.host': 'connHost',
  'database.connection.port': 'connPort',
  'database.connection.database': 'connDatabase',
  'database.connection.schema': 'connSchema',
};

export type FormErrors = Partial<Record<keyof NewStoreForm | 'form', string>>;

const blank = (v: string | undefined) => (v === undefined || v.trim() === '' ? undefined : v.trim());

/** A port field: blank is the engine's default; anything else must be a whole number (the schema checks the range). */
function portOf(value: string | undefined, field: keyof NewStoreForm, errors: FormErrors): number | undefined {
  const v = blank(value);
  if (v === undefined) return undefined;
  if (!/^\d{1,5}$/.test(v)) {
    errors[field] = 'must be a port number (1-65535)';
    return undefined;
  }
  return Number(v);
}

function required(value: string | undefined, field: keyof NewStoreForm, errors: FormErrors): string {
  const v = blank(value);
  if (v === undefined) errors[field] = 'is required';
  return v ?? '';
}

/** The provision request a valid form describes, or the errors per field. */
export function provisionRequestOf(form: NewStoreForm): { request: ProvisionRequestBody } | { errors: FormErrors } {
  const errors: FormErrors = {};
  const store = { displayName: form.displayName ?? '', slug: form.slug ?? '', owner: blank(form.owner), plan: form.plan };
  let database: Record<string, unknown>;
  let secrets: Record<string, Record<string, string>> | undefined;
  if (form.option === 'connect') {
    database = {
      engine: form.connectEngine,
      mode: 'connect',
      connection: {
        host: required(form.connHost, 'connHost', errors),
        port: portOf(form.connPort, 'connPort', errors),
        database: required(form.connDatabase, 'connDatabase', errors),
        ...(form.connectEngine === 'postgresql' && blank(form.connSchema) ? { schema: blank(form.connSchema) } : {}),
        credentialsSecretRef: { name: 'store' },
      },
    };
    secrets = { store: { username: required(form.connUser, 'connUser', errors), password: form.connPassword ?? '' } };
  } else if (form.target === 'embedded') {
    database = { engine: 'pglite' };
  } else if (form.target === 'postgresql' || form.target === 'mysql') {
    database = {
      engine: form.target,
      mode: 'create',
      server: {
        host: required(form.serverHost, 'serverHost', errors),
        port: portOf(form.serverPort, 'serverPort', errors),
        adminSecretRef: { name: 'admin' },
      },
    };
    secrets = { admin: { username: required(form.adminUser, 'adminUser', errors), password: form.adminPassword ?? '' } };
  } else if (form.target === 'pool') {
    const ref = blank(form.serverRef);
    database = { engine: form.poolEngine, mode: 'create', ...(ref ? { serverRef: { name: ref } } : {}) };
  } else {
    database = {
      engine: 'supabase',
      mode: 'create',
      supabase: {
        organizationSlug: required(form.supabaseOrg, 'supabaseOrg', errors),
        regionGroup: form.supabaseRegionGroup,
        accessTokenSecretRef: { name: 'supabase', key: 'access-token' },
      },
    };
    secrets = { supabase: { 'access-token': required(form.supabaseToken, 'supabaseToken', errors) } };
  }
  const parsed = provisionRequest.safeParse(dropUndefined({ store, database, ...(secrets ? { secrets } : {}) }));
  if (!parsed.success) {
    for (const issue of fieldIssues(parsed.error)) {
      const field = FIELD_OF_PATH[issue.path] ?? 'form';
      errors[field] ??= field === 'form' ? `${issue.path}: ${issue.message}` : issue.message;
    }
  }
  if (Object.keys(errors).length || !parsed.success) return { errors };
  return { request: parsed.data };
}

/** JSON without undefined members: an optional field left blank is absent, not an error. */
function dropUndefined<T>(value: T): T {
  return JSON.parse(JSON.stringify(value)) as T;
}

export const actionForm = strictObject({
  [CSRF_FIELD]: z.string(),
  username: text(128),
  password: text(1024),
  confirm: text(64),
  deletionPolicy: z.enum(['Retain', 'Delete']).optional(),
});
export type ActionForm = z.infer<typeof actionForm>;

/** Whether acting on a store again needs credentials: every database but an embedded one (and Supabase, which the console does not act on). */
export function needsCredentials(identity: DatabaseIdentity | null): boolean {
  return identity !== null && (identity.engine === 'postgresql' || identity.engine === 'mysql');
}

/**
 * The database spec a store was provisioned with, rebuilt from its recorded identity, with the credentials
 * the person typed as the job's one-time secrets: what a suspend, resume or delete resubmits.
 */
export function databaseOfIdentity(
  identity: DatabaseIdentity,
  credentials: { username?: string | undefined; password?: string | undefined },
  deletionPolicy?: 'Retain' | 'Delete',
): Pick<ProvisionRequestBody, 'database' | 'secrets'> | undefined {
  const policy = deletionPolicy ? { deletionPolicy } : {};
  const secret = { username: credentials.username ?? '', password: credentials.password ?? '' };
  let database: unknown;
  let secrets: ProvisionRequestBody['secrets'];
  if (identity.engine === 'pglite') {
    database = { engine: 'pglite', ...policy };
  } else if ((identity.engine === 'postgresql' || identity.engine === 'mysql') && identity.mode === 'create' && identity['server.host']) {
    database = {
      engine: identity.engine,
      mode: 'create',
      server: { host: identity['server.host'], port: identity['server.port'] ?? undefined, adminSecretRef: { name: 'admin' } },
      ...(identity.databaseName ? { databaseName: identity.databaseName } : {}),
      ...(identity.engine === 'postgresql' && identity.isolation ? { isolation: identity.isolation } : {}),
      ...policy,
    };
    secrets = { admin: secret };
  } else if ((identity.engine === 'postgresql' || identity.engine === 'mysql') && identity.mode === 'connect') {
    database = {
      engine: identity.engine,
      mode: 'connect',
      connection: {
        host: identity['connection.host'] ?? undefined,
        port: identity['connection.port'] ?? undefined,
        database: identity['connection.database'] ?? undefined,
        ...(identity['connection.schema'] ? { schema: identity['connection.schema'] } : {}),
        credentialsSecretRef: { name: 'store' },
      },
      ...policy,
    };
    secrets = { store: secret };
  } else {
    return undefined;
  }
  const parsed = provisionRequest.shape.database.safeParse(dropUndefined(database));
  return parsed.success ? { database: parsed.data, ...(secrets ? { secrets } : {}) } : undefined;
}
