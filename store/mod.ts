/**
 * Storage: the `Store` contract with Deno KV, in-memory and etcd implementations.
 *
 * @module
 */

import { KvDatabase } from "./kv_store.ts";
import { MemoryDatabase } from "./memory_store.ts";
import { EtcdDatabase } from "./etcd_store.ts";
import type { Database } from "./store.ts";

export * from "./store.ts";
export { KvDatabase } from "./kv_store.ts";
export { MemoryDatabase } from "./memory_store.ts";
export { EtcdDatabase, type Fence, MAX_TXN_OPS } from "./etcd_store.ts";
export { EtcdElection, type Term } from "./etcd_election.ts";
export { StoreGuard } from "./guard.ts";

/**
 * `"memory"` for a plain in-memory store, `":memory:"` for in-memory KV,
 * `etcd://h1:2379,h2:2379[/prefix]` for etcd (several managers), else a KV file path.
 */
export function openDatabase(spec: string): Promise<Database> {
  if (spec === "memory") return Promise.resolve(new MemoryDatabase());
  if (spec.startsWith("etcd://")) return Promise.resolve(EtcdDatabase.open(spec));
  return KvDatabase.open(spec);
}
