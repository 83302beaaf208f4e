// An app process that embeds a ConnectionManager, for dropped-connections.test.ts: it reads one JSON
// command per line on stdin and answers with JSON lines on stdout. It installs no 'uncaughtException'
// handler, as an ordinary app would not: an unhandled driver 'error' event ends it, which the test sees.
import { createInterface } from 'node:readline';
import { sql } from 'kysely';
import { ConnectionManager, isStoreopError, Keyring } from '../../src/index.js';

type Command =
  /** Runs a withStore() transaction that reports its session id, then waits: in a long query (busy) or idle until `continue`. */
  | { id: number; op: 'hold'; store: string; dialect: 'postgres' | 'mysql'; busy: boolean }
  | { id: number; op: 'continue'; hold: number }
  /** One short query through query(). */
  | { id: number; op: 'query'; store: string; text: string };

const send = (message: Record<string, unknown>) => process.stdout.write(`${JSON.stringify(message)}\n`);

function failure(id: number, error: unknown): Record<string, unknown> {
  return {
    id,
    ok: false,
    storeopError: isStoreopError(error),
    code: isStoreopError(error) ? error.code : undefined,
    retryable: isStoreopError(error) ? error.retryable : undefined,
    message: error instanceof Error ? error.message : String(error),
  };
}

const cm = await ConnectionManager.open({
  masterUrl: process.env.CRS_MASTER_URL as string,
  keyring: Keyring.parse(process.env.CRS_KEYS as string),
  home: process.env.CRS_HOME as string,
});
const waiting = new Map<number, () => void>();

async function hold(command: Extract<Command, { op: 'hold' }>): Promise<void> {
  const rows = await cm.withStore(command.store, (db) =>
    db.transaction().execute(async (trx) => {
      const session =
        command.dialect === 'postgres'
          ? await sql<{ session: number }>`select pg_backend_pid() as session`.execute(trx)
          : await sql<{ session: number }>`select connection_id() as session`.execute(trx);
      send({ id: command.id, session: Number(session.rows[0]?.session) });
      if (command.busy) {
        // Killed while this runs: the query is in flight when the connection drops.
        await (command.dialect === 'postgres' ? sql`select pg_sleep(600)` : sql`select sleep(600)`).execute(trx);
      } else {
        // Killed while this waits: the connection is checked out and idle in the transaction.
        await new Promise<void>((resolve) => waiting.set(command.id, resolve));
      }
      return (await sql<{ one: number }>`select 1 as one`.execute(trx)).rows;
    }),
  );
  send({ id: command.id, ok: true, rows });
}

createInterface({ input: process.stdin }).on('line', (line) => {
  const command = JSON.parse(line) as Command;
  const run = async () => {
    if (command.op === 'hold') return hold(command);
    if (command.op === 'continue') {
      waiting.get(command.hold)?.();
      return send({ id: command.id, ok: true });
    }
    const rows = await cm.query(command.store, command.text);
    send({ id: command.id, ok: true, rows });
  };
  run().catch((error: unknown) => send(failure(command.id, error)));
});
send({ ready: true, pid: process.pid });
