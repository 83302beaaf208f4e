// One legacy store row (and its config rows) as storeop sees it: a Store in connect mode and the Secret
// that holds its credentials, or the reason the row cannot be imported. The Store spec is validated
// with the CRD's own zod schema; credentials only ever go into the Secret's stringData.
import { fieldIssues, objectName } from '../api/common.js';
import { PLAN_NAMES } from '../api/plans.js';
import { type StoreSpec, storeSpec } from '../api/store.js';
import { SLUG_PATTERN } from '../naming.js';
import type { LegacyConfig, LegacyRow } from './legacy-source.js';
import { type EngineKind, type Mapping, valueAt } from './mapping.js';

export interface StoreManifest {
  apiVersion: 'storeop.dev/v1alpha1';
  kind: 'Store';
  metadata: { name: string; labels: Record<string, string>; annotations: Record<string, string> };
  spec: StoreSpec;
}

export interface SecretManifest {
  apiVersion: 'v1';
  kind: 'Secret';
  metadata: { name: string; labels: Record<string, string> };
  type: 'Opaque';
  stringData: Record<string, string>;
}

export interface ImportedStore {
  kind: 'store';
  slug: string;
  legacyId: string;
  engine: EngineKind;
  store: StoreManifest;
  secret: SecretManifest;
  /** The credentials in clear: removed from any message about this store. */
  secrets: string[];
}

export interface InvalidRecord {
  kind: 'invalid';
  /** The slug when the row has a usable one, else `id=<legacy id>`. */
  slug: string;
  legacyId: string;
  engine: string;
  problem: string;
}

export type LegacyRecord = ImportedStore | InvalidRecord;

/** Marks what storeop import wrote, for `kubectl get -l storeop.dev/imported=true`. */
export const IMPORTED_LABEL = 'storeop.dev/imported';
const LEGACY_ID = 'storeop.dev/legacy-id';
const LEGACY_OWNER = 'storeop.dev/legacy-owner';

/** The Secret that holds a store's legacy credentials. */
export const credentialsSecretName = (slug: string) => `${slug}-db-credentials`;

const TRUE_VALUES = new Set(['true', 't', '1', 'yes', 'y']);
const truthy = (value: unknown) => value === true || value === 1 || value === 1n || TRUE_VALUES.has(String(value).toLowerCase());
const text = (value: unknown): string | undefined =>
  value === null || value === undefined
    ? undefined
    : typeof value === 'string'
      ? value
      : typeof value === 'number' || typeof value === 'bigint'
        ? String(value)
        : undefined;
const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;

class RecordProblem extends Error {}

function engineOf(mapping: Mapping, value: unknown, what: string): EngineKind {
  const key = text(value);
  const engine = key !== undefined && Object.hasOwn(mapping.engines, key) ? mapping.engines[key] : undefined;
  if (!engine)
    throw new RecordProblem(
      `${what} ${JSON.stringify(key ?? null)} is not one of ${Object.keys(mapping.engines).join(', ')} (see engines in --mapping)`,
    );
  return engine;
}

/** The store's one active config of its engine, parsed. */
function activeConfig(mapping: Mapping, row: LegacyRow, engine: EngineKind): unknown {
  const candidates = row.configs.filter(
    (c: LegacyConfig) =>
      (mapping.configs.columns.active === null || truthy(c.active)) &&
      (mapping.configs.columns.type === null || (text(c.type) !== undefined && mapping.engines[text(c.type) as string] === engine)),
  );
  const table = mapping.configs.table;
  if (candidates.length === 0) throw new RecordProblem(`no active ${table} row of type ${engine}`);
  if (candidates.length > 1) throw new RecordProblem(`${candidates.length} active ${table} rows of type ${engine}: keep one active`);
  const data = (candidates[0] as LegacyConfig).data;
  if (typeof data === 'string' || Buffer.isBuffer(data)) {
    try {
      return JSON.parse(data.toString());
    } catch {
      // Never quote it: it holds credentials.
      throw new RecordProblem(`${table}.${mapping.configs.columns.data} is not valid JSON`);
    }
  }
  if (data && typeof data === 'object') return data;
  throw new RecordProblem(`${table}.${mapping.configs.columns.data} is empty`);
}

function field(mapping: Mapping, config: unknown, key: keyof Mapping['configs']['paths'], required: true): string;
function field(mapping: Mapping, config: unknown, key: keyof Mapping['configs']['paths'], required: false): string | undefined;
function field(mapping: Mapping, config: unknown, key: keyof Mapping['configs']['paths'], required: boolean): string | undefined {
  const path = mapping.configs.paths[key];
  const value = text(valueAt(config, path));
  if (required && (value === undefined || value === '')) throw new RecordProblem(`config_data has no ${path} (the ${key})`);
  return value === '' ? undefined : value;
}

/** The project ref of https://<ref>.supabase.co (or a bare ref). */
function projectRefOf(projectUrl: string): string {
  const ref = /^(?:https?:\/\/)?([a-z]{20})(?:\.supabase\.(?:co|in))?\/?$/.exec(projectUrl.trim())?.[1];
  if (!ref) throw new RecordProblem('projectUrl is not https://<20-letter ref>.supabase.co');
  return ref;
}

