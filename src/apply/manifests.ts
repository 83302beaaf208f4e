// Reads multi-document YAML manifests (Store, StoreDatabase, StoreSchema, StorePlan, DatabaseServer, Secret) and validates them with the same zod
// schemas as the CRDs. Every problem names the file, the document and the field; nothing runs unless all pass.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { fieldIssues, GROUP_VERSION, objectName, protoKeyPaths } from '../api/common.js';
import { type DatabaseServerSpec, databaseServerSpec } from '../api/database-server.js';
import { type StoreSpec, storeSpec } from '../api/store.js';
import { type StoreDatabaseSpec, type StoreDatabaseTemplateSpec, storeDatabaseSpec } from '../api/store-database.js';
import { type StorePlanSpec, storePlanSpec } from '../api/store-plan.js';
import { type StoreSchemaSpec, storeSchemaSpec } from '../api/store-schema.js';
import { specProblems } from '../schema/from-spec.js';
import { secretReferences } from '../stores/resolve-target.js';
import { manifestTooLarge, readYamlDocuments } from './read-yaml.js';

export interface Located<T> {
  name: string;
  spec: T;
  /** "file.yaml: document 2": where it was declared, for messages. */
  origin: string;
}

/** A DatabaseServer document: placement reads its labels too. */
export interface LocatedServer extends Located<DatabaseServerSpec> {
  labels: Record<string, string>;
}

export interface ManifestSet {
  stores: Array<Located<StoreSpec> & { labels: Record<string, string> }>;
  databases: Located<StoreDatabaseSpec>[];
  servers: LocatedServer[];
  /** StoreSchema versions (cluster-scoped), cross-checked (schema/from-spec.ts). */
  schemas: Located<StoreSchemaSpec>[];
  /** StorePlans (cluster-scoped): each plan's limits and enforcement, recorded in the master DB. */
  plans: Located<StorePlanSpec>[];
  secrets: Map<string, Record<string, string>>;
}

/** One store and the database spec it resolves to: the unit `storeop apply` reconciles. */
export interface StoreUnit {
  name: string;
  slug: string;
  spec: StoreSpec;
  /** metadata.labels: what StoreSchema rollout stages select. */
  labels: Record<string, string>;
  database: StoreDatabaseTemplateSpec;
  origin: string;
  /** Where the database spec is declared and its field path there, for messages about it:
   * the Store's `spec.database`, or the referenced StoreDatabase's `spec`. */
  databaseOrigin: string;
  databasePath: 'spec.database' | 'spec';
}

/** More problems than this are summed up in one line: a file with 20k unknown keys should not print 20k lines. */
const MAX_PROBLEMS = 50;

export class ManifestError extends Error {
  readonly problems: string[];

  constructor(problems: string[]) {
    const shown =
      problems.length > MAX_PROBLEMS
        ? [...problems.slice(0, MAX_PROBLEMS), `... and ${problems.length - MAX_PROBLEMS} more problems`]
        : problems;
    super(shown.join('\n'));
    this.name = 'ManifestError';
    this.problems = shown;
  }
}

const stringMap = z.record(z.string(), z.string());
/** ObjectMeta as kubectl validates it: a typo such as `metadata.lables` is an unknown field. */
const metadata = z.strictObject(
  {
    name: objectName,
    namespace: z.string().optional(),
    labels: stringMap.optional(),
    annotations: stringMap.optional(),
    generateName: z.string().optional(),
    uid: z.string().optional(),
    resourceVersion: z.string().optional(),
    generation: z.int().optional(),
    creationTimestamp: z.unknown().optional(),
    deletionTimestamp: z.unknown().optional(),
    deletionGracePeriodSeconds: z.int().optional(),
    finalizers: z.array(z.string()).optional(),
    ownerReferences: z.array(z.unknown()).optional(),
    managedFields: z.array(z.unknown()).optional(),
    selfLink: z.string().optional(),
  },
  { error: 'is required' },
);
const document = z.object({ apiVersion: z.string({ error: 'is required' }), kind: z.string({ error: 'is required' }), metadata });
/** The top-level fields each kind may have; any other is refused, as `kubectl apply` does. */
const RESOURCE_FIELDS = new Set(['apiVersion', 'kind', 'metadata', 'spec', 'status']);
const SECRET_FIELDS = new Set(['apiVersion', 'kind', 'metadata', 'data', 'stringData', 'type', 'immutable']);
const secretDoc = z.object({
  data: z.record(z.string(), z.string().regex(/^[A-Za-z0-9+/=\s]*$/, 'must be base64')).optional(),
  stringData: stringMap.optional(),
});

function issues(error: z.ZodError, prefix: string): string[] {
  return fieldIssues(error, prefix).map((i) => `${i.path}: ${i.message}`);
}

function unknownFields(raw: object, allowed: Set<string>): string[] {
  return Object.keys(raw)
    .filter((key) => !allowed.has(key))
    .map((key) => `${key}: unknown field`);
}

