// The vocabulary the store schema is written in: tables as plain data, from which DDL for every
// dialect, introspection checks and TypeScript row types are all derived.

export type ColumnKind = 'id' | 'string' | 'text' | 'integer' | 'bigint' | 'decimal' | 'boolean' | 'timestamp';

export interface ColumnDef {
  readonly kind: ColumnKind;
  /** string: maximum length in characters. */
  readonly length?: number;
  /** decimal: precision and scale. */
  readonly precision?: number;
  readonly scale?: number;
  readonly nullable?: boolean;
  /** A literal default, or 'now' for the current timestamp. */
  readonly default?: string | number | boolean | 'now';
  readonly references?: { readonly table: string; readonly onDelete: 'cascade' | 'set null' | 'restrict' };
}

export interface IndexDef {
  readonly columns: readonly string[];
  readonly unique?: boolean;
}

export interface TableDef {
  readonly columns: Readonly<Record<string, ColumnDef>>;
  readonly indexes?: readonly IndexDef[];
}

export type SchemaDef = Readonly<Record<string, TableDef>>;

export const id = { kind: 'id' } as const satisfies ColumnDef;
export const timestamps = {
  created_at: { kind: 'timestamp', default: 'now' },
  updated_at: { kind: 'timestamp', default: 'now' },
} as const satisfies Record<string, ColumnDef>;
export const money = (options: { nullable?: true } = {}) =>
  options.nullable
    ? ({ kind: 'decimal', precision: 12, scale: 2, nullable: true } as const)
    : ({ kind: 'decimal', precision: 12, scale: 2, default: '0.00' } as const);

export function indexName(table: string, index: IndexDef): string {
  return `${index.unique ? 'uq' : 'idx'}_${table}_${index.columns.join('_')}`;
}

export function foreignKeyName(table: string, column: string): string {
  return `fk_${table}_${column}`;
}

/** Tables in an order where every referenced table comes before the tables that reference it. */
export function tablesInDependencyOrder(schema: SchemaDef): string[] {
  const ordered: string[] = [];
  const visit = (table: string, path: string[]) => {
    if (ordered.includes(table)) return;
    if (path.includes(table)) throw new Error(`foreign key cycle: ${[...path, table].join(' -> ')}`);
    const def = schema[table];
    if (!def) throw new Error(`unknown table ${table}`);
    for (const column of Object.values(def.columns)) {
      if (column.references && column.references.table !== table) visit(column.references.table, [...path, table]);
    }
    ordered.push(table);
  };
  for (const table of Object.keys(schema)) visit(table, []);
  return ordered;
}
