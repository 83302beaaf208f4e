/** @jsxRuntime automatic @jsxImportSource hono/jsx */
// The page shell every console page shares: a skip link, the navigation, sign-out (a POST with the CSRF
// token), and storeop's own stylesheet and script (no CDN: clusters are often offline).
import { raw } from 'hono/html';
import type { Child } from 'hono/jsx';
import { CSRF_FIELD } from './security.js';
import type { Session } from './session.js';

export type Section = 'stores' | 'new' | 'rollouts' | 'none';

const LINKS: Array<{ section: Section; href: string; label: string }> = [
  { section: 'stores', href: '/', label: 'Stores' },
  { section: 'new', href: '/stores/new', label: 'New store' },
  { section: 'rollouts', href: '/rollouts', label: 'Rollouts' },
];

export function Layout(props: { title: string; session?: Session | undefined; section?: Section; children?: Child }) {
  return (
    <>
      {raw('<!DOCTYPE html>')}
      <html lang="en">
        <head>
          <meta charset="utf-8" />
          <meta name="viewport" content="width=device-width, initial-scale=1" />
          <title>{`${props.title} · storeop`}</title>
          <link rel="stylesheet" href="/assets/console.css" />
          <script src="/assets/console.js" defer></script>
        </head>
        <body>
          <a class="skip" href="#main">
            Skip to content
          </a>
          <header class="top">
            <a class="brand" href="/">
              storeop
            </a>
            {props.session && (
              <nav aria-label="Console">
                <ul>
                  {LINKS.map((link) => (
                    <li>
                      <a href={link.href} aria-current={props.section === link.section ? 'page' : undefined}>
                        {link.label}
                      </a>
                    </li>
                  ))}
                </ul>
              </nav>
            )}
            {props.session && (
              <form method="post" action="/sign-out">
                <input type="hidden" name={CSRF_FIELD} value={props.session.csrf} />
                <button type="submit" class="secondary">
                  Sign out
                </button>
              </form>
            )}
          </header>
          <main id="main">{props.children}</main>
        </body>
      </html>
    </>
  );
}

/** A labelled form field with its hint and error (tied to the input by aria-describedby). */
export function Field(props: {
  name: string;
  /** Defaults to the name; set it when one name appears in several forms of a page. */
  id?: string;
  label: string;
  value?: string | undefined;
  type?: string;
  hint?: string;
  error?: string | undefined;
  required?: boolean;
  autocomplete?: string;
  extra?: Record<string, string>;
}) {
  const id = props.id ?? props.name;
  const described = [props.hint ? `${id}-hint` : '', props.error ? `${id}-error` : ''].filter(Boolean).join(' ');
  return (
    <div class="field">
      <label for={id}>{props.label}</label>
      <input
        id={id}
        name={props.name}
        type={props.type ?? 'text'}
        value={props.value ?? ''}
        required={props.required}
        autocomplete={props.autocomplete ?? 'off'}
        aria-invalid={props.error ? 'true' : undefined}
        aria-describedby={described || undefined}
        {...(props.extra ?? {})}
      />
      {props.hint && (
        <p class="hint" id={`${id}-hint`}>
          {props.hint}
        </p>
      )}
      {props.error && (
        <p class="error" id={`${id}-error`}>
          {props.error}
        </p>
      )}
    </div>
  );
}
