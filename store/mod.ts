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
// etcd's client (gRPC, protobufjs) costs about 37 MiB in every process that loads it: it is
// loaded only for an etcd:// store (import etcd_store.ts itself for the class).
export type { EtcdDatabase, Fence } from "./etcd_store.ts";
export { EtcdElection, type Term } from "./etcd_election.ts";
export { StoreGuard } from "./guard.ts";

/**
 * `"memory"` for a plain in-memory store, `":memory:"` for in-memory KV,
 * `etcd://h1:2379,h2:2379[/prefix]` for etcd (several managers), else a KV file path.
 */
export function openDatabase(spec: string): Promise<Database> {
  if (spec === "memory") return Promise.resolve(new MemoryDatabase());
  if (spec.startsWith("etcd://")) {
    return import("./etcd_store.ts").then(({ EtcdDatabase }) => EtcdDatabase.open(spec));
  }
  return KvDatabase.open(spec);
}
