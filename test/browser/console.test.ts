// The web console in a real browser: Debian's headless Chromium (driven by playwright-core) against a real
// `storeop api` child process on the embedded default master, creating stores on the embedded engine, on
// the local PostgreSQL server and connecting an existing MariaDB database. Everything is checked from the
// outside: what the page shows, what the browser sent, and the databases read with the test's own SQL.
// One browser and one API process for the whole file (the console's tests must stay cheap in CI).
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ApiProcess, killApiProcesses, sha256, startApiProcess, storeopFreeEnv } from '../support/api-process.js';
import { createMysqlDatabase, type TempDatabase } from '../support/databases.js';
import { repoRoot } from '../support/paths.js';
import { dropStoreLeftovers, openMysql, postgresAdmin, storeName, withStoreDb } from '../support/store-db.js';

const TOKEN = randomBytes(24).toString('hex');
const HOSTILE_HTML = '<img src=x onerror=alert(1)>';
const HOSTILE_SQL = '"; DROP TABLE stores; --';
const ARTIFACTS = join(repoRoot, 'test-artifacts', 'console');
const AXE_SOURCE = readFileSync(join(repoRoot, 'node_modules/axe-core/axe.min.js'), 'utf8');
const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
// A store job on two loaded cores (other engineers' tests run beside these) may take a while.
const READY_WITHIN_MS = 240_000;
/** A page reacting to input or a live update (SSE every second) on a loaded machine. */
const UI_WITHIN_MS = 60_000;
const WIDE = { width: 1280, height: 900 };
const NARROW = { width: 375, height: 812 };

const suffix = randomBytes(4).toString('hex');
const slugs = { embedded: `cons-emb-${suffix}`, postgres: `cons-pg-${suffix}`, connected: `cons-my-${suffix}` };

let api: ApiProcess;
let browser: Browser;
let context: BrowserContext;
let page: Page;
let home: string;
let foreign: TempDatabase | undefined;
/** Everything the browser sent after signing in: URL, headers and body of each request. */
const sentAfterSignIn: Array<Promise<string>> = [];
let signedIn = false;
/** Dialogs (alert) would mean a hostile string ran as script. */
const dialogs: string[] = [];
const jobPages: string[] = [];

async function screenshots(name: string): Promise<void> {
  mkdirSync(ARTIFACTS, { recursive: true });
  await page.setViewportSize(NARROW);
  await page.screenshot({ path: join(ARTIFACTS, `${name}-narrow.png`), fullPage: true });
  await page.setViewportSize(WIDE);
  await page.screenshot({ path: join(ARTIFACTS, `${name}-wide.png`), fullPage: true });
}

async function axeViolations(target: Page): Promise<string[]> {
  // Evaluated through the DevTools protocol, which the page's CSP does not govern (no inline script is allowed).
  await target.evaluate(AXE_SOURCE);
  // A string, evaluated in the page: the test's TypeScript has no DOM types.
  return target.evaluate<string[]>(
    "axe.run(document).then((r) => r.violations.map((v) => v.id + ' (' + v.nodes.length + ' nodes): ' + v.help))",
  );
}

/** Submits the new-store form and waits on the job page until the job ends; returns the job page's URL. */
async function createThroughForm(fill: () => Promise<void>): Promise<string> {
  await page.goto(`${api.url}/stores/new`);
  await fill();
  await Promise.all([page.waitForURL(/\/jobs\/[0-9a-f-]{36}$/), page.getByRole('button', { name: 'Create store' }).click()]);
  const url = page.url();
  jobPages.push(url);
  await page.locator('#job-done').waitFor({ state: 'visible', timeout: READY_WITHIN_MS });
  expect(await page.evaluate("document.getElementById('job-progress').value")).toBe(100);
  return url;
}

async function phaseOf(slug: string): Promise<string> {
  await page.goto(`${api.url}/stores/${slug}`);
  return (await page.locator('#store-phase').textContent()) ?? '';
}

