// Issue 12 finding 10: a URL password holding ':' or '@' was only partly redacted, secrets of one or two
// characters were never redacted, and the logger redacted by field name only, so a URL inside an error
// message or stack was logged verbatim.
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { redactCredentials, redactSecrets } from '../../src/errors.js';
import { createLogger } from '../../src/log.js';

describe('redactSecrets', () => {
  it('redacts a URL password up to the last "@" of the authority, even when it holds ":" and "@"', () => {
    expect(redactSecrets('connect to postgres://admin:p@ss:w0rd@db failed', [])).toBe('connect to postgres://admin:***@db failed');
    expect(redactSecrets('mysql://root:a@b:c@127.0.0.1:3306/shop?ssl=true', [])).toBe('mysql://root:***@127.0.0.1:3306/shop?ssl=true');
    // The host, port, database and an "@" later in the path or the text are kept.
    expect(redactSecrets('postgres://u:s3cr3t@h:5432/db (owner: ops@example.com)', [])).toBe(
      'postgres://u:***@h:5432/db (owner: ops@example.com)',
    );
    // Two URLs in one text, each redacted on its own.
    expect(redactSecrets('"postgres://a:x@y@h1/d" then "mysql://b:z:z@h2/e"', [])).toBe(
      '"postgres://a:***@h1/d" then "mysql://b:***@h2/e"',
    );
    // Without a password there is nothing to hide.
    expect(redactSecrets('postgres://admin@db:5432/x', [])).toBe('postgres://admin@db:5432/x');
  });

  it('with the password known, nothing of it is left, whatever it holds', () => {
    const password = 'p@ss:w0rd';
    const out = redactSecrets(`postgres://admin:${password}@db and again ${password} and ${encodeURIComponent(password)}`, [password]);
    expect(out).toBe('postgres://admin:***@db and again *** and ***');
    expect(out).not.toContain('w0rd');
  });

  it('redacts `password=` values of key/value connection strings', () => {
    expect(redactSecrets('host=db user=admin password=hunter2 dbname=x', [])).toBe('host=db user=admin password=*** dbname=x');
    expect(redactCredentials('jdbc:mysql://db/x?user=a&password=b&ssl=1')).toBe('jdbc:mysql://db/x?user=a&password=***&ssl=1');
  });

  it('redacts secrets of one and two characters where they stand as a value, and leaves other letters alone', () => {
    expect(redactSecrets('x', ['x'])).toBe('***');
    expect(redactSecrets('password=x; retrying', ['x'])).toBe('password=***; retrying');
    expect(redactSecrets('user "a" rejected password "x"', ['x'])).toBe('user "a" rejected password "***"');
    expect(redactSecrets("password 'x' is wrong", ['x'])).toBe("password '***' is wrong");
    expect(redactSecrets('user@host:pw failed', ['pw'])).toBe('user@host:*** failed');
    // In a URL, with the password known or not.
    expect(redactSecrets('mysql://store_x:7@127.0.0.1/x', ['7'])).toBe('mysql://store_x:***@127.0.0.1/x');
    expect(redactSecrets('mysql://store_x:7@127.0.0.1/x', [])).toBe('mysql://store_x:***@127.0.0.1/x');
    // The same letters inside words are not secrets: the message stays readable.
    const message = 'access denied for user store_xyz at example.x: too many connections';
    expect(redactSecrets(message, ['x'])).toBe(message);
    expect(redactSecrets('a connection failed', ['a'])).toBe('a connection failed');
  });

  it('still redacts a secret of three or more characters wherever it appears', () => {
    expect(redactSecrets('tokenabc123tail', ['abc123'])).toBe('token***tail');
    expect(redactSecrets('xabcx', ['abc'])).toBe('x***x');
  });
});

describe('the logger', () => {
  function capture(): { lines: () => Record<string, unknown>[]; raw: () => string; stream: Writable } {
    let raw = '';
    const stream = new Writable({
      write(chunk, _encoding, done) {
        raw += chunk.toString();
        done();
      },
    });
    return {
      stream,
      raw: () => raw,
      lines: () =>
        raw
          .trimEnd()
          .split('\n')
          .map((l) => JSON.parse(l) as Record<string, unknown>),
    };
  }

  it('redacts URL passwords inside any string: the message, err.message, err.stack and nested fields', () => {
    const out = capture();
    const log = createLogger({ level: 'info', destination: out.stream });
    const error = new Error('could not connect to postgres://admin:p@ss:w0rd@db.internal:5432/shop');
    log.error({ err: error, detail: { attempt: { target: 'mysql://root:rootpw@127.0.0.1:3306/x' } } }, 'store cry-log failed');
    log.warn('retrying postgres://admin:hunter2@db.internal/shop in 5s');
    log.info(error, 'as the merging object');

    const raw = out.raw();
    for (const secret of ['p@ss:w0rd', 'w0rd', 'rootpw', 'hunter2']) expect(raw).not.toContain(secret);
    const [first, second, third] = out.lines();
    const err = (first?.err ?? {}) as { message?: string; stack?: string };
    expect(err.message).toBe('could not connect to postgres://admin:***@db.internal:5432/shop');
    expect(err.stack).toContain('could not connect to postgres://admin:***@db.internal:5432/shop');
    expect(first?.detail).toEqual({ attempt: { target: 'mysql://root:***@127.0.0.1:3306/x' } });
    expect(first?.msg).toBe('store cry-log failed');
    expect(second?.msg).toBe('retrying postgres://admin:***@db.internal/shop in 5s');
    expect((third?.err as { message?: string } | undefined)?.message).toBe(
      'could not connect to postgres://admin:***@db.internal:5432/shop',
    );
  });

  it('redacts secret-named fields at any depth, not only the listed paths', () => {
    const out = capture();
    const log = createLogger({ level: 'info', destination: out.stream });
    log.info({ request: { body: { store: { password: 'cry-deep-secret', token: 'tok-123456' } } }, slug: 'cry-log' }, 'registered');
    expect(out.raw()).not.toContain('cry-deep-secret');
    expect(out.raw()).not.toContain('tok-123456');
    const [line] = out.lines();
    expect(line?.request).toEqual({ body: { store: { password: '[redacted]', token: '[redacted]' } } });
    expect(line?.slug).toBe('cry-log');
  });
});
