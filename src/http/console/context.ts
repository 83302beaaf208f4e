// What every console route shares: its Hono environment, its services, form reading and error pages.
import type { HttpBindings } from '@hono/node-server';
import type { Context } from 'hono';
import type { Logger } from '../../log.js';
import type { MasterContext } from '../../stores/provision-store.js';
import type { TokenVerifier } from '../auth.js';
import type { Provisioner } from '../provisioner.js';
import type { Session, SessionStore } from './session.js';
import type { StoreContentsReader } from './store-contents.js';

export type ConsoleEnv = { Bindings: HttpBindings; Variables: { tokenName?: string; session?: Session } };
export type ConsoleContext = Context<ConsoleEnv>;

export interface ConsoleServices {
  master: MasterContext;
  tokens: TokenVerifier;
  provisioner: Provisioner;
  log: Logger;
  sessions: SessionStore;
  contents: StoreContentsReader;
}

/** Forms are small: anything larger is refused before it is read into memory. */
export const FORM_LIMIT_BYTES = 64 * 1024;

export type FormRead = { ok: true; fields: Record<string, string> } | { ok: false; status: 400 | 413 | 415; message: string };

/** An urlencoded form body as plain fields: a repeated field is an error (no silent last-one-wins). */
export async function readForm(c: ConsoleContext): Promise<FormRead> {
  const type = c.req.header('content-type') ?? '';
  if (!type.toLowerCase().startsWith('application/x-www-form-urlencoded'))
    return { ok: false, status: 415, message: 'the form must be sent as application/x-www-form-urlencoded' };
  const declared = Number(c.req.header('content-length') ?? '0');
  if (declared > FORM_LIMIT_BYTES) return { ok: false, status: 413, message: `the form is larger than ${FORM_LIMIT_BYTES} bytes` };
  const text = await c.req.text();
  if (Buffer.byteLength(text) > FORM_LIMIT_BYTES)
    return { ok: false, status: 413, message: `the form is larger than ${FORM_LIMIT_BYTES} bytes` };
  const fields: Record<string, string> = {};
  for (const [key, value] of new URLSearchParams(text)) {
    if (Object.hasOwn(fields, key)) return { ok: false, status: 400, message: `the field ${key.slice(0, 64)} appears more than once` };
    Object.defineProperty(fields, key, { value, enumerable: true, writable: true, configurable: true });
  }
  return { ok: true, fields };
}

export function sessionOf(c: ConsoleContext): Session {
  const session = c.get('session');
  if (!session) throw new Error('console route reached without a session');
  return session;
}

/** The remote address, for per-address limits. */
export const addressOf = (c: ConsoleContext) => c.env?.incoming?.socket?.remoteAddress ?? 'unknown';
