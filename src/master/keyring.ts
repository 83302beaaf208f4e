// Encryption of secrets at rest in the master DB: AES-256-GCM, each envelope tagged with its key id and
// bound to its row (additional authenticated data), keys from STOREOP_ENCRYPTION_KEYS (first = primary)
// or, in the embedded default, a key generated once into ./.storeop/encryption.key (mode 0600).
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { StoreopError } from '../errors.js';
import { storeopHome } from './database.js';
import type { EncryptedEnvelope } from './types.js';

const KEY_ID = /^[A-Za-z0-9._-]{1,64}$/;

export class Keyring {
  readonly primaryId: string;
  readonly #keys: Map<string, Buffer>;

  constructor(keys: ReadonlyArray<{ id: string; key: Buffer }>) {
    const first = keys[0];
    if (!first) throw new StoreopError('InvalidSpec', 'no encryption key configured');
    for (const { id, key } of keys) {
      if (!KEY_ID.test(id))
        throw new StoreopError(
          'InvalidSpec',
          `encryption key id ${JSON.stringify(id)} must be 1-64 characters of letters, digits, ".", "_" or "-"`,
        );
      if (key.length !== 32)
        throw new StoreopError('InvalidSpec', `encryption key ${id} must be 32 bytes (base64 of 32 random bytes), not ${key.length}`);
    }
    this.primaryId = first.id;
    this.#keys = new Map(keys.map(({ id, key }) => [id, key]));
  }

  /** Parses "id1:base64key,id2:base64key" (the first is primary). */
  static parse(spec: string): Keyring {
    const keys = spec
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean)
      .map((entry, index) => {
        const at = entry.indexOf(':');
        if (at <= 0) throw new StoreopError('InvalidSpec', `STOREOP_ENCRYPTION_KEYS entry ${index + 1} must look like keyid:base64key`);
        return { id: entry.slice(0, at), key: Buffer.from(entry.slice(at + 1), 'base64') };
      });
    return new Keyring(keys);
  }

  static generateSpec(id = `k${new Date().toISOString().slice(0, 10).replaceAll('-', '')}`): string {
    return `${id}:${randomBytes(32).toString('base64')}`;
  }

  has(id: string): boolean {
    return this.#keys.has(id);
  }

  encrypt(plaintext: string, context: string): EncryptedEnvelope {
    const key = this.#keys.get(this.primaryId) as Buffer;
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', key, iv);
    cipher.setAAD(Buffer.from(context));
    const ct = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
    return {
      v: 1,
      alg: 'aes-256-gcm',
      kid: this.primaryId,
      iv: iv.toString('base64'),
      tag: cipher.getAuthTag().toString('base64'),
      ct: ct.toString('base64'),
    };
  }

  decrypt(envelope: EncryptedEnvelope, context: string): string {
    const key = this.#keys.get(envelope.kid);
    if (!key) {
      throw new StoreopError(
        'DecryptionFailed',
        `secret was encrypted with key id ${JSON.stringify(envelope.kid)}, which is not among the configured keys (${[...this.#keys.keys()].join(', ')})`,
        {
          retryable: false,
        },
      );
    }
    try {
      const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(envelope.iv, 'base64'));
      decipher.setAAD(Buffer.from(context));
      decipher.setAuthTag(Buffer.from(envelope.tag, 'base64'));
      return Buffer.concat([decipher.update(Buffer.from(envelope.ct, 'base64')), decipher.final()]).toString('utf8');
    } catch {
      throw new StoreopError(
        'DecryptionFailed',
        `secret under key id ${JSON.stringify(envelope.kid)} failed authentication (wrong key or altered data)`,
        { retryable: false },
      );
    }
  }
}

/**
 * The keyring from STOREOP_ENCRYPTION_KEYS, or else the embedded default's key file, created on first use.
 * A production master DB (PostgreSQL) without configured keys is refused rather than given a local key.
 */
export function loadKeyring(options: { home?: string | undefined; embedded: boolean; spec?: string | undefined }): Keyring {
  const spec = options.spec ?? process.env.STOREOP_ENCRYPTION_KEYS;
  if (spec) return Keyring.parse(spec);
  const home = storeopHome(options.home);
  const file = join(home, 'encryption.key');
  if (existsSync(file)) return Keyring.parse(readFileSync(file, 'utf8'));
  if (!options.embedded) {
    throw new StoreopError(
      'InvalidSpec',
      'STOREOP_ENCRYPTION_KEYS is required with a PostgreSQL master database (keyid:base64-of-32-bytes, comma-separated, first is primary)',
    );
  }
  mkdirSync(home, { recursive: true, mode: 0o700 });
  const generated = Keyring.generateSpec();
  try {
    writeFileSync(file, `${generated}\n`, { mode: 0o600, flag: 'wx' });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    return Keyring.parse(readFileSync(file, 'utf8')); // another process created it first
  }
  chmodSync(file, 0o600);
  return Keyring.parse(generated);
}
