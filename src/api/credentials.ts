// The credentials lifecycle of a store's database (rotation, read-only user) and what the connection
// Secret holds (optional keys in fixed formats, templates with placeholders): the API contract.
import { z } from 'zod';
import { objectName, strictObject } from './common.js';

/** The annotation that asks for a rotation now: any value storeop has not handled yet triggers one. */
export const ROTATE_CREDENTIALS_ANNOTATION = 'storeop.dev/rotate-credentials';

/** The keys every connection Secret holds. */
export const STANDARD_SECRET_KEYS = ['engine', 'host', 'port', 'database', 'username', 'password', 'url', 'schema'] as const;

/** Optional keys in a fixed format, chosen in writeConnectionSecretToRef.keys. */
export const OPTIONAL_SECRET_KEYS = ['jdbcUrl', 'pgpass', 'dsn', 'uri'] as const;
export type OptionalSecretKey = (typeof OPTIONAL_SECRET_KEYS)[number];

/** What a template may refer to, as `{{ .host }}`. */
export const TEMPLATE_PLACEHOLDERS = ['host', 'port', 'database', 'username', 'password', 'url'] as const;
export type TemplatePlaceholder = (typeof TEMPLATE_PLACEHOLDERS)[number];

/** `{{ .name }}`, spaces optional; anything else between braces is refused. */
export const PLACEHOLDER = /\{\{\s*\.([A-Za-z0-9_]+)\s*\}\}/g;

/** Why a template is invalid, or undefined: only known placeholders, no stray braces. */
export function templateProblem(template: string): string | undefined {
  for (const [, name] of template.matchAll(PLACEHOLDER)) {
    if (!(TEMPLATE_PLACEHOLDERS as readonly string[]).includes(name as string))
      return `unknown placeholder {{ .${name} }}; known: ${TEMPLATE_PLACEHOLDERS.map((p) => `{{ .${p} }}`).join(', ')}`;
  }
  const rest = template.replace(PLACEHOLDER, '');
  if (rest.includes('{{') || rest.includes('}}'))
    return 'a placeholder is written {{ .name }} with one of host, port, database, username, password, url';
  return undefined;
}

/** A Secret data key, as Kubernetes accepts it. */
const secretDataKey = z
  .string()
  .min(1)
  .max(253)
  .regex(/^[-._a-zA-Z0-9]+$/, 'must be a Secret key: letters, digits, "-", "_" and "."');

const reservedKeys: ReadonlySet<string> = new Set([
  ...STANDARD_SECRET_KEYS,
  ...OPTIONAL_SECRET_KEYS,
  'supabaseUrl',
  'anonKey',
  'serviceRoleKey',
]);

const templateValue = z
  .string()
  .max(4096)
  .superRefine((value, ctx) => {
    const problem = templateProblem(value);
    if (problem) ctx.addIssue({ code: 'custom', message: problem });
  });

export const connectionSecretRef = strictObject({
  name: objectName.describe('Name of the Secret, in the same namespace.'),
  keys: z
    .array(z.enum(OPTIONAL_SECRET_KEYS))
    .max(OPTIONAL_SECRET_KEYS.length)
    .optional()
    .describe(
      'More keys in fixed formats: jdbcUrl, pgpass (PostgreSQL ~/.pgpass line), dsn (MySQL, Go driver form user:password@tcp(host:port)/database), uri (URL with sslmode).',
    ),
  template: z
    .record(secretDataKey, templateValue)
    .optional()
    .describe(
      'Custom keys: each value is a text with placeholders {{ .host }}, {{ .port }}, {{ .database }}, {{ .username }}, {{ .password }}, {{ .url }}; values inside a URL are URL-encoded.',
    ),
});

/** A duration as Kubernetes writes one (720h, 90m, 1h30m); at least a minute. */
const rotationPeriod = z
  .string()
  .regex(/^(\d+h)?(\d+m)?(\d+s)?$/, 'must be a duration such as 720h, 90m or 1h30m')
  .refine((text) => text !== '' && durationMs(text) >= 60_000, 'must be at least 1m');

