// TypeScript row types of the store database, derived from the one schema definition, so that
// `Kysely<StoreDB>` is typed without a second, hand-written copy of the tables.
import type { ColumnType, Generated } from 'kysely';
import type { ColumnDef } from './definition.js';
import type { storeSchema } from './store-schema.js';

/** Value types as the drivers return them: DECIMAL as string (exact), BIGINT as number, timestamps as Date. */
type KindValue = {
  id: number;
  string: string;
  text: string;
  integer: number;
  bigint: number;
  decimal: string;
  boolean: boolean;
  timestamp: Date;
};

type Base<C extends ColumnDef> = C['kind'] extends 'timestamp' ? ColumnType<Date, Date | string, Date | string> : KindValue[C['kind']];
type Nullable<C extends ColumnDef, T> = C extends { nullable: true } ? T | null : T;
type ColumnValue<C extends ColumnDef> = C['kind'] extends 'id'
  ? Generated<number>
  : C extends { default: unknown }
    ? Generated<Nullable<C, KindValue[C['kind']]>>
    : Nullable<C, Base<C>>;

type TableRow<T extends { columns: Record<string, ColumnDef> }> = {
  -readonly [K in keyof T['columns']]: ColumnValue<T['columns'][K]>;
};

/** The store database, for `Kysely<StoreDB>`. */
export type StoreDB = {
  -readonly [T in keyof typeof storeSchema]: TableRow<(typeof storeSchema)[T]>;
};
