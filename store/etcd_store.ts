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
 * A leader writes through a fenced view (`fenced`): every write is a transaction that
 * also requires the leader's own election key, so a leader that was paused past its lease
 * and replaced cannot write any more, whatever it still believes.
 *
 * @module
 */

import { circuitBreaker, ConsecutiveBreaker, handleWhen } from "cockatiel";
import {
  type ComparatorBuilder,
  Etcd3,
  type IKeyValue,
  isRecoverableError,
  type Lease,
} from "etcd3";
import { CubeError } from "../lib/errors.ts";
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

/** The leader's election key and the revision it was created at: what every fenced write requires. */
export interface Fence {
  key: string;
  revision: string;
  /** Called when a write was refused because the key is gone or was made again. */
  onFenced(): void;
}

/** The answer to a fenced write whose leadership ended. */
function fencedOut(fence: Fence): CubeError {
  fence.onFenced();
  return new CubeError(
    503,
    "This manager is no longer the leader: its write was refused (another manager leads now; retry)",
  );
}

/**
 * Runs a transaction with `fence` added to its conditions; its `else` branch reads the
 * fence key, so a failed transaction tells apart "a check failed" (false) from "not the
 * leader any more" (thrown).
 */
async function fencedTxn(
  client: Etcd3,
  fence: Fence | null,
  txn: ComparatorBuilder | null,
  ops: Parameters<ComparatorBuilder["then"]>,
): Promise<string | null> {
  let builder = txn;
  if (fence) {
    builder = builder
      ? builder.and(fence.key, "Create", "==", fence.revision)
      : client.if(fence.key, "Create", "==", fence.revision);
    builder = builder.else(client.get(fence.key));
  }
  // Without a condition, one that always holds (a key nobody writes is absent).
  builder ??= client.if("\u0000cube-never-written", "Create", "==", 0);
  const response = await builder.then(...ops).commit();
  if (response.succeeded) return response.header.revision;
  if (fence) {
    const kv = response.responses[0]?.response_range?.kvs?.[0];
    if (!kv || String(kv.create_revision) !== fence.revision) throw fencedOut(fence);
  }
  return null;
}

class EtcdStore<T> implements Store<T> {
  readonly #base: string;

  constructor(
    private readonly client: Etcd3,
    prefix: string,
    name: string,
    private readonly fence: Fence | null,
  ) {
    this.#base = `${prefix}/${name}/`;
  }

  async get(key: string): Promise<Entry<T> | null> {
    const response = await this.client.get(this.#base + key).exec();
    const kv = response.kvs[0];
    return kv ? { key, value: decode<T>(kv), version: kv.mod_revision } : null;
  }

  async put(key: string, value: T): Promise<string> {
    const put = this.client.put(this.#base + key).value(JSON.stringify(value));
    if (!this.fence) return (await put.exec()).header.revision;
    return (await fencedTxn(this.client, this.fence, null, [put]))!;
  }

  putIf(key: string, value: T, version: string | null): Promise<string | null> {
    const full = this.#base + key;
    const txn = version === null
      ? this.client.if(full, "Create", "==", 0)
      : this.client.if(full, "Mod", "==", version);
    return fencedTxn(this.client, this.fence, txn, [
      this.client.put(full).value(JSON.stringify(value)),
    ]);
  }

  update(key: string, fn: (current: T | null) => T | undefined): Promise<T | null> {
    return updateWithRetry(this, key, fn);
  }

  async delete(key: string): Promise<void> {
    const deletion = this.client.delete().key(this.#base + key);
    if (!this.fence) await deletion.exec();
    else await fencedTxn(this.client, this.fence, null, [deletion]);
  }

  async deleteIf(key: string, version: string): Promise<boolean> {
    const full = this.#base + key;
    const txn = this.client.if(full, "Mod", "==", version);
    return await fencedTxn(this.client, this.fence, txn, [this.client.delete().key(full)]) !==
      null;
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
  /** The fence is one more condition of every transaction, so a fenced view checks one less. */
  readonly limits: { writes: number; checks: number };
  readonly #client: Etcd3;
  readonly #fence: Fence | null;
  #closed = false;

  private constructor(
    client: Etcd3,
    readonly prefix: string,
    readonly endpoints: string[],
    fence: Fence | null = null,
  ) {
    this.#client = client;
    this.#fence = fence;
    this.limits = { writes: MAX_TXN_OPS, checks: fence ? MAX_TXN_OPS - 1 : MAX_TXN_OPS };
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
      // Streams (lease keep-alives, watches) live on: a deadline would cut them every 1.5 s.
      defaultCallOptions: (context) =>
        context.isStream ? {} : { deadline: Date.now() + CALL_DEADLINE_MS },
      faultHandling: {
        // A member that failed 3 calls in a row is passed over for 1 s (etcd3's default, 5 s,
        // kept a cluster that had lost and regained quorum refusing calls for 5 s more).
        host: () =>
          circuitBreaker(handleWhen(isRecoverableError), {
            halfOpenAfter: 1_000,
            breaker: new ConsecutiveBreaker(3),
          }),
      },
    });
    return new EtcdDatabase(client, prefix, endpoints);
  }

  /**
   * The same database, with every write fenced by a leader's election key. It shares this
   * one's connection: closing it closes nothing.
   */
  fenced(fence: Fence): EtcdDatabase {
    const view = new EtcdDatabase(this.#client, this.prefix, this.endpoints, fence);
    view.#closed = true;
    return view;
  }

  /** A lease of `ttlSeconds`, kept alive by the client until it is revoked or lost. */
  lease(ttlSeconds: number): Lease {
    return this.#client.lease(ttlSeconds);
  }

  /** The underlying client, for the election (keys outside the stores' prefix layout). */
  get client(): Etcd3 {
    return this.#client;
  }

  store<T>(name: string): Store<T> {
    return new EtcdStore<T>(this.#client, this.prefix, name, this.#fence);
  }

  async commit(writes: readonly Write[], checks: readonly Check[] = []): Promise<string | null> {
    if (writes.length > this.limits.writes || checks.length > this.limits.checks) {
      throw new Error(
        `An etcd transaction holds at most ${this.limits.writes} writes and ${this.limits.checks} checks, not ${writes.length} and ${checks.length}`,
      );
    }
    const key = (store: string, k: string) => `${this.prefix}/${store}/${k}`;
    let txn: ComparatorBuilder | null = null;
    for (const check of checks) {
      const k = key(check.store, check.key);
      const [column, value] = check.version === null
        ? ["Create", 0] as const
        : ["Mod", check.version] as const;
      txn = txn ? txn.and(k, column, "==", value) : this.#client.if(k, column, "==", value);
    }
    const ops = writes.map((write) =>
      write.delete
        ? this.#client.delete().key(key(write.store, write.key))
        : this.#client.put(key(write.store, write.key)).value(JSON.stringify(write.value))
    );
    return await fencedTxn(this.#client, this.#fence, txn, ops);
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
