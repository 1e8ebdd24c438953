/**
 * What the manager asks of workers: run a placement, stop a task. Placements go in
 * batches through the outbox; one that a batch did not deliver goes alone, retried
 * briefly, and when it cannot be delivered the task goes back in line (`onUnsent`). Stops
 * are asked once per node and task at a time, retried briefly. Each send checks the task
 * again just before it goes: a task stopped or moved meanwhile is not sent.
 *
 * @module
 */

import { type Clock, isoNow } from "../lib/clock.ts";
import { CubeError, errorMessage } from "../lib/errors.ts";
import { State, type Task } from "../task/mod.ts";
import type { NodeRegistry } from "./nodes.ts";
import { Outbox } from "./outbox.ts";
import type { TaskBook } from "./task_book.ts";

export interface SenderOptions {
  tasks: TaskBook;
  nodes: NodeRegistry;
  clock: Clock;
  signal: AbortSignal;
  /** Background work: awaited on close, never an unhandled rejection. */
  track: (work: Promise<unknown>) => void;
  /** A placement could not be delivered to its node, after the retries. */
  onUnsent: (task: Task, reason: string) => Promise<void>;
}

export class Sender {
  /** Tasks being sent to their node right now. */
  readonly #sending = new Set<string>();
  /** Stops being asked for right now: `node/task`. */
  readonly #stopping = new Set<string>();
  readonly #outbox: Outbox;

  constructor(private readonly opts: SenderOptions) {
    this.#outbox = new Outbox(
      (node) => opts.nodes.client(node),
      (task) => this.#current(task),
      (task) => this.run(task),
      opts.track,
      opts.clock,
      opts.signal,
    );
  }

  get sending(): number {
    return this.#sending.size;
  }

  get stopping(): number {
    return this.#stopping.size;
  }

  /** Queues a fresh placement for its node's next batch. */
  queue(task: Task): void {
    this.#outbox.add(task);
  }

  /** Sends the queued placements now: no more are coming right away. */
  flush(): void {
    this.#outbox.flush();
  }

  /** Sends one placement to its node, retrying briefly; on failure `onUnsent`. */
  run(task: Task): void {
    if (this.#sending.has(task.ID)) return;
    this.#sending.add(task.ID);
    const still = () => {
      const now = this.opts.tasks.get(task.ID);
      return now?.State === State.Scheduled && now.Placement === task.Placement &&
          this.opts.tasks.desired(task.ID) === "run"
        ? now
        : null;
    };
    const send = async () => {
      const lastError = await this.#retried(async () => {
        const now = still();
        if (now) await this.opts.nodes.client(task.Node).run(now, isoNow(this.opts.clock));
      }, (error) => error instanceof CubeError && error.status === 404);
      if (lastError === null || this.opts.signal.aborted) return;
      await this.opts.onUnsent(task, `could not send to ${task.Node}: ${errorMessage(lastError)}`);
    };
    this.opts.track(send().finally(() => this.#sending.delete(task.ID)));
  }

  /** Asks `task.Node` to stop the task, retrying briefly; one ask per node and task at a time. */
  stop(task: Task): void {
    const key = `${task.Node}/${task.ID}`;
    if (this.#stopping.has(key)) return;
    this.#stopping.add(key);
    // The node unreachable all three times: liveness marks it down, which finishes the
    // task, or its next report asks again.
    const stop = this.#retried(() => this.opts.nodes.client(task.Node).stop(task.ID));
    this.opts.track(stop.finally(() => this.#stopping.delete(key)));
  }

  /** The task as it is now, when it is still to be sent as `task` was (same placement). */
  #current(task: Task): Task | null {
    const now = this.opts.tasks.get(task.ID);
    return now?.State === State.Scheduled && now.Placement === task.Placement &&
        this.opts.tasks.desired(task.ID) === "run" && !this.#sending.has(task.ID)
      ? now
      : null;
  }

  /**
   * Calls `call` up to three times with a short backoff, unless the manager closes or
   * `final` says an error will not pass. Resolves with null once a call succeeded, else
   * with the last error.
   */
  async #retried(call: () => Promise<unknown>, final = (_: unknown) => false): Promise<unknown> {
    let lastError: unknown = new Error("the manager is closing");
    for (let attempt = 0; attempt < 3 && !this.opts.signal.aborted; attempt++) {
      try {
        await call();
        return null;
      } catch (error) {
        lastError = error;
        if (final(error)) break;
        await this.opts.clock.sleep(200 * 2 ** attempt, this.opts.signal);
      }
    }
    return lastError;
  }
}
