// The console's browser-facing protections: response headers (a strict Content-Security-Policy that allows
// only storeop's own script and style files, no framing, no sniffing, no caching of pages that show
// stores), the session cookie, and the CSRF check every state-changing request passes.
import type { Context, MiddlewareHandler } from 'hono';
import { deleteCookie, getCookie, setCookie } from 'hono/cookie';
import { type Session, SessionStore } from './session.js';

export const SESSION_COOKIE = 'storeop_session';
export const CSRF_FIELD = '_csrf';
export const CSRF_HEADER = 'x-csrf-token';

/** No inline script or style at all: every script and style is a file storeop serves itself. */
export const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self'",
  "connect-src 'self'",
  "form-action 'self'",
  "frame-ancestors 'none'",
  "base-uri 'none'",
].join('; ');

export const securityHeaders: MiddlewareHandler = async (c, next) => {
  await next();
  c.header('Content-Security-Policy', CONTENT_SECURITY_POLICY);
  c.header('X-Content-Type-Options', 'nosniff');
  c.header('X-Frame-Options', 'DENY');
  // same-origin, not no-referrer: under no-referrer Chromium sends "Origin: null" with form posts, which the CSRF check refuses.
  c.header('Referrer-Policy', 'same-origin');
  c.header('Cross-Origin-Opener-Policy', 'same-origin');
  if (!c.res.headers.has('Cache-Control')) c.header('Cache-Control', 'no-store');
};

/** Whether the browser reached us over HTTPS (directly or through a proxy that says so). */
function overHttps(c: Context): boolean {
  return new URL(c.req.url).protocol === 'https:' || c.req.header('x-forwarded-proto') === 'https';
}

export function setSessionCookie(c: Context, session: Session, store: SessionStore): void {
  setCookie(c, SESSION_COOKIE, session.id, {
    httpOnly: true,
    sameSite: 'Strict',
    path: '/',
    secure: overHttps(c),
    maxAge: Math.floor(store.absoluteMs / 1000),
  });
}

export function clearSessionCookie(c: Context): void {
  deleteCookie(c, SESSION_COOKIE, { path: '/', httpOnly: true, sameSite: 'Strict', secure: overHttps(c) });
}

export function sessionIdOf(c: Context): string | undefined {
  return getCookie(c, SESSION_COOKIE);
}

/**
 * A state change must carry the session's CSRF token (form field or header) and, when the browser says
 * where it comes from, come from this origin. SameSite=Strict already keeps the cookie off cross-site
 * requests; this is the second lock.
 */
export function csrfAccepted(c: Context, session: Session, formToken: string | undefined): boolean {
  const origin = c.req.header('origin');
  if (origin && origin !== new URL(c.req.url).origin) return false;
  return SessionStore.csrfMatches(session, formToken ?? c.req.header(CSRF_HEADER));
}
