// resolveTarget for every engine: a target at once, or, for an engine made in stages (Supabase: the
// project first), a description of what to prepare. The spec and its Secrets are checked here either way,
// so a driver refuses a bad manifest or request before it creates anything.

import type { StoreDatabaseTemplateSpec } from '../api/store-database.js';
import type { Engine } from '../engines/engine.js';
import { engineFor } from '../engines/index.js';
import type { PrepareContext, Stage } from '../engines/staged.js';
import { supabaseSettingsFor } from '../engines/supabase/stage.js';
import type { DatabaseTarget, EngineName } from '../engines/target.js';
import { type ResolveOptions, resolveTarget, type SecretReader } from './resolve-target.js';

/** What a staged engine still needs from the driver: where it keeps secrets and carry, and how often to ask. */
export type StageHooks = Omit<PrepareContext, 'slug' | 'read'>;

export type Resolution =
  | { kind: 'target'; target: DatabaseTarget }
  | { kind: 'staged'; engine: EngineName; slug: string; prepare(hooks: StageHooks): Promise<Stage> };

export interface ResolveStagedOptions extends ResolveOptions {
  defaults?: { supabaseApiUrl?: string | undefined };
}

export async function resolveStaged(
  spec: StoreDatabaseTemplateSpec,
  read: SecretReader,
  options: ResolveStagedOptions,
): Promise<Resolution> {
  const engine: Engine = engineFor(spec.engine);
  if (!engine.prepare) return { kind: 'target', target: await resolveTarget(spec, read, options) };
  // Fails now on a missing field or Secret (InvalidSpec naming it), not later inside a job.
  if (spec.engine === 'supabase') await supabaseSettingsFor(spec, { read, defaults: options.defaults });
  const prepare = engine.prepare.bind(engine);
  return {
    kind: 'staged',
    engine: spec.engine,
    slug: options.slug,
    prepare: (hooks) => prepare(spec, { ...hooks, slug: options.slug, read }),
  };
}
