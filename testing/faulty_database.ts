/**
 * A real database with a switch that makes its writes fail, as a full disk or a lost
 * etcd quorum would: the fault is injected; the store under it is the real one.
 *
 * @module
 */

import type { Check, Database, Entry, ListOptions, Store, Write } from "../store/mod.ts";

export class FaultyDatabase implements Database {
  /** While set, every write throws this message. */
  failing: string | null = null;

  constructor(readonly inner: Database) {}

  #check(): void {
    if (this.failing !== null) throw new Error(this.failing);
  }

  store<T>(name: string): Store<T> {
    const inner = this.inner.store<T>(name);
    const guard = <A extends unknown[], R>(fn: (...args: A) => Promise<R>) =>
    async (
      ...args: A
    ): Promise<R> => {
      this.#check();
      return await fn(...args);
    };
    return {
      get: (key: string): Promise<Entry<T> | null> => inner.get(key),
      list: (options?: ListOptions) => inner.list(options),
      count: () => inner.count(),
      put: guard((key: string, value: T) => inner.put(key, value)),
      putIf: guard((key: string, value: T, version: string | null) =>
        inner.putIf(key, value, version)
      ),
      update: guard((key: string, fn: (current: T | null) => T | undefined) =>
        inner.update(key, fn)
      ),
      delete: guard((key: string) => inner.delete(key)),
      deleteIf: guard((key: string, version: string) => inner.deleteIf(key, version)),
    };
  }

  async commit(writes: readonly Write[], checks?: readonly Check[]): Promise<string | null> {
    this.#check();
    return await this.inner.commit(writes, checks);
  }

  close(): void {
    this.inner.close();
  }

  [Symbol.dispose](): void {
    this.close();
  }
}
