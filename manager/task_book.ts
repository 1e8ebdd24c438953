/**
 * The one writer of task state. Every change of a task in the manager is a function of
 * the task's newest version, applied here one at a time per task, and stored in one
 * record with the task's story (history.ts); the in-memory mirror every read is served
 * from is updated only once the store has the change.
 *
 * One writer per store is what the store itself enforces: a book claims the store before
 * it reads it (a `writer` record with an ID of its own), and every commit it makes holds
 * one check, that its claim still stands. A second book on the same store (a second
 * manager on one KV file, a new leader whose old one is paused) claims it in turn, and
 * from then on every commit of the first is refused with a 503: it never overwrites what
 * the second wrote. One check per commit, not one per task, lets a commit hold 800
 * changes rather than KV's 100 checks' worth: a 10,000-replica service went from 340
 * commits to under 100.
 *
 * @module
 */

import type { Clock } from "../lib/clock.ts";
import { CubeError } from "../lib/errors.ts";
import { KeyLock } from "../lib/key_lock.ts";
import {
  type BatchLimits,
  type Check,
  type Database,
  MAX_BATCH_CHECKS,
  MAX_BATCH_WRITES,
  type Store,
  type Write,
} from "../store/mod.ts";
import { isValidTransition, stateName, type Task, type TaskHistoryEvent } from "../task/mod.ts";
import {
  historyEvent,
  isRecord,
  OLD_HISTORY_STORE,
  type Story,
  storyFromLines,
  type TaskRecord,
  told,
} from "./history.ts";
import type { StoreGuard } from "../store/mod.ts";
import { serializedSize } from "../lib/size.ts";

export type Desired = "run" | "stop";

/** What a change makes of a task: its new version, and the line for its history. */
export interface Edit {
  task: Task;
  /** The history line; by default the new state's name when the state changed. */
  message?: string;
  /** What the user wants of the task from now on, when that changes. */
  desired?: Desired;
}

/** A change: the newest version of the task (and what the user wants of it) in, an edit or nothing out. */
export type Mutation = (current: Task, desired: Desired) => Edit | null | undefined;

/** Told of every stored change: the event stream, and the seeded simulation's checks. */
export type ChangeObserver = (before: Task | null, after: Task | null, message: string) => void;

/** A commit waiting for the next group commit. */
interface Queued {
  writes: Write[];
  bytes: number;
  done: (result: { version: string } | { error: unknown }) => void;
}

const TASKS = "tasks";
const DESIRED = "desired";
/** The claim of the one writer: `{ Id, Since }` under the key `tasks`. */
const WRITER = "writer";
/** Below Deno KV's 800 KiB per atomic write, with room for keys and history events. */
const MAX_BATCH_BYTES = 600 * 1024;
/**
 * Commits the store works on at once. Measured with a 10,000-replica service: four in
 * flight were no faster than one (the manager is short of CPU then, not of round trips).
 */
const COMMITS_IN_FLIGHT = 1;

export class TaskBook {
  readonly #tasks = new Map<string, Task>();
  readonly #desired = new Map<string, Desired>();
  readonly #stories = new Map<string, Story>();
  /** Task IDs by the node they are placed on. */
  readonly #byNode = new Map<string, Set<string>>();
  readonly #taskStore: Store<TaskRecord>;
  readonly #desiredStore: Store<Desired>;
  readonly #clock: Clock;
  readonly #db: Database;
  /** What one commit of this database may hold (etcd's transactions hold fewer than KV's). */
  readonly #limits: BatchLimits;
  readonly #guard: StoreGuard;
  readonly #lock = new KeyLock();
  /** This book's claim on the store (the writer record's version), once made. */
  #claim: Promise<Check> | null = null;
  /** Set once another writer claimed the store: every change is refused with it. */
  #deposed: CubeError | null = null;
  #queue: Queued[] = [];
  #inFlight = 0;
  #kickPending = false;
  readonly #observers: ChangeObserver[] = [];

  readonly #onCommit: (seconds: number, changes: number) => void;

