// Pieces shared by the Store and StoreDatabase schemas: names, Secret references, conditions.
import { z } from 'zod';

export const API_GROUP = 'storeop.dev';
export const API_VERSION = 'v1alpha1';
export const GROUP_VERSION = `${API_GROUP}/${API_VERSION}`;

/** A DNS-1123 subdomain: what Kubernetes accepts as an object name. */
export const objectName = z
  .string()
  .min(1)
  .max(253)
  .regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/, 'must be a lowercase DNS-1123 name');

/** Names the unknown fields; the path of the issue is the object that holds them. */
const unknownFields = (issue: z.core.$ZodRawIssue) =>
  issue.code === 'unrecognized_keys' ? `unknown field ${issue.keys.map((k) => JSON.stringify(k)).join(', ')}` : undefined;

/**
 * An object that refuses fields it does not declare, as `kubectl apply` does with strict field validation:
 * a typo such as `deletionPolcy` is an error, not a setting silently dropped.
 */
export function strictObject<T extends z.core.$ZodLooseShape>(shape: T) {
  return z.strictObject(shape, { error: unknownFields });
}

export interface FieldIssue {
  path: string;
  message: string;
}

/** A zod error as one issue per field; an unknown field gets its own path (`spec.database.deletionPolcy`). */
export function fieldIssues(error: z.ZodError, prefix = ''): FieldIssue[] {
  const join = (path: PropertyKey[]) => [prefix, ...path.map(String)].filter((p) => p !== '').join('.');
  return error.issues.flatMap((issue) =>
    issue.code === 'unrecognized_keys'
      ? issue.keys.map((key) => ({ path: join([...issue.path, key]), message: 'unknown field' }))
      : [{ path: join(issue.path), message: issue.message }],
  );
}

/**
 * `record[key]` when `key` is the record's own property: a Secret key named by a user (`passwordKey:
 * "constructor"`) must not reach members every object inherits.
 */
export function ownValue<T>(record: Readonly<Record<string, T>> | undefined, key: string): T | undefined {
  return record && Object.hasOwn(record, key) ? record[key] : undefined;
}

/**
 * Paths of every own "__proto__" key in parsed JSON or YAML. zod drops such keys from records without a
 * word (assigning one would replace the result's prototype), so a caller refuses them instead.
 */
export function protoKeyPaths(value: unknown, path: string[] = []): string[] {
  if (Array.isArray(value)) return value.flatMap((v, i) => protoKeyPaths(v, [...path, String(i)]));
  if (!value || typeof value !== 'object') return [];
  return Object.keys(value).flatMap((key) =>
    key === '__proto__' ? [[...path, key].join('.')] : protoKeyPaths((value as Record<string, unknown>)[key], [...path, key]),
  );
}

/** A Kubernetes label selector (metav1.LabelSelector): every term must hold; an empty one matches all. */
export const labelSelector = strictObject({
  matchLabels: z.record(z.string().min(1).max(317), z.string().max(63)).optional(),
  matchExpressions: z
    .array(
      strictObject({
        key: z.string().min(1).max(317),
        operator: z.enum(['In', 'NotIn', 'Exists', 'DoesNotExist']),
        values: z.array(z.string().max(63)).optional(),
      }),
    )
    .optional(),
});
export type LabelSelector = z.infer<typeof labelSelector>;

export const localObjectReference = strictObject({ name: objectName.describe('Name of an object in the same namespace.') });

const secretName = objectName.describe('Name of a Secret in the same namespace.');
const secretKey = (key: string, what: string) =>
  z.string().min(1).max(253).default(key).describe(`Key of the Secret that holds the ${what}.`);

/** A Secret holding a username and a password. */
export const credentialsSecretRef = strictObject({
  name: secretName,
  usernameKey: secretKey('username', 'username'),
  passwordKey: secretKey('password', 'password'),
});

/** One key of a Secret. */
export const secretKeyRef = (key: string, what: string) => strictObject({ name: secretName, key: secretKey(key, what) });

export const conditionSchema = z.object({
  type: z.string().max(316),
  status: z.enum(['True', 'False', 'Unknown']),
  observedGeneration: z.int().min(0).optional(),
  lastTransitionTime: z.string(),
  reason: z
    .string()
    .max(1024)
    .regex(/^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$/),
  message: z.string().max(32768),
});
export type Condition = z.infer<typeof conditionSchema>;

/** Degraded: provisioned, but its DatabaseServer is unreachable (recovers on its own when the server returns). */
export const PHASES = ['Pending', 'Provisioning', 'Ready', 'Degraded', 'Failed', 'Suspended', 'Deleting'] as const;
export type Phase = (typeof PHASES)[number];

export const progressSchema = z.object({
  step: z.string().optional(),
  percent: z.int().min(0).max(100).optional(),
  tablesCreated: z.int().min(0).optional(),
  totalTables: z.int().min(0).optional(),
});

/** Status fields every storeop resource has. */
export const baseStatus = {
  phase: z.enum(PHASES).optional(),
  conditions: z.array(conditionSchema).optional(),
  observedGeneration: z.int().min(0).optional(),
  storeId: z.string().optional().describe('The store id in the master database.'),
  jobId: z.string().optional().describe('The current or last provisioning job in the master database.'),
  progress: progressSchema.optional(),
  message: z.string().optional(),
};

export interface ObjectMeta {
  name: string;
  namespace?: string;
  uid?: string;
  generation?: number;
  resourceVersion?: string;
  deletionTimestamp?: Date;
  finalizers?: string[];
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  ownerReferences?: Array<{
    apiVersion: string;
    kind: string;
    name: string;
    uid: string;
    controller?: boolean;
    blockOwnerDeletion?: boolean;
  }>;
  creationTimestamp?: Date;
}
