// Encryption of secrets at rest in the master DB: AES-256-GCM with full 16-byte tags, each envelope tagged
// with its key id and bound (additional authenticated data) to its table, row, field, store and key id.
// Keys come from STOREOP_ENCRYPTION_KEYS (first = primary) or, in the embedded default, from a key generated
// once into ./.storeop/encryption.key (mode 0600).
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { StoreopError } from '../errors.js';
import { storeopHome } from './database.js';
import type { EncryptedEnvelope } from './types.js';

const KEY_ID = /^[A-Za-z0-9._-]{1,64}$/;

/**
 * What a ciphertext belongs to. Version 2 envelopes authenticate all of it (and the key id), so a secret
 * copied into another row, field or store, or relabelled with another key id, fails to decrypt.
 */
export interface SecretBinding {
  table: string;
  rowId: string;
  field: string;
  storeId: string;
}

/** The envelope format this version writes; v1 (bound to table and store only) is still read. */
export const CURRENT_ENVELOPE_VERSION = 2;
const IV_BYTES = 12;
/** GCM tags are always full length: a shorter tag would make forgeries far cheaper. */
const TAG_BYTES = 16;

const base64 = (field: string, bytes?: number) =>
  z
    .string()
    .regex(/^[A-Za-z0-9+/]*={0,2}$/, `${field} must be base64`)
    .refine((s) => bytes === undefined || Buffer.from(s, 'base64').length === bytes, `${field} must be ${bytes} bytes`);

/** An envelope as read back from the master DB: its shape is checked before any of it is used. */
const envelopeSchema = z.object({
  v: z.union([z.literal(1), z.literal(2)]),
  alg: z.literal('aes-256-gcm'),
  kid: z.string().regex(KEY_ID),
  iv: base64('iv', IV_BYTES),
  tag: base64('tag', TAG_BYTES),
  ct: base64('ct'),
});

/** The additional authenticated data of an envelope: v1 bound only the table and store, v2 binds everything. */
function additionalData(version: 1 | 2, binding: SecretBinding, kid: string): Buffer {
  if (version === 1) return Buffer.from(`${binding.table}:${binding.storeId}`);
  // A JSON array, so no value can forge a field boundary.
  return Buffer.from(JSON.stringify(['storeop', 2, binding.table, binding.rowId, binding.field, binding.storeId, kid]));
}

export class Keyring {
  readonly primaryId: string;
  readonly #keys: Map<string, Buffer>;

  constructor(keys: ReadonlyArray<{ id: string; key: Buffer }>) {
    const first = keys[0];
    if (!first) throw new StoreopError('InvalidSpec', 'no encryption key configured');
    const seen = new Set<string>();
    for (const { id, key } of keys) {
      if (!KEY_ID.test(id))
        throw new StoreopError(
          'InvalidSpec',
          `encryption key id ${JSON.stringify(id)} must be 1-64 characters of letters, digits, ".", "_" or "-"`,
        );
      // Two keys under one id would make which one decrypts a row depend on their order: refuse it.
      if (seen.has(id)) throw new StoreopError('InvalidSpec', `encryption key id ${id} is listed more than once`);
      seen.add(id);
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

  /** Whether an envelope should be rewritten by rotate-key: under an older key or in an older format. */
  isCurrent(envelope: EncryptedEnvelope): boolean {
    return envelope.kid === this.primaryId && envelope.v === CURRENT_ENVELOPE_VERSION;
  }

  encrypt(plaintext: string, binding: SecretBinding): EncryptedEnvelope {
    const key = this.#keys.get(this.primaryId) as Buffer;
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', key, iv, { authTagLength: TAG_BYTES });
    cipher.setAAD(additionalData(CURRENT_ENVELOPE_VERSION, binding, this.primaryId));
    const ct = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
    return {
      v: CURRENT_ENVELOPE_VERSION,
      alg: 'aes-256-gcm',
      kid: this.primaryId,
      iv: iv.toString('base64'),
      tag: cipher.getAuthTag().toString('base64'),
      ct: ct.toString('base64'),
    };
  }

  decrypt(stored: unknown, binding: SecretBinding): string {
    const parsed = envelopeSchema.safeParse(stored);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      throw new StoreopError(
        'DecryptionFailed',
        `encrypted ${binding.field} of ${binding.table} row ${binding.rowId} is malformed: ${issue?.path.join('.') || 'envelope'}: ${issue?.message}`,
        { retryable: false },
      );
    }
    const envelope = parsed.data;
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
      const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(envelope.iv, 'base64'), { authTagLength: TAG_BYTES });
      decipher.setAAD(additionalData(envelope.v, binding, envelope.kid));
      decipher.setAuthTag(Buffer.from(envelope.tag, 'base64'));
      return Buffer.concat([decipher.update(Buffer.from(envelope.ct, 'base64')), decipher.final()]).toString('utf8');
    } catch {
      throw new StoreopError(
        'DecryptionFailed',
        `secret under key id ${JSON.stringify(envelope.kid)} failed authentication (wrong key, or data altered or moved from another row)`,
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
