// Reads a DatabaseServer's admin Secret (and CA Secret): in adminSecretRef.namespace, else the operator's
// own namespace. That namespace is often not the watched one, so a cache miss is one GET, never "absent".
import type { DatabaseServerSpec } from '../../api/database-server.js';
import { secretValue } from '../../kube/client.js';
import type { SecretReader } from '../../stores/resolve-target.js';
import type { ControllerContext } from '../context.js';

export function adminSecretReader(ctx: ControllerContext, spec: DatabaseServerSpec): SecretReader {
  const namespace = spec.adminSecretRef.namespace ?? ctx.servers.operatorNamespace;
  return async (name, key) => {
    // A namespaced operator's cache holds its watched namespace only: the operator's own may be another one.
    const secret = (await ctx.caches.secrets.find(namespace, name)) ?? (await ctx.kube.getSecret(namespace, name));
    return secret ? secretValue(secret, key) : undefined;
  };
}
