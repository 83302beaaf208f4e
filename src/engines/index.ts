import { StoreopError } from '../errors.js';
import type { Engine } from './engine.js';
import { MysqlEngine } from './mysql.js';
import { PgliteEngine } from './pglite.js';
import { PostgresEngine } from './postgres.js';
import { SupabaseEngine } from './supabase/engine.js';
import type { EngineName } from './target.js';

const engines: Record<EngineName, Engine> = {
  postgresql: new PostgresEngine(),
  mysql: new MysqlEngine(),
  pglite: new PgliteEngine(),
  supabase: new SupabaseEngine(),
};

export function engineFor(name: EngineName): Engine {
  const engine = engines[name];
  if (!engine) throw new StoreopError('InvalidSpec', `unknown engine ${JSON.stringify(name)}`);
  return engine;
}
