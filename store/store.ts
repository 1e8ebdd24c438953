/**
 * The storage contract shared by the manager and the worker. A `Database` holds named
 * `Store`s (tasks, events, nodes, ...); each store maps string keys to values with a
 * version, so concurrent writers can compare-and-set and never lose an update.
 *
 * @module
 */

export interface Entry<T> {
  key: string;
  value: T;
  /** Opaque; changes on every write of the key. */
  version: string;
}

export interface ListOptions {
  /** Only keys that start with this. */
  prefix?: string;
  /** At most this many entries. */
  limit?: number;
  /** Newest keys first. */
  reverse?: boolean;
}

export interface Store<T> {
  get(key: string): Promise<Entry<T> | null>;
  put(key: string, value: T): Promise<string>;
  /**
   * Writes only when the key's version is still `version` (`null`: the key must not
   * exist). Returns the new version, or `null` when another writer came first.
   */
  putIf(key: string, value: T, version: string | null): Promise<string | null>;
  /**
   * Read-modify-write that retries on conflict. `fn` gets the current value (or null)
   * and returns the new one, or `undefined` to leave the key as it is.
   */
  update(key: string, fn: (current: T | null) => T | undefined): Promise<T | null>;
  delete(key: string): Promise<void>;
  /** Deletes only when the key's version is still `version`; false when it changed. */
  deleteIf(key: string, version: string): Promise<boolean>;
  list(options?: ListOptions): Promise<Entry<T>[]>;
  count(): Promise<number>;
}

/** One write of an atomic batch: `value` into `store` under `key`, or a deletion. */
export type Write =
  | { store: string; key: string; value: unknown; delete?: never }
  | { store: string; key: string; delete: true; value?: never };

/** A condition of an atomic batch: `key` in `store` is still at `version` (`null`: absent). */
export interface Check {
  store: string;
  key: string;
  version: string | null;
}

/**
 * Deno KV caps one atomic operation at 1,000 mutations, 100 checks and 800 KiB; callers
 * split larger batches (each chunk is still atomic on its own).
 */
export const MAX_BATCH_WRITES = 800;
export const MAX_BATCH_CHECKS = 100;

/** What one `commit` may hold in a given database. */
export interface BatchLimits {
  writes: number;
  checks: number;
}

export interface Database extends Disposable {
  store<T>(name: string): Store<T>;
  /** What one commit may hold; Deno KV's (`MAX_BATCH_WRITES`, `MAX_BATCH_CHECKS`) when absent. */
  readonly limits?: BatchLimits;
  /**
   * Writes all of `writes` at once or none of them (a task and its history event never
   * part ways), in one round to the disk instead of one each, provided every check
   * holds. Returns the version the written keys now have, or `null` when a check failed
   * (nothing was written). Throws when the store itself fails.
   */
  commit(writes: readonly Write[], checks?: readonly Check[]): Promise<string | null>;
  close(): void;
}

const MAX_UPDATE_ATTEMPTS = 100;

/** `Store.update` on top of `get` and `putIf`, shared by every implementation. */
export async function updateWithRetry<T>(
  store: Pick<Store<T>, "get" | "putIf">,
  key: string,
  fn: (current: T | null) => T | undefined,
): Promise<T | null> {
  for (let attempt = 0; attempt < MAX_UPDATE_ATTEMPTS; attempt++) {
    const current = await store.get(key);
    const next = fn(current ? current.value : null);
    if (next === undefined) return current ? current.value : null;
    if (await store.putIf(key, next, current ? current.version : null) !== null) return next;
  }
  throw new Error(`Store update of "${key}" lost ${MAX_UPDATE_ATTEMPTS} races in a row`);
}
