// `storeop get stores` output: a kubectl-style List of Store objects with camelCase fields (-o json|yaml),
// `store/SLUG` lines (-o name), and the table, plain or wide. Pure: get.ts reads the rows.
import { stringify } from 'yaml';
import type { StoreRow } from '../master/stores.js';
import { formatTable } from './output.js';

export const LIST_OUTPUTS = ['table', 'wide', 'name', 'json', 'yaml'] as const;
export type ListOutput = (typeof LIST_OUTPUTS)[number];

/** The master DB's database_status as the phase a Store shows. */
export const PHASE: Record<string, string> = {
  active: 'Ready',
  provisioning: 'Provisioning',
  failed: 'Failed',
  suspended: 'Suspended',
  detached: 'Detached',
};

export interface ListedStore {
  row: StoreRow;
  /** The last successful job's tables, "created/total". */
  tables: string | undefined;
}

const iso = (value: Date | string | null | undefined) => (value ? new Date(value).toISOString() : undefined);

/** One store as a Store object (what the master DB knows of it; no secrets are kept there in clear). */
export function storeItem({ row, tables }: ListedStore): Record<string, unknown> {
  const drop = (o: Record<string, unknown>) => Object.fromEntries(Object.entries(o).filter(([, v]) => v !== null && v !== undefined));
  return {
    apiVersion: 'storeop.dev/v1alpha1',
    kind: 'Store',
    metadata: drop({ name: row.slug, uid: row.id, creationTimestamp: iso(row.created_at) }),
    spec: drop({
      displayName: row.name,
      plan: row.subscription_plan,
      database: drop({
        engine: row.database_type,
        databaseName: row.database_name,
        host: row.database_host,
        deletionPolicy: row.deletion_policy,
      }),
    }),
    status: drop({
      phase: PHASE[row.database_status] ?? row.database_status,
      storeId: row.id,
      server: row.database_server,
      tables,
      schema: row.schema_name ? drop({ name: row.schema_name, version: row.schema_version }) : undefined,
      subscriptionStatus: row.subscription_status,
      source: row.source,
      updatedAt: iso(row.updated_at),
    }),
  };
}

/** The stores as `output` says; `none` is what the table says when there are none. */
export function formatStores(stores: ListedStore[], output: ListOutput, none = 'no stores'): string {
  switch (output) {
    case 'json':
      return `${JSON.stringify(storeList(stores), null, 2)}\n`;
    case 'yaml':
      return stringify(storeList(stores));
    case 'name':
      return stores.map(({ row }) => `store/${row.slug}\n`).join('');
    default: {
      if (!stores.length) return `${none}\n`;
      const wide = output === 'wide';
      const headers = [
        'STORE',
        'NAME',
        'PLAN',
        'ENGINE',
        'DATABASE',
        'PHASE',
        'TABLES',
        ...(wide ? ['SERVER', 'SCHEMA', 'SOURCE', 'ID'] : []),
      ];
      const rows = stores.map(({ row, tables }) => [
        row.slug,
        row.name,
        row.subscription_plan,
        row.database_type ?? '-',
        row.database_name ?? '-',
        PHASE[row.database_status] ?? row.database_status,
        tables ?? '-',
        ...(wide
          ? [
              row.database_server ?? '-',
              row.schema_name ? `${row.schema_name}@${row.schema_version ?? '?'}` : '-',
              row.source ?? '-',
              row.id,
            ]
          : []),
      ]);
      return `${formatTable(headers, rows)}\n`;
    }
  }
}

/** kubectl's List: what `kubectl get -o json` prints for several objects. */
export function storeList(stores: ListedStore[]): Record<string, unknown> {
  return { apiVersion: 'v1', kind: 'List', metadata: { resourceVersion: '' }, items: stores.map(storeItem) };
}
