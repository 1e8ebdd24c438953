/**
 * A worker's one writer of task records. Every change of a record is applied here to its
 * newest version, one at a time per task, stamped with the next revision (which only
 * increases, and survives restarts because it is stored with the record), stored, and
 * then told to the manager. Reads come from a mirror, so heartbeats and the reconcile
 * loop never list the store; the store is listed once, when the worker recovers.
 *
 * Both the Docker-backed worker and the simulated node keep their records here.
 *
 * @module
 */

import { KeyLock } from "../lib/key_lock.ts";
import type { Store, StoreGuard } from "../store/mod.ts";
import { isActive, State, type Task, type TaskEvent } from "../task/mod.ts";
import { admit } from "./admission.ts";

/** The newest record (null: none yet) in; the next record out, or nothing to change. */
export type RecordChange = (current: Task | null) => Task | null | undefined;

export class TaskRecords {
  readonly #mirror = new Map<string, Task>();
  readonly #lock = new KeyLock();
  #active = 0;
  /** Told of every stored change (the manager link pushes it). */
  onChange: (task: Task) => void = () => {};

  /** `guard` turns a failing store into a 503 that says so, and keeps the reason for health. */
  constructor(private readonly store: Store<Task>, private readonly guard?: StoreGuard) {}

  #save<T>(id: string, call: () => Promise<T>): Promise<T> {
    return this.guard ? this.guard.run(`save task ${id}`, call) : call();
  }

  /** Reads every record from the store (on start and recovery). */
  async load(): Promise<Task[]> {
    this.#mirror.clear();
    this.#active = 0;
    for (const { value } of await this.store.list()) {
      const task = { ...value, Revision: value.Revision ?? 0, Placement: value.Placement ?? 0 };
      this.#mirror.set(task.ID, task);
      if (isActive(task.State)) this.#active++;
    }
    return [...this.#mirror.values()];
  }

  get(id: string): Task | null {
    return this.#mirror.get(id) ?? null;
  }

  list(): Task[] {
    return [...this.#mirror.values()];
  }

  /** Tasks holding (or about to hold) a container. */
  get activeCount(): number {
    return this.#active;
  }

  /** IDs of Running tasks (what the reconcile loop looks at). */
  running(): string[] {
    return this.list().filter((t) => t.State === State.Running).map((t) => t.ID);
  }

  /**
   * Runs `job` while holding the task's record: nothing else changes it meanwhile. The
   * job changes the record through the `write` it is given.
   */
  hold<T>(id: string, job: (write: (change: RecordChange) => Promise<Task | null>) => Promise<T>) {
    return this.#lock.run(id, () => job((change) => this.#write(id, change)));
  }

  /**
   * Takes a task the manager sends, by the admission rule (a placement runs at most
   * once), while holding its record. `stopping` says whether a stop of it is still to be
   * carried out; `beforeRun` is stored ahead of a new record (the worker's intent). Says
   * whether a start is now due (`created`).
   */
  accept(
    event: TaskEvent,
    node: string,
    hooks: { stopping?: () => Promise<boolean>; beforeRun?: (task: Task) => Promise<unknown> } = {},
  ): Promise<{ task: Task; created: boolean }> {
    const id = event.Task.ID;
    return this.hold(id, async (write) => {
      const existing = this.get(id);
      const admission = admit(existing, event, node, await hooks.stopping?.() ?? false);
      if (admission.kind === "keep") return { task: existing!, created: false };
      if (admission.kind === "adopt") {
        const task = await write((t) => t && { ...t, Placement: admission.placement });
        return { task: task!, created: false };
      }
      await hooks.beforeRun?.(admission.task);
      return { task: (await write(() => admission.task))!, created: true };
    });
  }

  /** Applies `change` to the newest record and stores it with the next revision. */
  change(id: string, change: RecordChange): Promise<Task | null> {
    return this.#lock.run(id, () => this.#write(id, change));
  }

  async #write(id: string, change: RecordChange): Promise<Task | null> {
    const current = this.get(id);
    const next = change(current);
    if (!next) return current;
    const stamped: Task = { ...next, Revision: (current?.Revision ?? next.Revision ?? 0) + 1 };
    await this.#save(id, () => this.store.put(id, stamped));
    this.#set(stamped);
    this.onChange(stamped);
    return stamped;
  }

  /** Forgets a record (garbage collection). */
  async remove(id: string): Promise<void> {
    await this.#save(id, () => this.store.delete(id));
    const current = this.#mirror.get(id);
    if (current && isActive(current.State)) this.#active--;
    this.#mirror.delete(id);
  }

  #set(task: Task): void {
    const before = this.#mirror.get(task.ID);
    if (before && isActive(before.State)) this.#active--;
    if (isActive(task.State)) this.#active++;
    this.#mirror.set(task.ID, task);
  }
}
