/**
 * One job at a time per key: the jobs for a key run in the order they were asked for,
 * each on the newest state its predecessor left. Jobs of different keys do not wait for
 * each other. A job asked for while its key is free starts synchronously, so a burst of
 * jobs issued in one turn can share one store commit.
 */
export class KeyLock {
  readonly #tails = new Map<string, Promise<void>>();

  /** Keys with a job running or waiting. */
  get size(): number {
    return this.#tails.size;
  }

  /** Whether a job of `key` is running or waiting. */
  holds(key: string): boolean {
    return this.#tails.has(key);
  }

  run<T>(key: string, job: () => Promise<T>): Promise<T> {
    const previous = this.#tails.get(key);
    const result = previous ? previous.then(job) : job();
    const tail = result.then(() => {}, () => {});
    this.#tails.set(key, tail);
    tail.then(() => {
      if (this.#tails.get(key) === tail) this.#tails.delete(key);
    });
    return result;
  }

  /** Resolves when every job asked for so far has finished. */
  async idle(): Promise<void> {
    while (this.#tails.size > 0) await Promise.all(this.#tails.values());
  }
}
