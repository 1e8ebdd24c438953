/**
 * What the manager knows about tasks: each task as last recorded, what the user wants of
 * it (run or stop), and its history. Writes go to KV first, then to the in-memory mirror
 * that every read is served from.
 *
 * @module
 */

import { CubeError } from "../http/errors.ts";
import { type Database, MAX_BATCH_WRITES, type Store, type Write } from "../store/mod.ts";
import { stateName, type Task } from "../task/mod.ts";
import { History, type TaskHistoryEvent } from "./history.ts";

export type Desired = "run" | "stop";

/** A task to write, the message for its history, and (on submit) what the user wants of it. */
export interface Change {
  task: Task;
  message: string;
  desired?: Desired;
}

/** A change waiting for the next group commit. */
interface Queued {
  change: Change;
  writes: Write[];
  bytes: number;
  done: (failure?: { error: unknown }) => void;
}

const TASKS = "tasks";
const DESIRED = "desired";
/** Below Deno KV's 800 KiB per atomic write, with room for keys and history events. */
const MAX_BATCH_BYTES = 600 * 1024;

export class TaskBook {
  readonly #tasks = new Map<string, Task>();
  readonly #desired = new Map<string, Desired>();
  readonly #taskStore: Store<Task>;
  readonly #desiredStore: Store<Desired>;
  readonly #history: History;
  readonly #db: Database;
  /** Changes not yet committed, oldest first; the newest queued version of each task. */
  #queue: Queued[] = [];
  readonly #queued = new Map<string, Task>();
  #flushing: Promise<void> | null = null;

  constructor(db: Database) {
    this.#db = db;
    this.#taskStore = db.store<Task>(TASKS);
    this.#desiredStore = db.store<Desired>(DESIRED);
    this.#history = new History(db.store<TaskHistoryEvent>(History.STORE));
  }

  /** Loads everything from KV; returns the tasks oldest first. */
  async load(): Promise<Task[]> {
    for (const { key, value } of await this.#desiredStore.list()) this.#desired.set(key, value);
    const tasks = (await this.#taskStore.list()).map((e) => e.value);
    tasks.sort((a, b) => a.CreateTime.localeCompare(b.CreateTime));
    for (const task of tasks) this.#tasks.set(task.ID, task);
    return tasks;
  }

  list(): Task[] {
    return [...this.#tasks.values()];
  }

  values(): IterableIterator<Task> {
    return this.#tasks.values();
  }

  get size(): number {
    return this.#tasks.size;
  }

  get(id: string): Task | undefined {
    return this.#tasks.get(id);
  }

  /** A task by ID; 404 naming the ID when unknown. */
  require(id: string): Task {
    const task = this.#tasks.get(id);
    if (!task) throw new CubeError(404, `Task ${id} not found`);
    return task;
  }

  desired(id: string): Desired | undefined {
    return this.#desired.get(id);
  }

  async setDesired(id: string, desired: Desired): Promise<void> {
    if (this.#desired.get(id) === desired) return;
    await this.#desiredStore.put(id, desired);
    this.#desired.set(id, desired);
  }

  /**
   * Writes the task and records the change in its history (a message, or the new state),
   * in one atomic commit: the task and its story never disagree, even after a kill -9.
   */
  async save(task: Task, message: string, desired?: Desired): Promise<Task> {
    await this.saveMany([{ task, message, desired }]);
    return task;
  }

  /**
   * Writes changes durably; resolves once all are on disk (and in the mirror).
   *
   * Group commit: changes that arrive while a commit is in flight (concurrent submits,
   * reports, a dispatch round) go to disk together in the next one, up to KV's limits.
   * One commit per change made the disk, not the scheduler, the bottleneck at scale.
   * A chunk that KV refuses is retried change by change, so one bad change fails alone.
   */
  saveMany(changes: readonly Change[]): Promise<void> {
    if (changes.length === 0) return Promise.resolve();
    return new Promise((resolve, reject) => {
      let left = changes.length;
      let failure: { error: unknown } | null = null;
      const done = (error?: { error: unknown }) => {
        failure ??= error ?? null;
        if (--left > 0) return;
        if (failure) reject(failure.error);
        else resolve();
      };
      for (const change of changes) this.#queue.push(this.#prepare(change, done));
      this.#kick();
    });
  }

  #kick(): void {
    if (this.#flushing) return;
    this.#flushing = this.#drain().finally(() => {
      this.#flushing = null;
      // Changes queued between the drain's last look and now would otherwise wait.
      if (this.#queue.length > 0) this.#kick();
    });
  }

  #prepare(change: Change, done: Queued["done"]): Queued {
    const { task, message, desired } = change;
    const writes: Write[] = [{ store: TASKS, key: task.ID, value: task }];
    if (desired && this.#desired.get(task.ID) !== desired) {
      writes.push({ store: DESIRED, key: task.ID, value: desired });
    }
    const before = this.#queued.get(task.ID) ?? this.#tasks.get(task.ID);
    if (message || before?.State !== task.State) {
      writes.push(
        this.#history.entry(task.ID, task.State, task.Node, message || stateName(task.State)),
      );
    }
    this.#queued.set(task.ID, task);
    return { change, writes, bytes: JSON.stringify(task).length * 2 + 1024, done };
  }

  async #drain(): Promise<void> {
    while (this.#queue.length > 0) {
      let writes = 0;
      let bytes = 0;
      let n = 0;
      for (const item of this.#queue) {
        if (
          n > 0 && (writes + item.writes.length > MAX_BATCH_WRITES ||
            bytes + item.bytes > MAX_BATCH_BYTES)
        ) break;
        writes += item.writes.length;
        bytes += item.bytes;
        n++;
      }
      const chunk = this.#queue.splice(0, n);
      try {
        await this.#db.commit(chunk.flatMap((item) => item.writes));
        for (const item of chunk) this.#settle(item);
      } catch (error) {
        if (chunk.length === 1) {
          this.#settle(chunk[0], { error });
          continue;
        }
        // One bad change must not fail its neighbours: retry each on its own.
        for (const item of chunk) {
          try {
            await this.#db.commit(item.writes);
            this.#settle(item);
          } catch (alone) {
            this.#settle(item, { error: alone });
          }
        }
      }
    }
  }

  #settle(item: Queued, failure?: { error: unknown }): void {
    const { task, desired } = item.change;
    if (this.#queued.get(task.ID) === task) this.#queued.delete(task.ID);
    if (!failure) {
      this.#tasks.set(task.ID, task);
      if (desired) this.#desired.set(task.ID, desired);
    }
    item.done(failure);
  }

  history(id: string): Promise<TaskHistoryEvent[]> {
    this.require(id);
    return this.#history.of(id);
  }
}
