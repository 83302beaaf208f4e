// Console sessions, kept on the server: the browser holds only a random session id (in an HttpOnly cookie),
// never the API token it signed in with. Each session carries its CSRF token and expires after a fixed
// lifetime and after a time without use, whichever comes first.
import { randomBytes, timingSafeEqual } from 'node:crypto';

export interface Session {
  id: string;
  /** The configured name of the API token that signed in (for audit rows and logs; never the token). */
  tokenName: string;
  /** Sent back in every form and in the X-CSRF-Token header of script requests. */
  csrf: string;
  createdAt: number;
  lastSeenAt: number;
}

export interface SessionLifetimes {
  /** A session ends this long after sign-in, however active (default 8 hours). */
  absoluteMs?: number;
  /** A session ends after this long without a request (default 30 minutes). */
  idleMs?: number;
}

const MAX_SESSIONS = 10_000;
const newSecret = () => randomBytes(32).toString('base64url');

export class SessionStore {
  readonly #sessions = new Map<string, Session>();
  readonly absoluteMs: number;
  readonly idleMs: number;

  constructor(
    lifetimes: SessionLifetimes = {},
    private readonly now: () => number = Date.now,
  ) {
    this.absoluteMs = lifetimes.absoluteMs ?? 8 * 3_600_000;
    this.idleMs = lifetimes.idleMs ?? 30 * 60_000;
  }

  create(tokenName: string): Session {
    if (this.#sessions.size >= MAX_SESSIONS) this.#sweep();
    const at = this.now();
    const session: Session = { id: newSecret(), tokenName, csrf: newSecret(), createdAt: at, lastSeenAt: at };
    this.#sessions.set(session.id, session);
    return session;
  }

  /** The live session with this id (its idle timer restarted), or undefined when unknown or expired. */
  touch(id: string | undefined): Session | undefined {
    if (!id) return undefined;
    const session = this.#sessions.get(id);
    if (!session) return undefined;
    const at = this.now();
    if (this.#expired(session, at)) {
      this.#sessions.delete(id);
      return undefined;
    }
    session.lastSeenAt = at;
    return session;
  }

  /** Whether the session is still live, without counting this as use (a live-update stream is not activity). */
  alive(id: string): boolean {
    const session = this.#sessions.get(id);
    return session !== undefined && !this.#expired(session, this.now());
  }

  end(id: string | undefined): void {
    if (id) this.#sessions.delete(id);
  }

  /** Whether `presented` is the session's CSRF token (compared in constant time). */
  static csrfMatches(session: Session, presented: string | undefined): boolean {
    if (!presented) return false;
    const a = Buffer.from(session.csrf);
    const b = Buffer.from(presented);
    return a.length === b.length && timingSafeEqual(a, b);
  }

  #expired(session: Session, at: number): boolean {
    return at - session.createdAt > this.absoluteMs || at - session.lastSeenAt > this.idleMs;
  }

  #sweep(): void {
    const at = this.now();
    for (const [id, session] of this.#sessions) if (this.#expired(session, at)) this.#sessions.delete(id);
  }
}
