// storeop master migrate | rotate-key: maintenance of the master (platform) database.
import { z } from 'zod';
import { migrateMaster, openMaster } from '../../master/database.js';
import { reencryptAll } from '../../master/integrations.js';
import { loadKeyring } from '../../master/keyring.js';
import { parseFlags, UsageError } from '../args.js';

export const masterHelp = `usage: storeop master migrate [--master-database-url URL]
       storeop master rotate-key [--master-database-url URL]

migrate     applies the master DB migrations (they also run automatically whenever storeop opens it).
rotate-key  re-encrypts every stored credential under the primary key, the first of
            STOREOP_ENCRYPTION_KEYS (keyid:base64key,...), and rewrites credentials saved in an older
            format; keep the old keys listed until it has run. All or nothing: a credential that
            does not decrypt fails it (DecryptionFailed) and leaves every row as it was.

The master DB is STOREOP_MASTER_DATABASE_URL or --master-database-url (postgres://...), else the
embedded PGlite in ./.storeop/master.`;

const flags = z.object({ 'master-database-url': z.string().min(1).optional() });

export async function masterCommand(argv: string[]): Promise<number> {
  const [action, ...rest] = argv;
  if (action !== 'migrate' && action !== 'rotate-key')
    throw new UsageError('expected "migrate" or "rotate-key"; see "storeop master --help"');
  const { flags: f } = parseFlags(rest, { 'master-database-url': { type: 'string' } }, flags);
  const master = await openMaster({ url: f['master-database-url'], migrate: false });
  try {
    if (action === 'migrate') {
      const applied = await migrateMaster(master);
      process.stdout.write(applied.length ? `applied ${applied.join(', ')} to ${master.location}\n` : `${master.location} is up to date\n`);
      return 0;
    }
    const keyring = loadKeyring({ embedded: master.engine === 'pglite' });
    const changed = await reencryptAll(master.db, keyring);
    process.stdout.write(`re-encrypted ${changed} credential(s) under key ${keyring.primaryId}\n`);
    return 0;
  } finally {
    await master.close();
  }
}