export function readSources(paths: string[], stdin: () => string): Array<{ origin: string; text: string }> {
  const sources: Array<{ origin: string; text: string }> = [];
  for (const path of paths) {
    if (path === '-') {
      sources.push({ origin: '<stdin>', text: stdin() });
      continue;
    }
    let stat: ReturnType<typeof statSync>;
    try {
      stat = statSync(path);
    } catch {
      throw new ManifestError([`${path}: no such file or directory`]);
    }
    const files = stat.isDirectory()
      ? readdirSync(path)
          .filter((f) => /\.ya?ml$/.test(f))
          .sort()
          .map((f) => join(path, f))
      : [path];
    for (const file of files) {
      // Checked before reading, so a huge file is never loaded; parseManifests checks the text again (stdin).
      const tooLarge = manifestTooLarge(statSync(file).size);
      if (tooLarge) throw new ManifestError([`${file}: ${tooLarge}`]);
      sources.push({ origin: file, text: readFileSync(file, 'utf8') });
    }
  }
  return sources;
}

export function parseManifests(sources: Array<{ origin: string; text: string }>): ManifestSet {
  const set: ManifestSet = { stores: [], databases: [], servers: [], schemas: [], plans: [], secrets: new Map() };
  const problems: string[] = [];
  const seen = new Map<string, string>();
  for (const { origin, text } of sources) {
    const read = readYamlDocuments(text);
    if ('problem' in read) {
      problems.push(`${origin}: ${read.problem}`);
      continue;
    }
    read.documents.forEach((doc, index) => {
      const where = `${origin}: document ${index + 1}`;
      if ('problem' in doc) {
        problems.push(`${where}: ${doc.problem}`);
        return;
      }
      const raw = doc.value;
      if (raw === null || raw === undefined) return; // an empty document between separators
      const proto = protoKeyPaths(raw);
      if (proto.length) {
        problems.push(...proto.map((p) => `${where}: ${p}: "__proto__" is not allowed as a key`));
        return;
      }
      const head = document.safeParse(raw);
      if (!head.success) {
        problems.push(...issues(head.error, '').map((p) => `${where}: ${p}`));
        return;
      }
      const { apiVersion, kind, metadata: meta } = head.data;
      const key = `${kind}/${meta.name}`;
      if (seen.has(key)) {
        problems.push(`${where}: metadata.name: ${key} is also declared in ${seen.get(key)}`);
        return;
      }
      seen.set(key, where);
      const located = where;
      const body = raw as { spec?: unknown };
      const resource =
        apiVersion === GROUP_VERSION &&
        (kind === 'Store' || kind === 'StoreDatabase' || kind === 'DatabaseServer' || kind === 'StoreSchema' || kind === 'StorePlan');
      const secret = apiVersion === 'v1' && kind === 'Secret';
      if (resource || secret) {
        const unknown = unknownFields(body, resource ? RESOURCE_FIELDS : SECRET_FIELDS);
        if (unknown.length) {
          problems.push(...unknown.map((p) => `${where} (${kind} ${meta.name}): ${p}`));
          return;
        }
      }
      if (apiVersion === GROUP_VERSION && kind === 'Store') {
        const parsed = storeSpec.safeParse(body.spec);
        const operatorOnly = parsed.success && parsed.data.database?.credentials ? 'spec.database.credentials' : undefined;
        if (operatorOnly) problems.push(`${where} (Store ${meta.name}): ${operatorOnly}: ${OPERATOR_ONLY_CREDENTIALS}`);
        else if (parsed.success) set.stores.push({ name: meta.name, spec: parsed.data, labels: meta.labels ?? {}, origin: located });
        else problems.push(...issues(parsed.error, 'spec').map((p) => `${where} (Store ${meta.name}): ${p}`));
      } else if (apiVersion === GROUP_VERSION && kind === 'StoreDatabase') {
        const parsed = storeDatabaseSpec.safeParse(body.spec);
        if (parsed.success && parsed.data.credentials)
          problems.push(`${where} (StoreDatabase ${meta.name}): spec.credentials: ${OPERATOR_ONLY_CREDENTIALS}`);
        else if (parsed.success) set.databases.push({ name: meta.name, spec: parsed.data, origin: located });
        else problems.push(...issues(parsed.error, 'spec').map((p) => `${where} (StoreDatabase ${meta.name}): ${p}`));
      } else if (apiVersion === GROUP_VERSION && kind === 'DatabaseServer') {
        const parsed = databaseServerSpec.safeParse(body.spec);
        if (parsed.success) set.servers.push({ name: meta.name, spec: parsed.data, labels: meta.labels ?? {}, origin: located });
        else problems.push(...issues(parsed.error, 'spec').map((p) => `${where} (DatabaseServer ${meta.name}): ${p}`));
      } else if (apiVersion === GROUP_VERSION && kind === 'StoreSchema') {
        const parsed = storeSchemaSpec.safeParse(body.spec);
        const found = parsed.success ? specProblems(parsed.data).map((p) => `${p.path}: ${p.message}`) : issues(parsed.error, 'spec');
        if (parsed.success && found.length === 0) set.schemas.push({ name: meta.name, spec: parsed.data, origin: located });
        else problems.push(...found.map((p) => `${where} (StoreSchema ${meta.name}): ${p}`));
      } else if (apiVersion === GROUP_VERSION && kind === 'StorePlan') {
        const parsed = storePlanSpec.safeParse(body.spec);
        const twin = parsed.success ? set.plans.find((p) => p.spec.plan === parsed.data.plan) : undefined;
        if (twin) problems.push(`${where} (StorePlan ${meta.name}): spec.plan: ${twin.spec.plan} is also set by StorePlan ${twin.name}`);
        else if (parsed.success) set.plans.push({ name: meta.name, spec: parsed.data, origin: located });
        else problems.push(...issues(parsed.error, 'spec').map((p) => `${where} (StorePlan ${meta.name}): ${p}`));
      } else if (apiVersion === 'v1' && kind === 'Secret') {
        const parsed = secretDoc.safeParse(raw);
        if (!parsed.success) {
          problems.push(...issues(parsed.error, '').map((p) => `${where} (Secret ${meta.name}): ${p}`));
          return;
        }
        // No prototype: a key such as "__proto__" or "constructor" is data like any other.
        const values: Record<string, string> = Object.create(null);
        for (const [k, v] of Object.entries(parsed.data.data ?? {})) values[k] = Buffer.from(v, 'base64').toString('utf8');
        Object.assign(values, parsed.data.stringData ?? {});
        set.secrets.set(meta.name, values);
      } else {
        problems.push(
          `${where}: ${apiVersion} ${kind} is not supported (expected ${GROUP_VERSION} Store, StoreDatabase, StoreSchema, StorePlan or DatabaseServer, or v1 Secret)`,
        );
      }
    });
  }
  if (problems.length) throw new ManifestError(problems);
  return set;
}

