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
 * Deno KV behind the `Store` contract: keys are `[storeName, key]`, versions are KV
 * versionstamps, `putIf` is an atomic check-and-set. One process owns a KV file.
 */
class KvStore<T> implements Store<T> {
  constructor(private readonly kv: Deno.Kv, private readonly name: string) {}

  async get(key: string): Promise<Entry<T> | null> {
    const entry = await this.kv.get<T>([this.name, key]);
    return entry.versionstamp === null
      ? null
      : { key, value: entry.value, version: entry.versionstamp };
  }

  async put(key: string, value: T): Promise<string> {
    const result = await this.kv.set([this.name, key], value);
    return result.versionstamp;
  }

  async putIf(key: string, value: T, version: string | null): Promise<string | null> {
    const result = await this.kv.atomic()
      .check({ key: [this.name, key], versionstamp: version })
      .set([this.name, key], value)
      .commit();
    return result.ok ? result.versionstamp : null;
  }

  update(key: string, fn: (current: T | null) => T | undefined): Promise<T | null> {
    return updateWithRetry(this, key, fn);
  }

  async delete(key: string): Promise<void> {
    await this.kv.delete([this.name, key]);
  }

  async deleteIf(key: string, version: string): Promise<boolean> {
    const result = await this.kv.atomic()
      .check({ key: [this.name, key], versionstamp: version })
      .delete([this.name, key])
      .commit();
    return result.ok;
  }

  async list(options: ListOptions = {}): Promise<Entry<T>[]> {
    const selector: Deno.KvListSelector = options.prefix
      ? { start: [this.name, options.prefix], end: [this.name, options.prefix + "\uffff"] }
      : { prefix: [this.name] };
    const entries: Entry<T>[] = [];
    const iterator = this.kv.list<T>(selector, {
      limit: options.limit,
      reverse: options.reverse,
      batchSize: 500,
    });
    for await (const entry of iterator) {
      entries.push({ key: String(entry.key[1]), value: entry.value, version: entry.versionstamp });
    }
    return entries;
  }

  async count(): Promise<number> {
    let n = 0;
    // Deno KV has no count; walking the keys is fine at cube's sizes (thousands).
    for await (const _ of this.kv.list({ prefix: [this.name] }, { batchSize: 1000 })) n++;
    return n;
  }
}

export class KvDatabase implements Database {
  #closed = false;

  private constructor(readonly kv: Deno.Kv, readonly path: string) {}

  /**
   * Opens (or creates) a KV database. `path` is a file path or `":memory:"`; an explicit
   * path is required because Deno's default location is shared per script.
   */
  static async open(path: string): Promise<KvDatabase> {
    if (path !== ":memory:") {
      const dir = path.replace(/[/\\][^/\\]*$/, "");
      if (dir && dir !== path) await Deno.mkdir(dir, { recursive: true });
    }
    return new KvDatabase(await Deno.openKv(path), path);
  }

  store<T>(name: string): Store<T> {
    return new KvStore<T>(this.kv, name);
  }

  async commit(writes: readonly Write[], checks: readonly Check[] = []): Promise<string | null> {
    const op = this.kv.atomic();
    for (const { store, key, version } of checks) {
      op.check({ key: [store, key], versionstamp: version });
    }
    for (const write of writes) {
      if (write.delete) op.delete([write.store, write.key]);
      else op.set([write.store, write.key], write.value);
    }
    const result = await op.commit();
    return result.ok ? result.versionstamp : null;
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.kv.close();
  }

  [Symbol.dispose](): void {
    this.close();
  }
}
