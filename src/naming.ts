// Names of a store's database, schema, role and user, derived from its slug. Slugs are validated here,
// before any SQL, so nothing user-supplied reaches SQL text unvalidated (names are also always quoted).
import { createHash } from 'node:crypto';
import { z } from 'zod';
import { StoreopError } from './errors.js';

export const SLUG_PATTERN = /^[a-z][a-z0-9-]{1,40}$/;
/** A SQL identifier storeop creates or accepts: lowercase, digits, underscores; fits PostgreSQL's 63 bytes. */
export const IDENTIFIER_PATTERN = /^[a-z_][a-z0-9_]{0,62}$/;
/** MySQL/MariaDB user names are at most 32 characters. */
const MYSQL_USER_MAX = 32;

export const slugSchema = z
  .string()
  .regex(SLUG_PATTERN, 'must be 2-41 characters of lowercase letters, digits and "-", starting with a letter');
export const identifierSchema = z
  .string()
  .regex(IDENTIFIER_PATTERN, 'must be 1-63 characters of lowercase letters, digits and "_", not starting with a digit');

export function assertSlug(slug: string): string {
  const parsed = slugSchema.safeParse(slug);
  if (!parsed.success)
    throw new StoreopError('InvalidSpec', `invalid store slug ${JSON.stringify(slug)}: ${parsed.error.issues[0]?.message}`);
  return parsed.data;
}

export function assertIdentifier(name: string, what: string): string {
  const parsed = identifierSchema.safeParse(name);
  if (!parsed.success) throw new StoreopError('InvalidSpec', `invalid ${what} ${JSON.stringify(name)}: ${parsed.error.issues[0]?.message}`);
  return parsed.data;
}

export interface StoreNames {
  /** Database (database isolation, MySQL) or schema (schema isolation) of the store. */
  database: string;
  schema: string;
  /** PostgreSQL role. */
  role: string;
  /** MySQL/MariaDB user (at most 32 characters). */
  mysqlUser: string;
  /**
   * The read-only role and user (credentials.readOnlyUser). `ro_store_...` never equals another store's
   * `store_...` name, whatever its slug.
   */
  readOnlyRole: string;
  mysqlReadOnlyUser: string;
}

export function storeNames(slug: string): StoreNames {
  const base = `store_${assertSlug(slug).replaceAll('-', '_')}`;
  return {
    database: base,
    schema: base,
    role: base,
    mysqlUser: shortName(base, MYSQL_USER_MAX),
    readOnlyRole: `ro_${base}`,
    mysqlReadOnlyUser: shortName(`ro_${base}`, MYSQL_USER_MAX),
  };
}

/** A stable name within `max` characters: kept whole when it fits, else a prefix plus a hash of the whole. */
export function shortName(name: string, max: number): string {
  if (name.length <= max) return name;
  const hash = createHash('sha256').update(name).digest('hex').slice(0, 8);
  return `${name.slice(0, max - hash.length - 1)}_${hash}`;
}
