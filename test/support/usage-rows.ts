// Known rows for usage tests: products, customers, orders and order items inserted with chosen timestamps.
import type { StoreDb } from './store-db.js';

const at = (db: StoreDb, i: number) => (db.dialect === 'postgres' ? `$${i}` : '?');
/** A timestamp as the store's column takes it (MySQL DATETIME has no zone: UTC, as storeop's sessions use). */
const stamp = (db: StoreDb, iso: string) => (db.dialect === 'postgres' ? iso : iso.replace('T', ' ').replace('Z', ''));

export async function insertProducts(db: StoreDb, count: number, prefix: string): Promise<void> {
  for (let i = 0; i < count; i++) {
    await db.query(`insert into products (sku, slug, name, price) values (${at(db, 1)}, ${at(db, 2)}, ${at(db, 3)}, 9.99)`, [
      `${prefix}-${i}`,
      `${prefix}-${i}`,
      `Product ${i}`,
    ]);
  }
}

export async function insertCustomer(db: StoreDb, email: string, createdAt: string): Promise<void> {
  await db.query(`insert into customers (email, created_at, updated_at) values (${at(db, 1)}, ${at(db, 2)}, ${at(db, 3)})`, [
    email,
    stamp(db, createdAt),
    stamp(db, createdAt),
  ]);
}

/** An order with `items` order items; `total` is a decimal string. */
export async function insertOrder(db: StoreDb, number: string, total: string, createdAt: string, items = 1): Promise<void> {
  await db.query(
    `insert into orders (order_number, total, subtotal, created_at, updated_at) values (${at(db, 1)}, ${at(db, 2)}, ${at(db, 3)}, ${at(db, 4)}, ${at(db, 5)})`,
    [number, total, total, stamp(db, createdAt), stamp(db, createdAt)],
  );
  const [order] = await db.query(`select id from orders where order_number = ${at(db, 1)}`, [number]);
  for (let i = 0; i < items; i++) {
    await db.query(`insert into order_items (order_id, sku, name, unit_price, total) values (${at(db, 1)}, ${at(db, 2)}, 'Item', 1, 1)`, [
      order?.id,
      `${number}-${i}`,
    ]);
  }
}
