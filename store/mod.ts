/**
 * Storage: the `Store` contract with Deno KV, in-memory and etcd implementations.
 *
 * @module
 */

import { KvDatabase } from "./kv_store.ts";
import { MemoryDatabase } from "./memory_store.ts";
import type { Database } from "./store.ts";

export * from "./store.ts";
export { KvDatabase } from "./kv_store.ts";
export { MemoryDatabase } from "./memory_store.ts";
export { EtcdDatabase, MAX_TXN_OPS } from "./etcd_store.ts";
export { StoreGuard } from "./guard.ts";

/** `"memory"` for a plain in-memory store, `":memory:"` for in-memory KV, else a KV file path. */
export function openDatabase(spec: string): Promise<Database> {
  if (spec === "memory") return Promise.resolve(new MemoryDatabase());
  return KvDatabase.open(spec);
}
