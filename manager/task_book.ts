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
   * Writes many changes in as few commits as KV's limits allow (a dispatch round places
   * many tasks; one commit each would make the disk, not the scheduler, the bottleneck).
   */
  async saveMany(changes: readonly Change[]): Promise<void> {
    let writes: Write[] = [];
    let bytes = 0;
    let done = 0;
    const flush = async (upTo: number) => {
      await this.#db.commit(writes);
      for (; done < upTo; done++) {
        const { task, desired } = changes[done];
        this.#tasks.set(task.ID, task);
        if (desired) this.#desired.set(task.ID, desired);
      }
      writes = [];
      bytes = 0;
    };
    for (const [i, { task, message, desired }] of changes.entries()) {
      const size = JSON.stringify(task).length * 2 + 1024;
      if (
        writes.length > 0 &&
        (writes.length + 3 > MAX_BATCH_WRITES || bytes + size > MAX_BATCH_BYTES)
      ) {
        await flush(i);
      }
      writes.push({ store: TASKS, key: task.ID, value: task });
      if (desired && this.#desired.get(task.ID) !== desired) {
        writes.push({ store: DESIRED, key: task.ID, value: desired });
      }
      const before = this.#tasks.get(task.ID);
      if (message || before?.State !== task.State) {
        writes.push(
          this.#history.entry(task.ID, task.State, task.Node, message || stateName(task.State)),
        );
      }
      bytes += size;
    }
    await flush(changes.length);
  }

  history(id: string): Promise<TaskHistoryEvent[]> {
    this.require(id);
    return this.#history.of(id);
  }
}