function databaseOf(
  mapping: Mapping,
  engine: EngineKind,
  config: unknown,
  secretName: string,
): {
  database: NonNullable<StoreSpec['database']> | Record<string, unknown>;
  stringData: Record<string, string>;
} {
  if (engine === 'supabase') {
    const projectRef = projectRefOf(field(mapping, config, 'projectUrl', true));
    const databasePassword = field(mapping, config, 'databasePassword', false);
    if (!databasePassword)
      throw new RecordProblem(
        `config_data has no ${mapping.configs.paths.databasePassword}: connect mode needs the project's database password`,
      );
    const serviceRoleKey = field(mapping, config, 'serviceRoleKey', false);
    return {
      database: {
        engine: 'supabase',
        mode: 'connect',
        supabase: {
          projectRef,
          databasePasswordSecretRef: { name: secretName, key: 'password' },
          ...(serviceRoleKey ? { serviceRoleKeySecretRef: { name: secretName, key: 'service-role-key' } } : {}),
        },
      },
      stringData: { password: databasePassword, ...(serviceRoleKey ? { 'service-role-key': serviceRoleKey } : {}) },
    };
  }
  const port = field(mapping, config, 'port', false);
  if (port !== undefined && !/^\d{1,5}$/.test(port))
    throw new RecordProblem(`config_data ${mapping.configs.paths.port} is not a port number`);
  return {
    database: {
      engine,
      mode: 'connect',
      connection: {
        host: field(mapping, config, 'host', true),
        ...(port !== undefined ? { port: Number(port) } : {}),
        database: field(mapping, config, 'database', true),
        credentialsSecretRef: { name: secretName },
      },
    },
    stringData: { username: field(mapping, config, 'user', true), password: field(mapping, config, 'password', false) ?? '' },
  };
}

/** The legacy row as a Store and its Secret, or why it cannot be imported (naming the field, never a credential). */
export function recordOf(mapping: Mapping, row: LegacyRow): LegacyRecord {
  const rawSlug = text(row.slug);
  const slug = rawSlug !== undefined && SLUG_PATTERN.test(rawSlug) ? rawSlug : undefined;
  const label = slug ?? `id=${row.id}`;
  const columns = mapping.stores.columns;
  let engine = text(row.databaseType) ?? '-';
  try {
    if (!slug)
      throw new RecordProblem(
        `${mapping.stores.table}.${columns.slug} ${JSON.stringify(rawSlug ?? null)} is not a valid store slug (2-41 lowercase letters, digits, "-")`,
      );
    if (!objectName.safeParse(slug).success) throw new RecordProblem(`slug ${slug} is not a valid Kubernetes object name`);
    const kind = engineOf(mapping, row.databaseType, `${mapping.stores.table}.${columns.databaseType}`);
    engine = kind;
    const config = activeConfig(mapping, row, kind);
    const secretName = credentialsSecretName(slug);
    const { database, stringData } = databaseOf(mapping, kind, config, secretName);
    const owner = text(row.owner);
    const plan = text(row.plan) ?? 'free';
    if (!(PLAN_NAMES as readonly string[]).includes(plan))
      throw new RecordProblem(`${mapping.stores.table}.${columns.plan} ${JSON.stringify(plan)} is not one of ${PLAN_NAMES.join(', ')}`);
    const status = text(row.status);
    const rawSpec = {
      displayName: text(row.name) || slug,
      ...(owner && EMAIL.test(owner) ? { owner } : {}),
      plan,
      ...(status !== undefined && mapping.suspendedStatuses.includes(status) ? { suspend: true } : {}),
      database,
    };
    const parsed = storeSpec.safeParse(rawSpec);
    if (!parsed.success) {
      const issue = fieldIssues(parsed.error, 'spec')[0];
      throw new RecordProblem(`${issue?.path}: ${issue?.message}`);
    }
    const labels = { [IMPORTED_LABEL]: 'true' };
    return {
      kind: 'store',
      slug,
      legacyId: row.id,
      engine: kind,
      store: {
        apiVersion: 'storeop.dev/v1alpha1',
        kind: 'Store',
        metadata: {
          name: slug,
          labels,
          annotations: { [LEGACY_ID]: row.id, ...(owner && !EMAIL.test(owner) ? { [LEGACY_OWNER]: owner } : {}) },
        },
        // As written (defaults left to storeop), so the manifest in Git says only what the legacy row does.
        spec: rawSpec as StoreSpec,
      },
      secret: { apiVersion: 'v1', kind: 'Secret', metadata: { name: secretName, labels }, type: 'Opaque', stringData },
      // The user name is no secret (messages name it, as they name the host); passwords and keys are.
      secrets: Object.entries(stringData)
        .filter(([key, value]) => key !== 'username' && value.length > 0)
        .map(([, value]) => value),
    };
  } catch (error) {
    if (!(error instanceof RecordProblem)) throw error;
    return { kind: 'invalid', slug: label, legacyId: row.id, engine, problem: error.message };
  }
}
