/**
 * A worker that joins a manager (`cube worker --manager URL`): it heartbeats with its
 * stats and pushes every task change as it happens, so the manager learns of a start or
 * an exit within milliseconds instead of at its next poll.
 *
 * Changes are coalesced per task (the newest record wins) and sent in order by one
 * sender, in batches that stay under the manager's body limit however many piled up.
 * What cannot be sent (the manager is down, or cannot store) is kept and sent with the
 * next heartbeat that gets through. A batch the manager refuses (too large, or invalid)
 * is split until what is refused is one report, which is dropped with a log line: a 4xx
 * never makes the manager "unreachable".
 *
 * Given several managers (`--manager https://a:5555,https://b:5555`, managers sharing
 * etcd), it talks to one and moves to the next when that one does not answer or cannot
 * serve (a 5xx): any manager takes a worker's calls, forwarding them to the leader.
 *
 * @module
 */

import { type Clock, systemClock } from "../lib/clock.ts";
import { fetchFailure, messageIn } from "../lib/errors.ts";
import { jsonBatches } from "../lib/json_batches.ts";
import { urlList } from "../lib/url_list.ts";
import { httpTransport, type Transport } from "../lib/transport.ts";
import { MAX_REPORT_BYTES, nodeStats, State, type Task } from "../task/mod.ts";
import type { NodeAgent } from "./agent.ts";

export interface ManagerLinkOptions {
  /** One manager's URL, or several separated by commas. */
  managerUrl: string;
  /** The URL the manager reaches this worker at. */
  advertiseUrl: string;
  worker: Pick<NodeAgent, "name" | "stats">;
  heartbeatIntervalMs?: number;
  /** The worker's labels, sent with every heartbeat. */
  labels?: Record<string, string>;
  /** Largest batch of reports in one request, in bytes of JSON. */
  maxBatchBytes?: number;
  clock?: Clock;
  transport?: Transport;
  log?: (message: string) => void;
}

/** The longest interval a manager may ask for, in ms (a bound against a bad answer). */
const MAX_BEAT_MS = 60_000;

/** The pause before trying the next manager after one failed, in ms. */
const RETRY_OTHER_MS = 50;

/** The manager answered, but not with success. */
class Refused extends Error {
  constructor(readonly status: number, message: string) {
    super(message);
  }
}

export class ManagerLink {
  readonly #managers: string[];
  #at = 0;
  readonly #api: string;
  readonly #worker: Pick<NodeAgent, "name" | "stats">;
  readonly #intervalMs: number;
  readonly #labels?: Record<string, string>;
  readonly #maxBatchBytes: number;
  readonly #clock: Clock;
  readonly #transport: Transport;
  readonly #log: (message: string) => void;
  readonly #closing = new AbortController();
  #unsent = new Map<string, Task>();
  #sending: Promise<void> | null = null;
  /** The flush at the end of this turn, once a change is queued in it. */
  #soon: Promise<void> | null = null;
  #loop: Promise<void> | null = null;
  #reachable = true;
  #holding = false;
  /** Managers tried in a row without an answer: the others are tried at once, not a beat later. */
  #misses = 0;
  /** The interval between heartbeats: the configured one, or longer when the manager says. */
  #beatMs: number;

  constructor(options: ManagerLinkOptions) {
    this.#managers = managerUrls(options.managerUrl);
    this.#api = options.advertiseUrl.replace(/\/$/, "");
    this.#worker = options.worker;
    this.#intervalMs = options.heartbeatIntervalMs ?? 1_000;
    this.#beatMs = this.#intervalMs;
    this.#labels = options.labels;
    this.#maxBatchBytes = options.maxBatchBytes ?? MAX_REPORT_BYTES;
    this.#clock = options.clock ?? systemClock;
    this.#transport = options.transport ?? httpTransport;
    this.#log = options.log ?? ((m) => console.log(`[worker ${this.#worker.name}] ${m}`));
  }

  start(): void {
    this.#loop = this.#heartbeats();
  }

