// What PostgreSQL and MySQL create mode share about where a store lives on a server: which targets are
// create-mode ones, the address apps reach a store at, and the cap on a store's connections. The layouts
// and admin statements differ per engine (postgres-place.ts, mysql-place.ts).
import { StoreopError } from '../errors.js';
import { storeNames } from '../naming.js';
import type { CreateTarget, DatabaseTarget } from './target.js';

/** Connections a store's role (PostgreSQL) or user (MySQL) may hold when the spec sets no connectionLimit. */
const DEFAULT_CONNECTION_LIMIT = 50;

const ENGINE_LABEL: Record<CreateTarget['engine'], string> = { postgresql: 'PostgreSQL', mysql: 'MySQL' };

/** The target as a create-mode target of `engine`; otherwise InvalidSpec naming the operation (`what`). */
export function createTargetOf(engine: CreateTarget['engine'], target: DatabaseTarget, what: string): CreateTarget {
  if (target.engine !== engine || target.mode !== 'create')
    throw new StoreopError('InvalidSpec', `${what} needs a ${ENGINE_LABEL[engine]} target in create mode`);
  return target;
}

/** Where apps reach a store on the server: the public address when the spec sets one (a proxy, a NodePort), else the admin's. */
export function publicAddress(target: CreateTarget): { host: string; port: number } {
  return { host: target.publicHost ?? target.admin.host, port: target.publicPort ?? target.admin.port };
}

/** The store's connection cap, as a number: it is written into the statement text, not passed as a parameter. */
export function connectionLimit(target: CreateTarget): number {
  return Number(target.connectionLimit ?? DEFAULT_CONNECTION_LIMIT);
}

/** The store's read-only role (PostgreSQL) or user (MySQL, at most 32 characters): see naming.ts. */
export function readOnlyUserName(target: CreateTarget, slug: string): string {
  const names = storeNames(slug);
  return target.engine === 'mysql' ? names.mysqlReadOnlyUser : names.readOnlyRole;
}
