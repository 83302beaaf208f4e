/** @jsxRuntime automatic @jsxImportSource hono/jsx */
// A console error as a page: a clear sentence, never a stack trace.
import { Layout } from './layout.js';
import type { Session } from './session.js';

export function ErrorPage(props: { session?: Session | undefined; title: string; message: string }) {
  return (
    <Layout title={props.title} session={props.session} section="none">
      <h1>{props.title}</h1>
      <p class="notice bad" role="alert">
        {props.message}
      </p>
      <p>
        <a href="/">Back to the stores</a>
      </p>
    </Layout>
  );
}
