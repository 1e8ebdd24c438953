/**
 * A worker that joins a manager (`cube worker --manager URL`): it heartbeats with its
 * stats and pushes every task change as it happens, so the manager learns of a start or
 * an exit within milliseconds instead of at its next poll.
 *
 * Changes are coalesced per task and sent in order by one sender; what cannot be sent
 * (the manager is down) is kept and sent with the next heartbeat that gets through.
 *
 * @module
 */

import { fetchFailure } from "../http/errors.ts";
import { sleep } from "../lib/async.ts";
import { nodeStats, type Task } from "../task/mod.ts";
import type { NodeAgent } from "./agent.ts";

export interface ManagerLinkOptions {
  managerUrl: string;
  /** The URL the manager reaches this worker at. */
  advertiseUrl: string;
  worker: Pick<NodeAgent, "name" | "stats">;
  heartbeatIntervalMs?: number;
  log?: (message: string) => void;
}

export class ManagerLink {
  readonly #manager: string;
  readonly #api: string;
  readonly #worker: Pick<NodeAgent, "name" | "stats">;
  readonly #intervalMs: number;
  readonly #log: (message: string) => void;
  readonly #closing = new AbortController();
  #unsent = new Map<string, Task>();
  #sending: Promise<void> | null = null;
  #loop: Promise<void> | null = null;
  #reachable = true;

  constructor(options: ManagerLinkOptions) {
    this.#manager = options.managerUrl.replace(/\/$/, "");
    this.#api = options.advertiseUrl.replace(/\/$/, "");
    this.#worker = options.worker;
    this.#intervalMs = options.heartbeatIntervalMs ?? 1_000;
    this.#log = options.log ?? ((m) => console.log(`[worker ${this.#worker.name}] ${m}`));
  }

  start(): void {
    this.#loop = this.#heartbeats();
  }

  async close(): Promise<void> {
    this.#closing.abort();
    await this.#loop;
    await this.#sending;
  }

  /** Queues a task change for the manager and sends it now. */
  report(task: Task): void {
    this.#unsent.set(task.ID, task);
    this.#flush();
  }

  async #post(path: string, body: unknown): Promise<void> {
    const response = await fetch(`${this.#manager}${path}`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(5_000),
    });
    const text = await response.text();
    if (!response.ok) throw new Error(`${response.status} ${text}`);
  }

  #flush(): void {
    if (this.#sending || this.#unsent.size === 0) return;
    this.#sending = (async () => {
      while (this.#unsent.size > 0 && this.#reachable) {
        const batch = this.#unsent;
        this.#unsent = new Map();
        try {
          await this.#post(`/nodes/${encodeURIComponent(this.#worker.name)}/tasks`, [
            ...batch.values(),
          ]);
        } catch (error) {
          // Keep what was not sent, unless a newer change of the same task came meanwhile.
          for (const [id, task] of batch) if (!this.#unsent.has(id)) this.#unsent.set(id, task);
          this.#failed(error);
        }
      }
    })().finally(() => {
      this.#sending = null;
    });
  }

  #failed(error: unknown): void {
    if (this.#reachable) {
      this.#log(`cannot reach the manager at ${this.#manager}: ${fetchFailure(error)}`);
    }
    this.#reachable = false;
  }

  async #heartbeats(): Promise<void> {
    const signal = this.#closing.signal;
    while (!signal.aborted) {
      try {
        const stats = nodeStats(await this.#worker.stats());
        await this.#post("/nodes", { Name: this.#worker.name, Api: this.#api, Stats: stats });
        if (!this.#reachable) this.#log(`the manager at ${this.#manager} answers again`);
        this.#reachable = true;
        this.#flush();
      } catch (error) {
        this.#failed(error);
      }
      await sleep(this.#intervalMs, signal);
    }
  }
}
