/** At most `limit` jobs at a time; the others wait their turn, in order. */
export class Slots {
  readonly #limit: number;
  #running = 0;
  #waiting: Array<() => void> = [];

  constructor(limit: number) {
    this.#limit = Math.max(1, limit);
  }

  async run<T>(job: () => Promise<T>): Promise<T> {
    if (this.#running < this.#limit) this.#running++;
    else await new Promise<void>((resolve) => this.#waiting.push(resolve)); // slot handed over
    try {
      return await job();
    } finally {
      const next = this.#waiting.shift();
      if (next) next();
      else this.#running--;
    }
  }
}

/**
 * Runs jobs one at a time per key (a task's start and stop never race) and at most
 * `limit` at a time overall (a burst of submissions does not flood the engine).
 */
export class KeyedQueue {
  readonly #slots: Slots;
  #tails = new Map<string, Promise<unknown>>();

  constructor(limit: number) {
    this.#slots = new Slots(limit);
  }

  /** Jobs queued or running. */
  get size(): number {
    return this.#tails.size;
  }

  /** Whether a job of `key` is queued or running. */
  has(key: string): boolean {
    return this.#tails.has(key);
  }

  run<T>(key: string, job: () => Promise<T>): Promise<T> {
    const previous = this.#tails.get(key) ?? Promise.resolve();
    const result = previous.catch(() => {}).then(() => this.#slots.run(job));
    const tail = result.catch(() => {});
    this.#tails.set(key, tail);
    tail.then(() => {
      if (this.#tails.get(key) === tail) this.#tails.delete(key);
    });
    return result;
  }

  /** Resolves when every job queued so far has finished. */
  async idle(): Promise<void> {
    while (this.#tails.size > 0) await Promise.all(this.#tails.values());
  }
}
