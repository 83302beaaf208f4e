// One validated description of what a Store (with its database spec and the Secrets it references) asks
// for: every default applied and the slug checked before anything is written. storeop apply, the API and
// the controller all build it here, so the same manifest means the same thing in each of them.
import { DEFAULT_SETTINGS, type StoreSpec, storeSpec } from '../api/store.js';
import { type StoreDatabaseTemplateSpec, storeDatabaseTemplateSpec } from '../api/store-database.js';
import type { DatabaseTarget } from '../engines/target.js';
import { isStoreopError, StoreopError } from '../errors.js';
import type { StoreDeclaration } from '../master/stores.js';
import { slugSchema } from '../naming.js';
import type { SeedSettings } from '../provisioning/seed.js';
import { type DatabaseIdentity, identityOf } from './identity.js';
import { type Resolution, resolveStaged } from './resolve-staged.js';
import type { SecretReader } from './resolve-target.js';

export { DEFAULT_SETTINGS };

export type DeletionPolicy = 'Retain' | 'Delete';

/** A store as declared, without its database target (which may need Secrets, or steps: Supabase). */
export interface StoreDescription {
  slug: string;
  declaration: StoreDeclaration & { source: string };
  seed: false | SeedSettings;
  database: StoreDatabaseTemplateSpec;
  identity: DatabaseIdentity;
  suspend: boolean;
  deletionPolicy: DeletionPolicy;
  /** The Store's spec.region: placement keeps to DatabaseServers labelled with it. */
  region?: string | undefined;
}

/**
 * A store and the database target it resolves to: what the store service applies. A staged engine
 * (Supabase) has no target until its project is ready: `resolution` then says how to prepare it.
 */
export interface StoreIntent extends StoreDescription {
  resolution: Resolution;
}

/** The intent for a store whose database target is known: its resolution and identity both follow from it. */
export function intentForTarget(description: StoreDescription, target: DatabaseTarget): StoreIntent {
  return { ...description, resolution: { kind: 'target', target }, identity: identityOf(description.database, target) };
}

/** The intent's database target when it is known up front: for every engine but a staged one. */
export function knownTarget(intent: Pick<StoreIntent, 'resolution'>): DatabaseTarget | undefined {
  return intent.resolution.kind === 'target' ? intent.resolution.target : undefined;
}

export interface IntentInput {
  /** metadata.name of the Store (the API: the requested slug); the slug unless spec.slug is set. */
  name: string;
  /** The Store spec, validated here (defaults filled in). */
  spec: unknown;
  /** The database spec (inline, or the referenced StoreDatabase's without storeRef), validated here. */
  database: unknown;
  /** Who declares the store: "apply", "api", "kubernetes:ns/name"; another source's slug is a conflict. */
  source: string;
  /** Where the database spec lives, for messages: "spec.database" (inline) or "spec" (a StoreDatabase). */
  databasePath?: string;
}

const invalid = (message: string) => new StoreopError('InvalidSpec', message, { retryable: false });

function firstIssue(error: { issues: Array<{ path: PropertyKey[]; message: string }> }, prefix: string): string {
  const issue = error.issues[0];
  return `${[prefix, ...(issue?.path ?? []).map(String)].join('.')}: ${issue?.message}`;
}

/** The store's slug: spec.slug, else metadata.name; checked before anything is written (InvalidSpec naming the field). */
export function storeSlug(name: string, spec: Pick<StoreSpec, 'slug'>): string {
  const parsed = slugSchema.safeParse(spec.slug ?? name);
  if (parsed.success) return parsed.data;
  const field = spec.slug === undefined ? 'metadata.name' : 'spec.slug';
  throw invalid(
    `${field}: ${JSON.stringify(spec.slug ?? name)} is not a valid store slug: ${parsed.error.issues[0]?.message}${spec.slug === undefined ? '; set spec.slug' : ''}`,
  );
}

/** The store's row in the master DB as a validated Store spec declares it. */
export function storeDeclaration(slug: string, spec: StoreSpec, source: string): StoreDeclaration & { source: string } {
  return { slug, name: spec.displayName, ownerEmail: spec.owner, plan: spec.plan, source };
}

/** Validates a Store and its database spec into a description; throws InvalidSpec naming the field. */
export function describeStore(input: IntentInput): StoreDescription {
  const parsed = storeSpec.safeParse(input.spec);
  if (!parsed.success) throw invalid(firstIssue(parsed.error, 'spec'));
  const spec: StoreSpec = parsed.data;
  const databasePath = input.databasePath ?? 'spec.database';
  const slug = storeSlug(input.name, spec);
  const db = storeDatabaseTemplateSpec.safeParse(input.database);
  if (!db.success) throw invalid(firstIssue(db.error, databasePath));
  const database = db.data;
  return {
    slug,
    declaration: storeDeclaration(slug, spec, input.source),
    seed: database.seed
      ? {
          currency: spec.settings?.currency ?? DEFAULT_SETTINGS.currency,
          locale: spec.settings?.locale ?? DEFAULT_SETTINGS.locale,
          displayName: spec.displayName,
        }
      : false,
    database,
    identity: identityOf(database),
    suspend: spec.suspend,
    deletionPolicy: database.deletionPolicy,
    ...(spec.region ? { region: spec.region } : {}),
  };
}

/**
 * describeStore, plus the database target resolved with the referenced Secrets. A missing Secret is an
 * InvalidSpec that stays retryable (it may appear); field names are relative to `databasePath`.
 */
export async function buildIntent(
  input: IntentInput & { readSecret: SecretReader; home: string; defaults?: { supabaseApiUrl?: string | undefined } | undefined },
): Promise<StoreIntent> {
  const description = describeStore(input);
  const databasePath = input.databasePath ?? 'spec.database';
  let resolution: Resolution;
  try {
    resolution = await resolveStaged(description.database, input.readSecret, {
      home: input.home,
      slug: description.slug,
      ...(input.defaults ? { defaults: input.defaults } : {}),
    });
  } catch (error) {
    if (!isStoreopError(error, 'InvalidSpec')) throw error;
    throw new StoreopError('InvalidSpec', error.message.replace(/^spec\./, `${databasePath}.`), { retryable: error.retryable });
  }
  return resolution.kind === 'staged' ? { ...description, resolution } : intentForTarget(description, resolution.target);
}
