/** @jsxRuntime automatic @jsxImportSource hono/jsx */
// The web console, served by `storeop api` and `storeop run --api-bind-address` at / (the JSON API stays
// under /v1): sign-in with an API token for a server-side session, the stores, one store, a new store with
// its job's progress, and the rollouts. Server-rendered (Hono JSX) with one small script for live updates.
import { Hono } from 'hono';
import { z } from 'zod';
import { strictObject } from '../../api/common.js';
import type { Logger } from '../../log.js';
import { recordAudit } from '../../master/audit.js';
import { applyResume, setPaused } from '../../master/rollouts.js';
import type { MasterContext } from '../../stores/provision-store.js';
import type { TokenVerifier } from '../auth.js';
import type { Provisioner } from '../provisioner.js';
import { RateLimiter } from '../rate-limit.js';
import { CONSOLE_JS } from './assets-script.js';
import { CONSOLE_CSS } from './assets-style.js';
import { addressOf, type ConsoleEnv, type ConsoleServices, readForm, sessionOf } from './context.js';
import { ErrorPage } from './error-page.js';
import { RolloutsPage } from './pages/rollouts.js';
import { SignInPage } from './pages/sign-in.js';
import { rolloutViews } from './queries.js';
import { clearSessionCookie, csrfAccepted, securityHeaders, sessionIdOf, setSessionCookie } from './security.js';
import { type SessionLifetimes, SessionStore } from './session.js';
import { StoreContentsReader } from './store-contents.js';
import { storeRoutes } from './store-routes.js';

export interface ConsoleOptions {
  master: MasterContext;
  tokens: TokenVerifier;
  provisioner: Provisioner;
  log: Logger;
  /** Sign-in attempts a minute per address (default 10): a token cannot be guessed through the form. */
  signInPerMinute?: number;
  sessions?: SessionLifetimes;
}

/** Console paths reachable without a session. */
const PUBLIC_PATHS = new Set(['/sign-in', '/assets/console.css', '/assets/console.js']);

/**
 * The paths the console answers. Its middleware leaves every other path alone: the JSON API under /v1 and
 * whatever else the server mounts (/healthz, /metrics) keep their own answers, a 404 included.
 */
export function isConsolePath(path: string): boolean {
  return path === '/' || /^\/(stores|jobs|events|rollouts|assets|sign-in|sign-out)(\/|$)/.test(path);
}

const signInForm = strictObject({ token: z.string().min(1, 'is required').max(4096) });
const rolloutName = z
  .string()
  .regex(/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/)
  .max(253);

export function createConsole(options: ConsoleOptions): Hono<ConsoleEnv> {
  const app = new Hono<ConsoleEnv>();
  const sessions = new SessionStore(options.sessions);
  const services: ConsoleServices = {
    master: options.master,
    tokens: options.tokens,
    provisioner: options.provisioner,
    log: options.log,
    sessions,
    contents: new StoreContentsReader(options.master.master, options.master.keyring),
  };
  const db = options.master.master.db;
  const signIns = new RateLimiter(options.signInPerMinute ?? 10);

  app.use('*', async (c, next) => (isConsolePath(c.req.path) ? securityHeaders(c, next) : next()));

  const asset = (body: string, type: string) => () =>
    new Response(body, { headers: { 'Content-Type': type, 'Cache-Control': 'public, max-age=300' } });
  app.get('/assets/console.css', asset(CONSOLE_CSS, 'text/css; charset=utf-8'));
  app.get('/assets/console.js', asset(CONSOLE_JS, 'text/javascript; charset=utf-8'));

  app.get('/sign-in', (c) => c.html(<SignInPage />));
  app.post('/sign-in', async (c) => {
    const wait = signIns.take(addressOf(c));
    if (wait !== undefined) {
      c.header('Retry-After', String(wait));
      return c.html(<SignInPage error={`Too many sign-in attempts: try again in ${wait} s.`} />, 429);
    }
    const origin = c.req.header('origin');
    if (origin && origin !== new URL(c.req.url).origin) return c.html(<SignInPage error="Sign in from this console's own page." />, 403);
    const read = await readForm(c);
    if (!read.ok) return c.html(<SignInPage error={read.message} />, read.status);
    const parsed = signInForm.safeParse(read.fields);
    const tokenName = parsed.success ? options.tokens.identify(parsed.data.token) : undefined;
    if (!tokenName) return c.html(<SignInPage error="That token is not accepted." />, 401);
    sessions.end(sessionIdOf(c)); // a new session id at every sign-in (no fixation)
    const session = sessions.create(tokenName);
    setSessionCookie(c, session, sessions);
    c.set('tokenName', tokenName);
    await recordAudit(db, { actor: `console:${tokenName}`, action: 'console.signed-in', targetType: 'console' }).catch(() => undefined);
    return c.redirect('/', 303);
  });

  // Every other console page needs a live session; pages send the browser to sign in, streams get a 401.
  app.use('*', async (c, next) => {
    if (PUBLIC_PATHS.has(c.req.path) || !isConsolePath(c.req.path)) return next();
    const session = sessions.touch(sessionIdOf(c));
    if (!session) {
      clearSessionCookie(c);
      if (c.req.method === 'GET' && !c.req.path.startsWith('/events/')) return c.redirect('/sign-in', 303);
      return c.html(<ErrorPage title="Signed out" message="Your session has ended: sign in again." />, 401);
    }
    c.set('session', session);
    c.set('tokenName', session.tokenName);
    return next();
  });

  app.post('/sign-out', async (c) => {
    const session = sessionOf(c);
    const read = await readForm(c);
    if (!read.ok || !csrfAccepted(c, session, read.fields._csrf))
      return c.html(<ErrorPage session={session} title="Form expired" message="Reload the page and sign out again." />, 403);
    sessions.end(session.id);
    clearSessionCookie(c);
    return c.redirect('/sign-in', 303);
  });

  storeRoutes(app, services);

  app.get('/rollouts', async (c) => {
    const done = c.req.query('done');
    const notice = done === 'paused' ? 'Rollout paused.' : done === 'resumed' ? 'Rollout resumed.' : undefined;
    return c.html(<RolloutsPage session={sessionOf(c)} rollouts={await rolloutViews(db)} notice={notice} />);
  });
  for (const action of ['pause', 'resume'] as const) {
    app.post(`/rollouts/:schema/${action}`, async (c) => {
      const session = sessionOf(c);
      const read = await readForm(c);
      if (!read.ok || !csrfAccepted(c, session, read.fields._csrf))
        return c.html(<ErrorPage session={session} title="Form expired" message="Reload the page and try again." />, 403);
      const name = rolloutName.safeParse(c.req.param('schema'));
      const found =
        name.success &&
        (action === 'pause'
          ? await setPaused(db, name.data, true)
          : await applyResume(db, name.data, `console:${new Date().toISOString()}`));
      if (!found)
        return c.html(<ErrorPage session={session} title="No such rollout" message="There is no rollout of this StoreSchema." />, 404);
      await recordAudit(db, {
        actor: `console:${session.tokenName}`,
        action: `rollout.${action}`,
        targetType: 'store_schema',
        targetId: name.data,
      }).catch(() => undefined);
      return c.redirect(`/rollouts?done=${action === 'pause' ? 'paused' : 'resumed'}`, 303);
    });
  }
  return app;
}