  constructor(
    db: Database,
    options: {
      clock: Clock;
      guard: StoreGuard;
      /** Told of every commit: how long it took and how many changes it held. */
      onCommit?: (seconds: number, changes: number) => void;
    },
  ) {
    this.#db = db;
    this.#limits = db.limits ?? { writes: MAX_BATCH_WRITES, checks: MAX_BATCH_CHECKS };
    this.#guard = options.guard;
    this.#onCommit = options.onCommit ?? (() => {});
    this.#taskStore = db.store<TaskRecord>(TASKS);
    this.#desiredStore = db.store<Desired>(DESIRED);
    this.#clock = options.clock;
  }

  /** Tells `observer` of every change stored from now on. */
  observe(observer: ChangeObserver): void {
    this.#observers.push(observer);
  }

  /**
   * Claims the store as its one writer, then loads everything from it; returns the tasks
   * oldest first. (Claimed first: nothing another writer does after the reads can land.
   * A store that fails writes now must not keep the manager from starting: the first
   * commit claims it then.)
   */
  async load(): Promise<Task[]> {
    await this.#claimed().catch(() => {});
    for (const { key, value } of await this.#desiredStore.list()) this.#desired.set(key, value);
    let entries = await this.#taskStore.list();
    if (entries.some((e) => !isRecord(e.value))) {
      await this.#moveStoriesIn(entries);
      entries = await this.#taskStore.list();
    }
    entries.sort((a, b) => a.value.Task.CreateTime.localeCompare(b.value.Task.CreateTime));
    for (const { key, value } of entries) {
      const task = value.Task;
      // Records from before placements and revisions existed start at 0.
      this.#put({ ...task, Placement: task.Placement ?? 0, Revision: task.Revision ?? 0 });
      this.#stories.set(key, { History: value.History, Earlier: value.Earlier });
    }
    return [...this.#tasks.values()];
  }

  /**
   * A store written before stories moved into the task records: each task and its lines
   * become one record, a few tasks per commit, each commit checked against the task so a
   * crash half-way leaves only whole moves (and the rest for the next start).
   */
  async #moveStoriesIn(entries: { key: string; value: unknown; version: string }[]) {
    const lines = this.#db.store<TaskHistoryEvent>(OLD_HISTORY_STORE);
    for (const { key, value, version } of entries) {
      if (isRecord(value)) continue;
      const old = await lines.list({ prefix: `${key}:` });
      const record: TaskRecord = {
        Task: value as Task,
        ...storyFromLines(old.map((l) => l.value)),
      };
      const deletes: Write[] = old.map((l) => ({
        store: OLD_HISTORY_STORE,
        key: l.key,
        delete: true,
      }));
      while (deletes.length >= this.#limits.writes) {
        await this.#db.commit(deletes.splice(0, this.#limits.writes - 1));
      }
      await this.#db.commit(
        [{ store: TASKS, key, value: record }, ...deletes],
        [{ store: TASKS, key, version }],
      );
    }
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

  /** The tasks placed on a node (any state). */
  *onNode(name: string): Iterable<Task> {
    for (const id of this.#byNode.get(name) ?? []) yield this.#tasks.get(id)!;
  }

  desired(id: string): Desired {
    return this.#desired.get(id) ?? "run";
  }

  /** Whether a change of the task is in flight (its mirror may be about to change). */
  changing(id: string): boolean {
    return this.#lock.holds(id);
  }

  /** Changes in flight: bounded by the tasks being changed right now. */
  get busy(): number {
    return this.#lock.size;
  }

  /**
   * Stores a new task; 409 when one with its ID exists. `earlier`: the task as it was
   * before this first write, when it has already moved on (a service's replica is
   * submitted and placed in one write): its story and the observers get both steps, in
   * order, as if each had been a write of its own.
   */
  create(task: Task, message: string, earlier?: { task: Task; message: string }): Promise<Task> {
    return this.#lock.run(task.ID, async () => {
      if (this.#tasks.has(task.ID)) {
        throw new CubeError(409, `Task ${task.ID} already exists`);
      }
      const event = (t: Task, m: string) => historyEvent(this.#clock, t.State, t.Node, m);
      // No desired record: a task without one is wanted running.
      // The earlier step happened when the task was submitted, not now.
      const first = earlier &&
        { ...event(earlier.task, earlier.message), Timestamp: earlier.task.CreateTime };
      const story = first
        ? told(told(undefined, first), event(task, message))
        : told(undefined, event(task, message));
      const writes: Write[] = [{ store: TASKS, key: task.ID, value: { Task: task, ...story } }];
      await this.#commit(`save task ${task.ID}`, writes);
      if (earlier) {
        for (const observe of this.#observers) observe(null, earlier.task, earlier.message);
      }
      this.#apply(earlier?.task ?? null, task, "run", message, story);
      return task;
    });
  }

  /**
   * Applies `mutate` to the newest version of the task and stores the result: the one
   * way a task changes. Resolves with the task as stored (unchanged when `mutate` gave
   * nothing), or undefined when the task is unknown. A store failure rejects with a 503
   * and changes nothing.
   */
  change(id: string, mutate: Mutation): Promise<Task | undefined> {
    return this.#lock.run(id, async () => {
      const current = this.#tasks.get(id);
      if (!current) return undefined;
      const desired = this.desired(id);
      const edit = mutate(current, desired);
      if (!edit) return current;
      if (!isValidTransition(current.State, edit.task.State)) {
        throw new CubeError(
          409,
          `Task ${id} cannot go from ${stateName(current.State)} to ${stateName(edit.task.State)}`,
        );
      }
      const message = edit.message ||
        (edit.task.State !== current.State ? stateName(edit.task.State) : "");
      const before = this.#stories.get(id);
      const story = message
        ? told(before, historyEvent(this.#clock, edit.task.State, edit.task.Node, message))
        : before ?? { History: [], Earlier: 0 };
      const writes: Write[] = [{ store: TASKS, key: id, value: { Task: edit.task, ...story } }];
      if (edit.desired && edit.desired !== desired) {
        writes.push({ store: DESIRED, key: id, value: edit.desired });
      }
      await this.#commit(`save task ${id}`, writes);
      this.#apply(current, edit.task, edit.desired ?? desired, message, story);
      return edit.task;
    });
  }

  /**
   * Forgets a finished task and its history, when `when` still holds for its newest
   * version. Resolves true when it was removed.
   */
  remove(id: string, when: (task: Task, desired: Desired) => boolean): Promise<boolean> {
    return this.#lock.run(id, async () => {
      const current = this.#tasks.get(id);
      if (!current || !when(current, this.desired(id))) return false;
      const writes: Write[] = [
        { store: TASKS, key: id, delete: true },
        { store: DESIRED, key: id, delete: true },
      ];
      const version = await this.#guard.run(
        `forget task ${id}`,
        async () => this.#db.commit(writes, [await this.#claimed()]),
      );
      if (version === null) throw this.#lost();
      this.#drop(id);
      for (const observe of this.#observers) observe(current, null, "forgotten");
      return true;
    });
  }

