// The Store the fleet tests create: PostgreSQL, create mode, database isolation, seeding on, its connection
// Secret written and its database dropped on delete (issue 19's fleet shape), against the local server.
import { POSTGRES_URL } from './databases.js';

const pgUrl = new URL(POSTGRES_URL);

/** A Store manifest as JSON; its admin credentials come from the Secret `pg-admin` in its namespace. */
export function fleetStoreManifest(name: string, namespace?: string): string {
  return JSON.stringify({
    apiVersion: 'storeop.dev/v1alpha1',
    kind: 'Store',
    metadata: { name, ...(namespace ? { namespace } : {}) },
    spec: {
      displayName: `Store ${name}`,
      owner: `${name}@example.com`,
      plan: 'starter',
      database: {
        engine: 'postgresql',
        mode: 'create',
        isolation: 'database',
        seed: true,
        server: { host: pgUrl.hostname, port: Number(pgUrl.port || 5432), adminSecretRef: { name: 'pg-admin' } },
        writeConnectionSecretToRef: { name: `${name}-conn` },
        deletionPolicy: 'Delete',
      },
    },
  });
}