/**
 * Rotation and the read-only user keep their state in the StoreDatabase's status and Secrets, which only the
 * operator has: refused here rather than silently ignored.
 */
const OPERATOR_ONLY_CREDENTIALS =
  'is handled by the operator (storeop run): rotation and the read-only user keep their state in status and Secrets, which storeop apply does not have';

/** Pairs each Store with its database and checks the references between documents. */
export function storeUnits(set: ManifestSet): StoreUnit[] {
  const problems: string[] = [];
  const units: StoreUnit[] = [];
  const used = new Set<string>();
  for (const store of set.stores) {
    const slug = store.spec.slug ?? store.name;
    let database: StoreDatabaseTemplateSpec | undefined;
    let databaseOrigin = `${store.origin} (Store ${store.name})`;
    let databasePath: StoreUnit['databasePath'] = 'spec.database';
    if (Boolean(store.spec.database) === Boolean(store.spec.databaseRef)) {
      problems.push(`${store.origin} (Store ${store.name}): spec: set exactly one of database (inline) and databaseRef`);
      continue;
    }
    if (store.spec.database) {
      database = store.spec.database;
    } else {
      const refName = store.spec.databaseRef?.name as string;
      const ref = set.databases.find((d) => d.name === refName);
      if (!ref) {
        problems.push(`${store.origin} (Store ${store.name}): spec.databaseRef.name: StoreDatabase ${refName} is not in the manifests`);
        continue;
      }
      if (ref.spec.storeRef.name !== store.name) {
        problems.push(
          `${ref.origin} (StoreDatabase ${ref.name}): spec.storeRef.name: names ${ref.spec.storeRef.name}, but Store ${store.name} refers to it`,
        );
        continue;
      }
      used.add(ref.name);
      const { storeRef: _storeRef, ...template } = ref.spec;
      database = template;
      databaseOrigin = `${ref.origin} (StoreDatabase ${ref.name})`;
      databasePath = 'spec';
    }
    for (const { field, name } of secretReferences(database)) {
      if (!set.secrets.has(name)) problems.push(`${databaseOrigin}: ${databasePath}.${field}: Secret ${name} is not in the manifests`);
    }
    units.push({
      name: store.name,
      slug,
      spec: store.spec,
      labels: store.labels,
      database,
      origin: store.origin,
      databaseOrigin,
      databasePath,
    });
  }
  for (const db of set.databases) {
    if (!used.has(db.name))
      problems.push(`${db.origin} (StoreDatabase ${db.name}): no Store in the manifests refers to it through spec.databaseRef`);
  }
  const slugs = new Map<string, string>();
  for (const unit of units) {
    const other = slugs.get(unit.slug);
    if (other) problems.push(`${unit.origin} (Store ${unit.name}): spec.slug: ${unit.slug} is also used by Store ${other}`);
    slugs.set(unit.slug, unit.name);
  }
  if (problems.length) throw new ManifestError(problems);
  return units;
}