  /** A task's story: its first event and its latest ones (`Earlier` were let go between). */
  history(id: string): Story {
    this.require(id);
    return this.#stories.get(id) ?? { History: [], Earlier: 0 };
  }

  /** Resolves when every change asked for so far has been stored (or has failed). */
  idle(): Promise<void> {
    return this.#lock.idle();
  }

  /** The mirror's one way in: the task and its place in the node index. */
  #put(task: Task): void {
    const before = this.#tasks.get(task.ID);
    if (before && before.Node !== task.Node) this.#byNode.get(before.Node)?.delete(task.ID);
    if (task.Node) {
      let ids = this.#byNode.get(task.Node);
      if (!ids) this.#byNode.set(task.Node, ids = new Set());
      ids.add(task.ID);
    }
    this.#tasks.set(task.ID, task);
  }

  #drop(id: string): void {
    const task = this.#tasks.get(id);
    if (task?.Node) {
      const ids = this.#byNode.get(task.Node);
      ids?.delete(id);
      if (ids?.size === 0) this.#byNode.delete(task.Node);
    }
    this.#tasks.delete(id);
    this.#desired.delete(id);
    this.#stories.delete(id);
  }

  #apply(
    before: Task | null,
    task: Task,
    desired: Desired,
    message: string,
    story: Story,
  ) {
    this.#put(task);
    if (desired === "run") this.#desired.delete(task.ID);
    else this.#desired.set(task.ID, desired);
    this.#stories.set(task.ID, story);
    for (const observe of this.#observers) observe(before, task, message);
  }

  /** The check every commit holds: this book's claim still stands. Claims on first use. */
  #claimed(): Promise<Check> {
    if (this.#deposed) return Promise.reject(this.#deposed);
    this.#claim ??= (async () => {
      const since = new Date(this.#clock.now()).toISOString();
      const claim = { Id: crypto.randomUUID(), Since: since };
      const version = await this.#guard.run(
        "claim the task store",
        () => this.#db.commit([{ store: WRITER, key: TASKS, value: claim }]),
      );
      return { store: WRITER, key: TASKS, version };
    })().catch((error) => {
      this.#claim = null; // a store that failed the claim: the next commit claims again
      throw error;
    });
    return this.#claim;
  }

  /** The claim did not hold: another writer has the store. Every change from now on fails. */
  #lost(): CubeError {
    this.#deposed ??= new CubeError(
      503,
      "Cannot change tasks: another manager took over the task store (it claimed it after this one); this manager no longer writes to it",
    );
    return this.#deposed;
  }

  /**
   * Group commit: commits asked for while others are in flight (concurrent submits,
   * reports, a dispatch round) go to the store together, up to its limits (KV: 800 writes,
   * 800 KiB). One commit per change made the disk, not the scheduler, the bottleneck at
   * scale. `COMMITS_IN_FLIGHT` may be raised: commits in flight never share a task, since
   * a task's next change waits for its last (the key lock). When a batch fails, each of
   * its commits is tried alone, so one bad change fails alone. A commit the claim check
   * refuses fails with everything after it (`#lost`).
   */
  #commit(what: string, writes: Write[]): Promise<string> {
    return this.#guard.run(what, () =>
      new Promise<string>((resolve, reject) => {
        if (this.#deposed) return reject(this.#deposed);
        this.#queue.push({
          writes,
          // 512 for the keys and the other writes of the change.
          bytes: serializedSize(writes[0].value) + 512,
          done: (result) => "error" in result ? reject(result.error) : resolve(result.version),
        });
        // Kicked after this turn, so every change asked for in it shares the commit.
        if (!this.#kickPending) {
          this.#kickPending = true;
          queueMicrotask(() => {
            this.#kickPending = false;
            this.#kick();
          });
        }
      }));
  }

  #kick(): void {
    while (this.#inFlight < COMMITS_IN_FLIGHT && this.#queue.length > 0) {
      this.#inFlight++;
      this.#commitChunk(this.#nextChunk()).finally(() => {
        this.#inFlight--;
        this.#kick();
      });
    }
  }

  /** The longest run of queued commits that fits in one atomic write of the store. */
  #nextChunk(): Queued[] {
    let writes = 0;
    let bytes = 0;
    let n = 0;
    for (const item of this.#queue) {
      if (
        n > 0 && (writes + item.writes.length > this.#limits.writes ||
          bytes + item.bytes > MAX_BATCH_BYTES)
      ) break;
      writes += item.writes.length;
      bytes += item.bytes;
      n++;
    }
    return this.#queue.splice(0, n);
  }

  async #commitChunk(chunk: Queued[]): Promise<void> {
    const commit = async (writes: Write[]) => {
      const version = await this.#db.commit(writes, [await this.#claimed()]);
      if (version === null) throw this.#lost();
      return version;
    };
    try {
      const start = performance.now();
      const version = await commit(chunk.flatMap((item) => item.writes));
      this.#onCommit((performance.now() - start) / 1000, chunk.length);
      for (const item of chunk) item.done({ version });
      return;
    } catch (error) {
      if (chunk.length === 1 || this.#deposed) {
        for (const item of chunk) item.done({ error });
        return;
      }
    }
    // One bad change (too large, say) must not fail its neighbours: each alone.
    for (const item of chunk) {
      try {
        item.done({ version: await commit(item.writes) });
      } catch (error) {
        item.done({ error });
      }
    }
  }
}