  /** The manager it talks to now. */
  get #manager(): string {
    return this.#managers[this.#at];
  }

  async close(): Promise<void> {
    this.#closing.abort();
    await this.#loop;
    await this.#soon; // the changes of the last turn go out too
    await this.#sending;
  }

  /** Reports waiting to be sent: at most one per task. */
  get unsent(): number {
    return this.#unsent.size;
  }

  /**
   * Queues a task change for the manager and sends it at the end of this turn, with the
   * changes made in it: a batch of starts that end together goes in one request, not in
   * two (the first alone, then the rest while it was on its way).
   */
  report(task: Task): void {
    // A task taken and not yet started has nothing to tell the manager, which placed it:
    // its next change (Running, Failed, an image pull's progress) will, with a newer revision.
    if (task.State === State.Scheduled && !task.Progress && !this.#unsent.has(task.ID)) return;
    this.#unsent.set(task.ID, task);
    this.#soon ??= this.#clock.sleep(0).then(() => {
      this.#soon = null;
      this.#flush();
    });
  }

  async #post(path: string, body: string, timeoutMs = 5_000): Promise<string> {
    const response = await this.#transport(`${this.#manager}${path}`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body,
    }, timeoutMs);
    const text = await response.text();
    if (!response.ok) {
      throw new Refused(response.status, `${response.status} ${messageIn(text) ?? text}`);
    }
    return text;
  }

  /** The interval the manager's answer asks for (a big cluster beats less often), if any. */
  #told(answer: string): void {
    let every: unknown;
    try {
      every = (JSON.parse(answer) as { HeartbeatInterval?: unknown }).HeartbeatInterval;
    } catch {
      return; // an answer of another shape: the configured interval
    }
    if (typeof every === "number" && Number.isFinite(every) && every > 0) {
      this.#beatMs = Math.max(this.#intervalMs, Math.min(every * 1000, MAX_BEAT_MS));
    }
  }

  /** Splits reports into request bodies of at most `#maxBatchBytes`. */
  #batches(tasks: Task[]): { tasks: Task[]; body: string }[] {
    return jsonBatches(tasks, this.#maxBatchBytes).map(({ items, body }) => ({
      tasks: items,
      body,
    }));
  }

  #flush(): void {
    if (this.#sending || this.#unsent.size === 0 || !this.#reachable || this.#holding) return;
    this.#sending = (async () => {
      while (this.#unsent.size > 0 && this.#reachable && !this.#holding) {
        const queue = this.#batches([...this.#unsent.values()]);
        this.#unsent = new Map();
        while (queue.length > 0) {
          const batch = queue.shift()!;
          try {
            await this.#post(`/nodes/${encodeURIComponent(this.#worker.name)}/tasks`, batch.body);
            continue;
          } catch (error) {
            const refused = error instanceof Refused && error.status >= 400 && error.status < 500;
            if (refused && error.status === 404) {
              // Not joined (the manager forgot this node): keep them for after the next heartbeat.
              this.#keep([batch, ...queue]);
              this.#holding = true;
              return;
            }
            if (refused && batch.tasks.length > 1) {
              // Too large for this manager, or one bad report among good ones: halve the
              // batch and go on, until what is refused is one report alone.
              const half = Math.ceil(batch.tasks.length / 2);
              queue.unshift(
                ...this.#batches(batch.tasks.slice(0, half)),
                ...this.#batches(batch.tasks.slice(half)),
              );
              continue;
            }
            if (refused) {
              this.#log(
                `the manager refused the report of task ${
                  batch.tasks[0].ID
                } (${error.message}); dropped`,
              );
              continue;
            }
            this.#keep([batch, ...queue]);
            this.#failed(error);
            return;
          }
        }
      }
    })().finally(() => {
      this.#sending = null;
    });
  }

  /** Keeps what was not sent, unless a newer change of the same task came meanwhile. */
  #keep(batches: { tasks: Task[] }[]): void {
    for (const batch of batches) {
      for (const task of batch.tasks) {
        if (!this.#unsent.has(task.ID)) this.#unsent.set(task.ID, task);
      }
    }
  }

  #failed(error: unknown): void {
    const reason = error instanceof Refused ? `it answered ${error.message}` : fetchFailure(error);
    const others = this.#managers.length > 1;
    if (this.#reachable) {
      this.#log(
        `cannot report to the manager at ${this.#manager}: ${reason}${
          others ? "; trying the others" : ""
        }`,
      );
    }
    this.#reachable = false;
    if (others) this.#at = (this.#at + 1) % this.#managers.length;
  }

  async #heartbeats(): Promise<void> {
    const signal = this.#closing.signal;
    while (!signal.aborted) {
      const started = this.#clock.now();
      try {
        const stats = nodeStats(await this.#worker.stats());
        // A heartbeat lost on the way must not hold up the next one: waiting out a 5 s
        // call timeout would itself make the node look dead (found by the simulation).
        const answer = await this.#post(
          "/nodes",
          JSON.stringify({
            Name: this.#worker.name,
            Api: this.#api,
            Stats: stats,
            ...(this.#labels ? { Labels: this.#labels } : {}),
          }),
          Math.max(1_000, this.#intervalMs),
        );
        this.#told(answer);
        if (!this.#reachable) this.#log(`the manager at ${this.#manager} answers again`);
        this.#reachable = true;
        this.#holding = false;
        this.#misses = 0;
        this.#flush();
      } catch (error) {
        this.#failed(error);
        this.#misses++;
      }
      const elapsed = this.#clock.now() - started;
      // After a manager that failed, the next one is tried at once (a failover should not
      // cost a heartbeat interval); once all of them failed, the usual beat again.
      const next = this.#misses > 0 && this.#misses % this.#managers.length !== 0
        ? RETRY_OTHER_MS
        : this.#beatMs - elapsed;
      await this.#clock.sleep(Math.max(0, next), signal);
    }
  }
}

/** `https://a:5555,https://b:5555` → each URL without a trailing slash; at least one. */
export function managerUrls(list: string): string[] {
  const urls = urlList(list);
  if (urls.length === 0) throw new Error(`Invalid manager URL list "${list}"`);
  return urls;
}
