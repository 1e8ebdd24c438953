/**
 * What the manager knows about tasks: each task as last recorded, what the user wants of
 * it (run or stop), and its history. Writes go to KV first, then to the in-memory mirror
 * that every read is served from.
 *
 * @module
 */

import { CubeError } from "../http/errors.ts";
import type { Database, Store } from "../store/mod.ts";
import { stateName, type Task } from "../task/mod.ts";
import { History, type TaskHistoryEvent } from "./history.ts";

export type Desired = "run" | "stop";

export class TaskBook {
  readonly #tasks = new Map<string, Task>();
  readonly #desired = new Map<string, Desired>();
  readonly #taskStore: Store<Task>;
  readonly #desiredStore: Store<Desired>;
  readonly #history: History;

  constructor(db: Database) {
    this.#taskStore = db.store<Task>("tasks");
    this.#desiredStore = db.store<Desired>("desired");
    this.#history = new History(db.store<TaskHistoryEvent>("events"));
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

  /** Writes the task and records the change in its history (a message, or the new state). */
  async save(task: Task, message: string): Promise<Task> {
    const before = this.#tasks.get(task.ID);
    await this.#taskStore.put(task.ID, task);
    this.#tasks.set(task.ID, task);
    if (message || before?.State !== task.State) {
      await this.#history.record(task.ID, task.State, task.Node, message || stateName(task.State));
    }
    return task;
  }

  history(id: string): Promise<TaskHistoryEvent[]> {
    this.require(id);
    return this.#history.of(id);
  }
}
