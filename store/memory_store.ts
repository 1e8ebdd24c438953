import {
  type Check,
  type Database,
  type Entry,
  type ListOptions,
  type Store,
  updateWithRetry,
  type Write,
} from "./store.ts";

/**
 * A plain in-memory store: for tests and for `--store memory`. Values are cloned on the
 * way in and out so callers never share mutable state with the store.
 */
class MemoryStore<T> implements Store<T> {
  #entries = new Map<string, { value: T; version: string }>();
  #clock: { next: number };

  constructor(clock: { next: number }) {
    this.#clock = clock;
  }

  #version(): string {
    return String(this.#clock.next++).padStart(16, "0");
  }

  get(key: string): Promise<Entry<T> | null> {
    const entry = this.#entries.get(key);
    return Promise.resolve(
      entry ? { key, value: structuredClone(entry.value), version: entry.version } : null,
    );
  }

  put(key: string, value: T): Promise<string> {
    const version = this.#version();
    this.#entries.set(key, { value: structuredClone(value), version });
    return Promise.resolve(version);
  }

  /** For `MemoryDatabase.commit`: every key of one commit gets the same version. */
  versionOf(key: string): string | null {
    return this.#entries.get(key)?.version ?? null;
  }

  setAt(key: string, value: T | undefined, version: string): void {
    if (value === undefined) this.#entries.delete(key);
    else this.#entries.set(key, { value: structuredClone(value), version });
  }

  nextVersion(): string {
    return this.#version();
  }

  putIf(key: string, value: T, version: string | null): Promise<string | null> {
    const current = this.#entries.get(key)?.version ?? null;
    if (current !== version) return Promise.resolve(null);
    return this.put(key, value);
  }

  update(key: string, fn: (current: T | null) => T | undefined): Promise<T | null> {
    return updateWithRetry(this, key, fn);
  }

  delete(key: string): Promise<void> {
    this.#entries.delete(key);
    return Promise.resolve();
  }

  deleteIf(key: string, version: string): Promise<boolean> {
    if (this.#entries.get(key)?.version !== version) return Promise.resolve(false);
    this.#entries.delete(key);
    return Promise.resolve(true);
  }

  list(options: ListOptions = {}): Promise<Entry<T>[]> {
    let keys = [...this.#entries.keys()].filter((k) => k.startsWith(options.prefix ?? "")).sort();
    if (options.reverse) keys.reverse();
    if (options.limit !== undefined) keys = keys.slice(0, options.limit);
    return Promise.resolve(keys.map((key) => {
      const entry = this.#entries.get(key)!;
      return { key, value: structuredClone(entry.value), version: entry.version };
    }));
  }

  count(): Promise<number> {
    return Promise.resolve(this.#entries.size);
  }
}

export class MemoryDatabase implements Database {
  #stores = new Map<string, MemoryStore<unknown>>();
  #clock = { next: 1 };

  store<T>(name: string): Store<T> {
    let store = this.#stores.get(name);
    if (!store) this.#stores.set(name, store = new MemoryStore(this.#clock));
    return store as Store<T>;
  }

  #store(name: string): MemoryStore<unknown> {
    return this.store(name) as unknown as MemoryStore<unknown>;
  }

  commit(writes: readonly Write[], checks: readonly Check[] = []): Promise<string | null> {
    for (const { store, key, version } of checks) {
      if (this.#store(store).versionOf(key) !== version) return Promise.resolve(null);
    }
    const version = this.#store(writes[0]?.store ?? "_").nextVersion();
    for (const write of writes) {
      this.#store(write.store).setAt(write.key, write.delete ? undefined : write.value, version);
    }
    return Promise.resolve(version);
  }

  close(): void {}

  [Symbol.dispose](): void {
    this.close();
  }
}
