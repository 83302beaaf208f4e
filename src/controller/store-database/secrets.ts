// Reads Secrets: those a spec names (credentials, through the informer cache) and those storeop owns.
import type { StoreDatabase } from '../../api/store-database.js';
import { ownedSecret, secretValue } from '../../kube/client.js';
import type { ControllerContext } from '../context.js';

/** A key of a Secret the spec refers to; the cache first, the API server for one not seen yet. */
export async function readSecret(ctx: ControllerContext, namespace: string, name: string, key: string): Promise<string | undefined> {
  const secret = ctx.caches.secrets.get(name, namespace) ?? (await ctx.kube.getSecret(namespace, name));
  return secret ? secretValue(secret, key) : undefined;
}

/** A key of a Secret this StoreDatabase owns; a Secret someone else owns reads as absent. */
export async function ownedSecretValue(ctx: ControllerContext, sdb: StoreDatabase, name: string, key: string): Promise<string | undefined> {
  const secret = await ctx.kube.getSecret(sdb.metadata.namespace as string, name);
  return secret && ownedSecret(secret, sdb) ? secretValue(secret, key) : undefined;
}
