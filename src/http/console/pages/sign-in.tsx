/** @jsxRuntime automatic @jsxImportSource hono/jsx */
// Sign-in: an API token, exchanged for a server-side session; the token itself is never stored in the browser.
import { Field, Layout } from '../layout.js';

export function SignInPage(props: { error?: string | undefined }) {
  return (
    <Layout title="Sign in">
      <div class="signin">
        <h1>Sign in to storeop</h1>
        {props.error && (
          <p class="notice bad" role="alert">
            {props.error}
          </p>
        )}
        <form method="post" action="/sign-in">
          <Field
            name="token"
            label="API token"
            type="password"
            required
            autocomplete="current-password"
            hint="One of the tokens whose SHA-256 hash storeop api is configured with. The console keeps a session id in a cookie, never the token."
          />
          <button type="submit">Sign in</button>
        </form>
      </div>
    </Layout>
  );
}
