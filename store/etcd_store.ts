/**
 * etcd behind the `Store` contract (npm `etcd3`), for several managers sharing one
 * state: keys are `<prefix>/<store>/<key>`, values JSON, versions each key's
 * `mod_revision`, compare-and-set and atomic batches etcd transactions.
 *
 * Every call has a deadline (etcd3 has none by default: a put stalled 7 s while an etcd
 * leader was replaced). A transaction that timed out may still have committed (etcd3
 * retries it), so callers that compare-and-set read again on failure, as the task book
 * does. One transaction holds at most `MAX_TXN_OPS` writes (etcd's default limit).
 *
 * @module
 */

import { type ComparatorBuilder, Etcd3, type IKeyValue } from "etcd3";
import {
  type Check,
  type Database,
  type Entry,
  type ListOptions,
  type Store,
  updateWithRetry,
  type Write,
} from "./store.ts";

/** etcd's default `--max-txn-ops`: the most writes (and, apart, checks) in one transaction. */
export const MAX_TXN_OPS = 128;
/** Deadline of one call to etcd, in ms. */
const CALL_DEADLINE_MS = 1_500;

function decode<T>(kv: IKeyValue): T {
  return JSON.parse(kv.value.toString()) as T;
}

class EtcdStore<T> implements Store<T> {
  readonly #base: string;

  constructor(private readonly client: Etcd3, prefix: string, name: string) {
    this.#base = `${prefix}/${name}/`;
  }

  async get(key: string): Promise<Entry<T> | null> {
    const response = await this.client.get(this.#base + key).exec();
    const kv = response.kvs[0];
    return kv ? { key, value: decode<T>(kv), version: kv.mod_revision } : null;
  }

  async put(key: string, value: T): Promise<string> {
    const response = await this.client.put(this.#base + key).value(JSON.stringify(value)).exec();
    return response.header.revision;
  }

  async putIf(key: string, value: T, version: string | null): Promise<string | null> {
    const full = this.#base + key;
    const txn = version === null
      ? this.client.if(full, "Create", "==", 0)
      : this.client.if(full, "Mod", "==", version);
    const response = await txn.then(this.client.put(full).value(JSON.stringify(value))).commit();
    return response.succeeded ? response.header.revision : null;
  }

  update(key: string, fn: (current: T | null) => T | undefined): Promise<T | null> {
    return updateWithRetry(this, key, fn);
  }

  async delete(key: string): Promise<void> {
    await this.client.delete().key(this.#base + key).exec();
  }

  async deleteIf(key: string, version: string): Promise<boolean> {
    const full = this.#base + key;
    const response = await this.client.if(full, "Mod", "==", version)
      .then(this.client.delete().key(full))
      .commit();
    return response.succeeded;
  }

  async list(options: ListOptions = {}): Promise<Entry<T>[]> {
    let query = this.client.getAll().prefix(this.#base + (options.prefix ?? ""))
      .sort("Key", options.reverse ? "Descend" : "Ascend");
    if (options.limit !== undefined) query = query.limit(options.limit);
    const response = await query.exec();
    return response.kvs.map((kv) => ({
      key: kv.key.toString().slice(this.#base.length),
      value: decode<T>(kv),
      version: kv.mod_revision,
    }));
  }

  count(): Promise<number> {
    return this.client.getAll().prefix(this.#base).count();
  }
}

export class EtcdDatabase implements Database {
  readonly limits = { writes: MAX_TXN_OPS, checks: MAX_TXN_OPS };
  readonly #client: Etcd3;
  #closed = false;

  private constructor(client: Etcd3, readonly prefix: string, readonly endpoints: string[]) {
    this.#client = client;
  }

  /**
   * Connects to `etcd://h1:2379,h2:2379[/prefix]` (the prefix defaults to `/cube`). The
   * connection is made on the first call; a cluster that does not answer fails that call.
   */
  static open(url: string): EtcdDatabase {
    const match = url.match(/^etcd:\/\/([^/]+)(\/.*)?$/);
    if (!match) {
      throw new Error(
        `Invalid etcd store "${url}": expected etcd://host:port[,host:port…][/prefix]`,
      );
    }
    const endpoints = match[1].split(",").map((host) => `http://${host.trim()}`);
    const prefix = (match[2] ?? "/cube").replace(/\/+$/, "") || "/cube";
    const client = new Etcd3({
      hosts: endpoints,
      defaultCallOptions: () => ({ deadline: Date.now() + CALL_DEADLINE_MS }),
    });
    return new EtcdDatabase(client, prefix, endpoints);
  }

  store<T>(name: string): Store<T> {
    return new EtcdStore<T>(this.#client, this.prefix, name);
  }

  async commit(writes: readonly Write[], checks: readonly Check[] = []): Promise<string | null> {
    if (writes.length > MAX_TXN_OPS || checks.length > MAX_TXN_OPS) {
      throw new Error(
        `An etcd transaction holds at most ${MAX_TXN_OPS} writes and ${MAX_TXN_OPS} checks, not ${writes.length} and ${checks.length}`,
      );
    }
    const key = (store: string, k: string) => `${this.prefix}/${store}/${k}`;
    // etcd3 starts a transaction with its first comparison; without checks that is one
    // that always holds (a key nobody writes is absent).
    const conditions: Array<{ key: string; version: string | null }> = checks.length
      ? checks.map((c) => ({ key: key(c.store, c.key), version: c.version }))
      : [{ key: `${this.prefix}/\u0000never`, version: null }];
    let txn: ComparatorBuilder | null = null;
    for (const { key: k, version } of conditions) {
      const [column, value] = version === null ? ["Create", 0] as const : ["Mod", version] as const;
      txn = txn ? txn.and(k, column, "==", value) : this.#client.if(k, column, "==", value);
    }
    const ops = writes.map((write) =>
      write.delete
        ? this.#client.delete().key(key(write.store, write.key))
        : this.#client.put(key(write.store, write.key)).value(JSON.stringify(write.value))
    );
    const response = await txn!.then(...ops).commit();
    return response.succeeded ? response.header.revision : null;
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#client.close();
  }

  [Symbol.dispose](): void {
    this.close();
  }
}
