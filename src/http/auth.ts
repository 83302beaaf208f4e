// Bearer tokens for the provisioning API, configured as SHA-256 hashes (never the tokens themselves) and
// compared in constant time.
import { createHash, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { StoreopError } from '../errors.js';

const HASH = /^(?:sha256:)?([0-9a-f]{64})$/i;

export class TokenVerifier {
  readonly #hashes: Buffer[];

  constructor(hashes: readonly string[]) {
    this.#hashes = hashes.map((h, i) => {
      const match = HASH.exec(h.trim());
      if (!match)
        throw new StoreopError(
          'InvalidSpec',
          `API token hash ${i + 1} must be 64 hex characters (sha256 of the token), optionally prefixed "sha256:"`,
        );
      return Buffer.from(match[1] as string, 'hex');
    });
    if (this.#hashes.length === 0)
      throw new StoreopError('InvalidSpec', 'no API token hashes configured: set STOREOP_API_TOKEN_HASHES or --api-token-hashes-file');
  }

  static fromConfig(options: { file?: string | undefined; env?: string | undefined }): TokenVerifier {
    const lines = options.file ? readFileSync(options.file, 'utf8').split('\n') : (options.env ?? '').split(',');
    return new TokenVerifier(lines.map((l) => l.trim()).filter((l) => l && !l.startsWith('#')));
  }

  static hash(token: string): string {
    return createHash('sha256').update(token).digest('hex');
  }

  /** Checks every configured hash, so the time taken does not reveal which (if any) matched. */
  verify(token: string | undefined): boolean {
    if (!token) return false;
    const candidate = createHash('sha256').update(token).digest();
    let ok = false;
    for (const hash of this.#hashes) ok = timingSafeEqual(candidate, hash) || ok;
    return ok;
  }
}
