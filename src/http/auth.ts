// Bearer tokens for the provisioning API, configured as SHA-256 hashes (never the tokens themselves) and
// compared in constant time. Each hash may be followed by a name (`HASH ci-deployer`): logs, audit rows
// and rate limits identify a token by that name (default token-N, its position), never by the token or hash.
import { createHash, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { StoreopError } from '../errors.js';

const ENTRY = /^(?:sha256:)?([0-9a-f]{64})(?:\s+(\S+))?$/i;
const TOKEN_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

interface KnownToken {
  hash: Buffer;
  name: string;
}

export class TokenVerifier {
  readonly #tokens: KnownToken[];

  constructor(hashes: readonly string[]) {
    const names = new Set<string>();
    this.#tokens = hashes.map((h, i) => {
      const match = ENTRY.exec(h.trim());
      if (!match)
        throw new StoreopError(
          'InvalidSpec',
          `API token hash ${i + 1} must be 64 hex characters (sha256 of the token), optionally prefixed "sha256:"`,
        );
      const name = match[2] ?? `token-${i + 1}`;
      if (!TOKEN_NAME.test(name))
        throw new StoreopError('InvalidSpec', `API token ${i + 1}: its name must be 1-64 characters of A-Z, a-z, 0-9, ".", "_" and "-"`);
      if (names.has(name)) throw new StoreopError('InvalidSpec', `API token ${i + 1}: the name ${name} is used by another token`);
      names.add(name);
      return { hash: Buffer.from(match[1] as string, 'hex'), name };
    });
    if (this.#tokens.length === 0)
      throw new StoreopError('InvalidSpec', 'no API token hashes configured: set STOREOP_API_TOKEN_HASHES or --api-token-hashes-file');
  }

  static fromConfig(options: { file?: string | undefined; env?: string | undefined }): TokenVerifier {
    const lines = options.file ? readFileSync(options.file, 'utf8').split('\n') : (options.env ?? '').split(',');
    return new TokenVerifier(lines.map((l) => l.trim()).filter((l) => l && !l.startsWith('#')));
  }

  static hash(token: string): string {
    return createHash('sha256').update(token).digest('hex');
  }

  /** The name of the token, or undefined when it is not one of ours. Checks every configured hash, so the
   * time taken does not reveal which (if any) matched. */
  identify(token: string | undefined): string | undefined {
    if (!token) return undefined;
    const candidate = createHash('sha256').update(token).digest();
    let found: string | undefined;
    for (const known of this.#tokens) if (timingSafeEqual(candidate, known.hash)) found ??= known.name;
    return found;
  }

  verify(token: string | undefined): boolean {
    return this.identify(token) !== undefined;
  }
}