/** "720h", "1h30m", "90s" in milliseconds (the text must match rotationPeriod's pattern). */
export function durationMs(text: string): number {
  const units: Record<string, number> = { h: 3_600_000, m: 60_000, s: 1000 };
  return [...text.matchAll(/(\d+)([hms])/g)].reduce((total, [, n, unit]) => total + Number(n) * (units[unit as string] ?? 0), 0);
}

export const credentialsSpec = strictObject({
  rotationPeriod: rotationPeriod
    .optional()
    .describe(
      'Rotate the store role password this often (e.g. 720h); absent: only on request (annotation storeop.dev/rotate-credentials).',
    ),
  readOnlyUser: z
    .boolean()
    .default(false)
    .describe(
      'Also create a role/user with SELECT only on the store tables, written to the Secret <writeConnectionSecretToRef.name>-readonly.',
    ),
});

export const credentialsStatus = z
  .object({
    lastRotationTime: z.string().optional().describe('When the store role password was last set (created or rotated).'),
    rotationRequest: z.string().optional().describe('The last storeop.dev/rotate-credentials value handled.'),
    readOnlySecretName: z.string().optional().describe('The read-only user connection Secret.'),
  })
  .describe('The credentials lifecycle; never a password.');

export type CredentialsSpec = z.infer<typeof credentialsSpec>;
export type CredentialsStatus = z.infer<typeof credentialsStatus>;
export type ConnectionSecretRef = z.infer<typeof connectionSecretRef>;

/** The connection Secret's keys that fit the engine, and template keys that do not collide with storeop's. */
export function refineConnectionSecretKeys(
  spec: {
    engine: string;
    mode: string;
    writeConnectionSecretToRef?: ConnectionSecretRef | undefined;
    credentials?: CredentialsSpec | undefined;
  },
  ctx: z.RefinementCtx,
): void {
  const ref = spec.writeConnectionSecretToRef;
  const postgresLike = spec.engine === 'postgresql' || spec.engine === 'supabase';
  for (const [index, key] of (ref?.keys ?? []).entries()) {
    const fits = spec.engine === 'pglite' ? false : key === 'pgpass' ? postgresLike : key === 'dsn' ? spec.engine === 'mysql' : true;
    if (!fits)
      ctx.addIssue({
        code: 'custom',
        path: ['writeConnectionSecretToRef', 'keys', index],
        message: `${key} is not available for engine ${spec.engine}`,
      });
  }
  for (const key of Object.keys(ref?.template ?? {})) {
    if (reservedKeys.has(key))
      ctx.addIssue({
        code: 'custom',
        path: ['writeConnectionSecretToRef', 'template', key],
        message: `${key} is a key storeop writes itself; choose another name`,
      });
  }
  const { rotationPeriod, readOnlyUser } = spec.credentials ?? {};
  // Only a role storeop creates is storeop's to rotate: connect mode's user is somebody else's, Supabase's
  // postgres password is the project's own, PGlite has no password.
  const ownsRole = spec.mode === 'create' && (spec.engine === 'postgresql' || spec.engine === 'mysql');
  for (const [field, set] of [
    ['rotationPeriod', rotationPeriod !== undefined],
    ['readOnlyUser', readOnlyUser === true],
  ] as const) {
    if (set && !ownsRole)
      ctx.addIssue({
        code: 'custom',
        path: ['credentials', field],
        message: `needs mode create on postgresql or mysql: storeop only manages the credentials of a role it creates`,
      });
  }
  if (readOnlyUser && !ref)
    ctx.addIssue({
      code: 'custom',
      path: ['credentials', 'readOnlyUser'],
      message: 'needs writeConnectionSecretToRef: the read-only user credentials live in its -readonly Secret',
    });
  if (readOnlyUser && ref && readOnlySecretName(ref.name).length > 253)
    ctx.addIssue({ code: 'custom', path: ['writeConnectionSecretToRef', 'name'], message: 'too long for its -readonly Secret' });
}

/** The read-only user's connection Secret, beside the main one. */
export const readOnlySecretName = (connectionSecret: string): string => `${connectionSecret}-readonly`;