describe('the web console in headless Chromium', () => {
  beforeAll(async () => {
    home = mkdtempSync(join(tmpdir(), 'storeop-console-'));
    [api, browser] = await Promise.all([
      startApiProcess({
        args: ['--home', home, '--rate-limit', '1000000'],
        env: storeopFreeEnv({ STOREOP_API_TOKEN_HASHES: `${sha256(TOKEN)} console-browser` }),
      }),
      chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROMIUM_ARGS }),
    ]);
    context = await browser.newContext({ viewport: WIDE });
    page = await context.newPage();
    page.setDefaultTimeout(UI_WITHIN_MS);
    page.setDefaultNavigationTimeout(UI_WITHIN_MS);
    page.on('dialog', (dialog) => {
      dialogs.push(dialog.message());
      void dialog.dismiss();
    });
    page.on('request', (request) => {
      if (signedIn)
        sentAfterSignIn.push(request.allHeaders().then((headers) => JSON.stringify([request.url(), headers, request.postData()])));
    });
  });

  afterAll(async () => {
    await browser?.close();
    await api?.stop();
    killApiProcesses();
    await dropStoreLeftovers('postgresql', slugs.postgres).catch(() => undefined);
    await foreign?.drop();
    if (home) rmSync(home, { recursive: true, force: true });
  });

  it('sends a visitor to sign in, refuses a wrong token and sets no session cookie', async () => {
    await page.goto(`${api.url}/`);
    expect(new URL(page.url()).pathname).toBe('/sign-in');
    await screenshots('sign-in');
    await page.getByLabel('API token').fill(`${TOKEN}x`);
    const [answer] = await Promise.all([
      page.waitForResponse((r) => r.url().endsWith('/sign-in') && r.request().method() === 'POST'),
      page.keyboard.press('Enter'),
    ]);
    expect(answer.status()).toBe(401);
    await expect.poll(() => page.getByRole('alert').textContent(), { timeout: UI_WITHIN_MS }).toBe('That token is not accepted.');
    expect(await context.cookies()).toEqual([]);
    expect(await axeViolations(page)).toEqual([]);
  });

  it('signs in with the token; the cookie holds a server-side session id, HttpOnly and SameSite=Strict', async () => {
    await page.goto(`${api.url}/sign-in`);
    // Keyboard only: the skip link comes first and its focus is visible.
    await page.keyboard.press('Tab');
    expect(await page.evaluate('document.activeElement.textContent')).toBe('Skip to content');
    expect(await page.evaluate('getComputedStyle(document.activeElement).outlineStyle')).not.toBe('none');
    await page.getByLabel('API token').fill(TOKEN);
    await Promise.all([page.waitForURL(`${api.url}/`), page.getByRole('button', { name: 'Sign in' }).click()]);
    signedIn = true;
    await page.getByRole('heading', { name: 'Stores' }).waitFor({ state: 'visible', timeout: UI_WITHIN_MS });
    const cookies = await context.cookies();
    expect(cookies.map((c) => c.name)).toEqual(['storeop_session']);
    expect(cookies[0]).toMatchObject({ httpOnly: true, sameSite: 'Strict' });
    expect(cookies[0]?.value).not.toContain(TOKEN);
    expect(await page.evaluate('document.cookie')).toBe(''); // script cannot read it
  });

  it('creates an embedded store with "Create new database", checking the slug as it is typed, and follows its job to Ready', async () => {
    await createThroughForm(async () => {
      await page.getByLabel('Name').fill(HOSTILE_HTML);
      const slug = page.getByLabel('Slug', { exact: true });
      await slug.fill('');
      await slug.pressSequentially('Bad_Slug');
      await expect.poll(() => slug.getAttribute('aria-invalid'), { timeout: UI_WITHIN_MS }).toBe('true');
      await expect.poll(() => page.locator('#slug-status').textContent(), { timeout: UI_WITHIN_MS }).toContain('Must be 2-41 characters');
      await slug.fill('');
      await slug.pressSequentially(slugs.embedded);
      await expect.poll(() => slug.getAttribute('aria-invalid'), { timeout: UI_WITHIN_MS }).toBe('false');
      await page.getByLabel('Create new database').check();
      await page.getByLabel('Embedded (PGlite)').check();
      await screenshots('new-store');
      expect(await axeViolations(page)).toEqual([]);
    });
    await page.locator('#job-steps li').first().waitFor({ state: 'visible', timeout: UI_WITHIN_MS });
    await screenshots('job');
    expect(await axeViolations(page)).toEqual([]);
  });

  it('creates a store on the PostgreSQL server with "Create new database"', async () => {
    await createThroughForm(async () => {
      await page.getByLabel('Name').fill(HOSTILE_SQL);
      await page.getByLabel('Slug', { exact: true }).fill(slugs.postgres);
      await page.getByLabel('Owner email').fill(`owner-${suffix}@example.com`);
      await page.getByLabel('PostgreSQL server').check();
      await page.getByLabel('Host').first().fill('127.0.0.1');
      await page.getByLabel('Port').first().fill('5432');
      await page.getByLabel('Admin user').fill('postgres');
      await page.getByLabel('Admin password').fill(`pw-${suffix}`);
    });
    const databases = await postgresAdmin((client) =>
      client.query('select 1 from pg_database where datname = $1', [storeName(slugs.postgres)]),
    );
    expect(databases.rowCount).toBe(1);
    expect(await phaseOf(slugs.postgres)).toBe('Ready');
    await expect.poll(() => page.locator('tr[data-table="products"] td').nth(1).textContent(), { timeout: UI_WITHIN_MS }).toBe('0');
  });

  it('connects an existing MariaDB database with "Connect existing database" and keeps its own table', async () => {
    foreign = await createMysqlDatabase('cons');
    await withStoreDb(openMysql(foreign.name), async (db) => {
      await db.query('create table legacy_orders (id int primary key, note varchar(40))');
      await db.query("insert into legacy_orders values (1, 'a'), (2, 'b'), (3, 'c')");
    });
    await createThroughForm(async () => {
      await page.getByLabel('Name').fill(`Connected ${suffix}`);
      await page.getByLabel('Slug', { exact: true }).fill(slugs.connected);
      await page.getByLabel('Connect existing database').check();
      const existing = page.getByRole('group', { name: 'Existing database' });
      await existing.getByLabel('Engine').selectOption('mysql');
      await existing.getByLabel('Host').fill('127.0.0.1');
      await existing.getByLabel('Port').fill('3306');
      await existing.getByLabel('Database', { exact: true }).fill(foreign?.name ?? '');
      await existing.getByLabel('User').fill('root');
    });
    expect(await phaseOf(slugs.connected)).toBe('Ready');
    await expect.poll(() => page.locator('tr[data-table="legacy_orders"] td').nth(1).textContent(), { timeout: UI_WITHIN_MS }).toBe('3');
    expect(await page.locator('tr[data-table="products"]').count()).toBe(1);
    const kept = await withStoreDb(openMysql(foreign.name), (db) => db.query('select count(*) as n from legacy_orders'));
    expect(Number(kept[0]?.n)).toBe(3);
  });

  it('renders hostile display names as text: no element, no script, no dialog', async () => {
    await page.goto(`${api.url}/`);
    await expect
      .poll(() => page.locator(`tr[data-slug="${slugs.embedded}"] td.name`).textContent(), { timeout: UI_WITHIN_MS })
      .toBe(HOSTILE_HTML);
    await expect
      .poll(() => page.locator(`tr[data-slug="${slugs.postgres}"] td.name`).textContent(), { timeout: UI_WITHIN_MS })
      .toBe(HOSTILE_SQL);
    expect(await page.locator('main img').count()).toBe(0);
    await page.goto(`${api.url}/stores/${slugs.embedded}`);
    await expect.poll(() => page.getByRole('heading', { level: 1 }).textContent(), { timeout: UI_WITHIN_MS }).toContain(HOSTILE_HTML);
    expect(await page.locator('main img').count()).toBe(0);
    expect(dialogs).toEqual([]);
    // The stores table still lists them all (the master's stores table was not dropped).
    const list = await fetch(`${api.url}/v1/stores`, { headers: { authorization: `Bearer ${TOKEN}` } });
    const { stores } = (await list.json()) as { stores: Array<{ slug: string }> };
    expect(stores.map((s) => s.slug)).toEqual(expect.arrayContaining(Object.values(slugs)));
  });

  it('updates the stores table live when a store changes phase outside the page', async () => {
    await page.goto(`${api.url}/`);
    const phase = page.locator(`tr[data-slug="${slugs.embedded}"] td.phase`);
    await expect.poll(() => phase.textContent(), { timeout: UI_WITHIN_MS }).toBe('Ready');
    await page.evaluate('window.notReloaded = true');
    // Another client suspends it through the JSON API.
    const answer = await fetch(`${api.url}/v1/provision`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ store: { slug: slugs.embedded, displayName: HOSTILE_HTML, suspend: true }, database: { engine: 'pglite' } }),
    });
    expect(answer.status).toBe(202);
    await expect.poll(() => phase.textContent(), { timeout: READY_WITHIN_MS }).toBe('Suspended');
    expect(await page.evaluate('window.notReloaded')).toBe(true);
    await screenshots('stores');
    expect(await axeViolations(page)).toEqual([]);
  });

  it('resumes and suspends stores from the store page', async () => {
    // The embedded store, suspended from outside, is resumed here (no credentials needed).
    await page.goto(`${api.url}/stores/${slugs.embedded}`);
    await Promise.all([page.waitForURL(/\/jobs\//), page.getByRole('button', { name: 'Resume store' }).click()]);
    await page.locator('#job-done').waitFor({ state: 'visible', timeout: READY_WITHIN_MS });
    expect(await phaseOf(slugs.embedded)).toBe('Ready');

    // The PostgreSQL store needs its server's admin again: the console keeps no credentials.
    const canLogin = async () =>
      (await postgresAdmin((client) => client.query('select rolcanlogin from pg_roles where rolname = $1', [storeName(slugs.postgres)])))
        .rows[0]?.rolcanlogin;
    await page.goto(`${api.url}/stores/${slugs.postgres}`);
    const suspend = page.getByRole('form', { name: 'Suspend' });
    await suspend.getByLabel('Database user').fill('postgres');
    await suspend.getByLabel('Password').fill(`pw-${suffix}`);
    await Promise.all([page.waitForURL(/\/jobs\//), suspend.getByRole('button', { name: 'Suspend store' }).click()]);
    await page.locator('#job-done').waitFor({ state: 'visible', timeout: READY_WITHIN_MS });
    expect(await phaseOf(slugs.postgres)).toBe('Suspended');
    expect(await canLogin()).toBe(false);
    const resume = page.getByRole('form', { name: 'Resume' });
    await resume.getByLabel('Database user').fill('postgres');
    await resume.getByLabel('Password').fill(`pw-${suffix}`);
    await Promise.all([page.waitForURL(/\/jobs\//), resume.getByRole('button', { name: 'Resume store' }).click()]);
    await page.locator('#job-done').waitFor({ state: 'visible', timeout: READY_WITHIN_MS });
    expect(await phaseOf(slugs.postgres)).toBe('Ready');
    expect(await canLogin()).toBe(true);
    await screenshots('store');
    expect(await axeViolations(page)).toEqual([]);
  });

  it('deletes a store once its slug is typed, showing its deletion policy', async () => {
    await page.goto(`${api.url}/stores/${slugs.embedded}`);
    await expect.poll(() => page.locator('#deletion-policy').textContent(), { timeout: UI_WITHIN_MS }).toBe('Retain');
    const button = page.getByRole('button', { name: 'Delete store' });
    await expect.poll(() => button.isDisabled(), { timeout: UI_WITHIN_MS }).toBe(true);
    const confirm = page.getByLabel(`Type ${slugs.embedded} to confirm`);
    await confirm.fill(slugs.embedded.slice(0, -1));
    await expect.poll(() => button.isDisabled(), { timeout: UI_WITHIN_MS }).toBe(true);
    await confirm.fill(slugs.embedded);
    await Promise.all([page.waitForURL(/done=deleted$/), button.click()]);
    await expect.poll(() => page.getByRole('status').textContent(), { timeout: UI_WITHIN_MS }).toBe('The store was deleted.');
    await expect.poll(() => page.locator('#store-phase').textContent(), { timeout: UI_WITHIN_MS }).toBe('Deleted');
  });

  it('shows the rollouts page', async () => {
    await page.goto(`${api.url}/rollouts`);
    await page.getByRole('heading', { name: 'Rollouts', level: 1 }).waitFor({ state: 'visible', timeout: UI_WITHIN_MS });
    await screenshots('rollouts');
    expect(await axeViolations(page)).toEqual([]);
  });

  it('never sent the token after signing in, and signing out ends the session', async () => {
    const sent = await Promise.all(sentAfterSignIn);
    expect(sent.length).toBeGreaterThan(10);
    for (const request of sent) expect(request).not.toContain(TOKEN);
    await Promise.all([page.waitForURL(/\/sign-in$/), page.getByRole('button', { name: 'Sign out' }).click()]);
    await page.goto(`${api.url}/stores/${slugs.postgres}`);
    expect(new URL(page.url()).pathname).toBe('/sign-in');
  });
});
