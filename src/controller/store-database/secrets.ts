// Reads Secrets: those a spec names (credentials) and those storeop owns, from the Secret caches
// (controller/secret-cache.ts).
import type { V1Secret } from '@kubernetes/client-node';
import type { StoreDatabase } from '../../api/store-database.js';
import { ownedSecret, secretValue } from '../../kube/client.js';
import type { ControllerContext } from '../context.js';

/** The Secret, or undefined when it does not exist. */
export async function findSecret(ctx: ControllerContext, namespace: string, name: string): Promise<V1Secret | undefined> {
  return ctx.caches.secrets.find(namespace, name);
}

/** A key of a Secret the spec refers to. */
export async function readSecret(ctx: ControllerContext, namespace: string, name: string, key: string): Promise<string | undefined> {
  const secret = await findSecret(ctx, namespace, name);
  return secret ? secretValue(secret, key) : undefined;
}

/** A key of a Secret this StoreDatabase owns; a Secret someone else owns reads as absent. */
export async function ownedSecretValue(ctx: ControllerContext, sdb: StoreDatabase, name: string, key: string): Promise<string | undefined> {
  const secret = await findSecret(ctx, sdb.metadata.namespace as string, name);
  return secret && ownedSecret(secret, sdb) ? secretValue(secret, key) : undefined;
}

/** How applySecret reads the current Secret and records what it wrote: through the cache. */
export function cachedSecretAccess(ctx: ControllerContext, namespace: string, name: string) {
  return {
    read: () => findSecret(ctx, namespace, name),
    written: (secret: V1Secret) => ctx.caches.secrets.wrote(secret),
  };
}
