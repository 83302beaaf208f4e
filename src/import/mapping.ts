// Where a platform's current database keeps its stores: table and column names, the values of its
// database type, and the JSON paths into integration_configs.config_data. The default is the platform's
// own shape; `storeop import --mapping FILE` (YAML, validated here) describes another one. Every name
// that reaches SQL is checked here and quoted where it is used.
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { fieldIssues, strictObject } from '../api/common.js';
import { readYamlDocuments } from '../apply/read-yaml.js';
import { StoreopError } from '../errors.js';

/** A legacy table or column: letters, digits, "_" and "$", optionally schema-qualified (schema.table). */
const SQL_NAME = /^[A-Za-z_][A-Za-z0-9_$]{0,62}$/;
export const sqlName = z.string().regex(SQL_NAME, 'must be a plain SQL name (letters, digits, "_", "$"; at most 63 characters)');
export const tableName = z.string().refine((name) => name.split('.').length <= 2 && name.split('.').every((part) => SQL_NAME.test(part)), {
  message: 'must be a plain SQL table name, optionally schema.table',
});
/** A path into config_data: keys separated by ".", e.g. `connection.host` (a leading "$." is allowed). */
const jsonPath = z
  .string()
  .regex(/^(\$\.)?[A-Za-z_][A-Za-z0-9_-]*(\.[A-Za-z_][A-Za-z0-9_-]*)*$/, 'must be a dotted JSON path such as connection.host');

export const ENGINE_KINDS = ['postgresql', 'mysql', 'supabase'] as const;
export type EngineKind = (typeof ENGINE_KINDS)[number];

export const mappingSchema = strictObject({
  stores: strictObject({
    table: tableName.default('stores'),
    columns: strictObject({
      id: sqlName.default('id'),
      slug: sqlName.default('slug'),
      name: sqlName.default('name'),
      owner: sqlName.nullable().default('owner_id').describe('null: the legacy stores have no owner column'),
      plan: sqlName.nullable().default('subscription_plan'),
      databaseType: sqlName.default('database_type'),
      status: sqlName.nullable().default('database_status'),
    }).prefault({}),
  }).prefault({}),
  configs: strictObject({
    table: tableName.default('integration_configs'),
    columns: strictObject({
      storeId: sqlName.default('store_id'),
      type: sqlName.nullable().default('integration_type'),
      data: sqlName.default('config_data'),
      active: sqlName.nullable().default('is_active'),
    }).prefault({}),
    paths: strictObject({
      host: jsonPath.default('host'),
      port: jsonPath.default('port'),
      database: jsonPath.default('database'),
      user: jsonPath.default('username'),
      password: jsonPath.default('password'),
      projectUrl: jsonPath.default('projectUrl'),
      serviceRoleKey: jsonPath.default('serviceRoleKey'),
      databasePassword: jsonPath.default('databasePassword'),
    }).prefault({}),
  }).prefault({}),
  /** Legacy database type (and integration type) values and the engine each one means. */
  engines: z
    .record(z.string().min(1), z.enum(ENGINE_KINDS))
    .default({ postgresql: 'postgresql', mysql: 'mysql', mariadb: 'mysql', 'supabase-database': 'supabase', supabase: 'supabase' }),
  /** Legacy status values that mean the store is suspended. */
  suspendedStatuses: z.array(z.string()).default(['suspended']),
});

export type Mapping = z.infer<typeof mappingSchema>;

export const DEFAULT_MAPPING: Mapping = mappingSchema.parse({});

/** The mapping a file describes (defaults for what it leaves out), then --stores-table/--configs-table. */
export function loadMapping(file: string | undefined, tables: { stores?: string | undefined; configs?: string | undefined } = {}): Mapping {
  let mapping = DEFAULT_MAPPING;
  if (file !== undefined) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      throw new StoreopError('InvalidSpec', `--mapping: cannot read ${file}`, { retryable: false });
    }
    const read = readYamlDocuments(text);
    if ('problem' in read) throw new StoreopError('InvalidSpec', `--mapping ${file}: ${read.problem}`, { retryable: false });
    const [first, ...rest] = read.documents;
    if (!first || rest.length)
      throw new StoreopError('InvalidSpec', `--mapping ${file}: must hold exactly one YAML document`, { retryable: false });
    if ('problem' in first) throw new StoreopError('InvalidSpec', `--mapping ${file}: ${first.problem}`, { retryable: false });
    const parsed = mappingSchema.safeParse(first.value ?? {});
    if (!parsed.success) {
      const issue = fieldIssues(parsed.error)[0];
      throw new StoreopError('InvalidSpec', `--mapping ${file}: ${issue?.path || '(top level)'}: ${issue?.message}`, { retryable: false });
    }
    mapping = parsed.data;
  }
  const override = z.object({ stores: tableName.optional(), configs: tableName.optional() }).safeParse(tables);
  if (!override.success) {
    const issue = override.error.issues[0];
    throw new StoreopError('InvalidSpec', `--${String(issue?.path[0])}-table: ${issue?.message}`, { retryable: false });
  }
  return {
    ...mapping,
    stores: { ...mapping.stores, table: override.data.stores ?? mapping.stores.table },
    configs: { ...mapping.configs, table: override.data.configs ?? mapping.configs.table },
  };
}

/** The value at a dotted path of a parsed config_data object. */
export function valueAt(data: unknown, path: string): unknown {
  let value: unknown = data;
  for (const key of path.replace(/^\$\./, '').split('.')) {
    if (!value || typeof value !== 'object' || !Object.hasOwn(value, key)) return undefined;
    value = (value as Record<string, unknown>)[key];
  }
  return value;
}
