/**
 * Sends placements to each worker in batches: one request carries all of a node's new
 * tasks (up to 32 KiB of JSON each), not one request per task. A dispatch round places at
 * most one replica of a service per node, so while rounds follow each other (a
 * 10,000-replica service is 40 of them) the queue is held, up to `LINGER_MS`, and goes
 * out when the rounds are over: the service reaches 1,000 nodes in a few requests each,
 * not ten (sent round by round, 10,000 requests there and 10,000 reports back were what
 * the replicas waited on). A lone submission goes out as soon as it is placed. Whatever a batch
 * does not deliver (the worker is unreachable, an older worker that takes one task at a
 * time, a task it refused) goes the one-task way, with its retries and its fallbacks.
 *
 * @module
 */

import { isoNow } from "../lib/clock.ts";
import type { Clock } from "../lib/clock.ts";
import { jsonBatches } from "../lib/json_batches.ts";
import { MAX_REPORT_BYTES, type Task } from "../task/mod.ts";
import { runEvent, type WorkerClient } from "./worker_client.ts";

/**
 * How long placements may wait for the rounds after them: bounded, so a long burst still
 * flows. Only a full round holds its placements (256 and more placed back to back); a
 * 10,000-replica service is placed in under 3 s, and sent then in one or two requests per
 * node: at 500 ms, the nodes got a replica or two per request (a round places one per
 * node), and their 10,000 starts came back as 5,000 reports.
 */
export const LINGER_MS = 3_000;

/**
 * Nodes being sent to at once; the others wait for a lane. A flush to 1,000 nodes sent all
 * at once built and buffered every request together (15 MB for a 10,000-replica service,
 * held by the runtime until the last went out), which was most of what the manager's
 * memory grew by besides the tasks themselves. A node that does not answer holds its lane
 * until its call times out.
 */
export const SENDS_IN_FLIGHT = 64;

export class Outbox {
  readonly #queued = new Map<string, Task[]>();
  /** Flushed, waiting for a lane, in order. */
  #ready: [string, Task[]][] = [];
  #lanes = 0;
  #lingering = false;

  constructor(
    private readonly clientOf: (node: string) => WorkerClient,
    /** Whether the task is still to be sent as it was queued. */
    private readonly current: (task: Task) => Task | null,
    /** The one-task way, for what a batch did not deliver. */
    private readonly fallback: (task: Task) => void,
    private readonly track: (work: Promise<unknown>) => void,
    private readonly clock: Clock,
    private readonly signal: AbortSignal,
  ) {}

  /** Queues a task for its node until `flush`, or `LINGER_MS` at most. */
  add(task: Task): void {
    let list = this.#queued.get(task.Node);
    if (!list) this.#queued.set(task.Node, list = []);
    list.push(task);
    if (this.#lingering) return;
    this.#lingering = true;
    this.track(this.clock.sleep(LINGER_MS, this.signal).then(() => this.flush(), () => {}));
  }

  /** Sends everything queued: the dispatcher has no more placements coming right now. */
  flush(): void {
    this.#lingering = false;
    if (this.signal.aborted) return;
    const queued = [...this.#queued];
    this.#queued.clear();
    this.#ready.push(...queued);
    this.#next();
  }

  #next(): void {
    while (this.#lanes < SENDS_IN_FLIGHT && this.#ready.length > 0 && !this.signal.aborted) {
      const [node, tasks] = this.#ready.shift()!;
      this.#lanes++;
      this.track(
        this.#send(node, tasks).finally(() => {
          this.#lanes--;
          this.#next();
        }),
      );
    }
  }

  async #send(node: string, tasks: Task[]): Promise<void> {
    const now = isoNow(this.clock);
    const event = (task: Task) => runEvent(task, now);
    for (const batch of jsonBatches(tasks, MAX_REPORT_BYTES, event)) {
      // Checked just before its batch goes: a task stopped meanwhile is not sent.
      const live = batch.items.map((t) => this.current(t)).filter((t): t is Task => t !== null);
      if (live.length === 0) continue;
      if (live.length === 1) {
        this.fallback(live[0]);
        continue;
      }
      const body = live.length === batch.items.length && live.every((t, i) => t === batch.items[i])
        ? batch.body
        : jsonBatches(live, Infinity, event)[0].body;
      let results: Array<{ ok: boolean }> | null = null;
      try {
        results = await this.clientOf(node).runMany(live, body);
      } catch {
        results = null;
      }
      live.forEach((task, i) => {
        if (!results?.[i]?.ok) this.fallback(task);
      });
    }
  }
}
