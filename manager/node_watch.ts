/**
 * Watches the nodes: polls static workers (the book's way) every heartbeat interval for
 * their stats and follows their event streams, reads every node's tasks now and then as a
 * safety net for pushed or streamed changes (a static worker without a stream: at every
 * poll), and declares a node down when it has been silent too long. No failure stops a
 * loop.
 *
 * @module
 */

import type { Clock } from "../lib/clock.ts";
import { pool } from "../lib/async.ts";
import { CubeError, errorMessage } from "../lib/errors.ts";
import { type Node, type NodeStats, nodeStats, type Task } from "../task/mod.ts";
import { type HeartbeatOutcome, type NodeRegistry, staticApi } from "./nodes.ts";

export interface NodeWatchHooks {
  heartbeat(
    name: string,
    api: string,
    stats: NodeStats,
    isStatic: boolean,
  ): Promise<HeartbeatOutcome>;
  /** A node's full list of tasks. */
  report(node: string, tasks: Task[]): Promise<void>;
  /** Tasks a node says changed (its event stream). */
  changed(node: string, tasks: Task[]): Promise<void>;
  nodeDown(node: Node, reason: string): Promise<void>;
  /** Once per heartbeat interval, after liveness: store probes, garbage collection. */
  tick(): Promise<void>;
  log(message: string): void;
  /**
   * Asks a static worker at `api` that does not answer as a joined node (it may be
   * waiting to join) to join this manager.
   */
  invite?(api: string): Promise<void>;
}

/** A static worker that does not answer is invited again after this long, at the least. */
const INVITE_EVERY_MS = 1_000;

/** Safety-net syncs in flight at once. */
const SYNC_CONCURRENCY = 16;

export class NodeWatch {
  readonly #polling = new Set<string>();
  /** Static workers whose event stream is followed now, by API. */
  readonly #following = new Set<string>();
  /** Static workers that have no event stream (older ones): polled only. */
  readonly #streamless = new Set<string>();
  #signal: AbortSignal | null = null;
  readonly #invited = new Map<string, number>();
  readonly #inflight = new Set<Promise<void>>();
  readonly #staticApis: string[];

  constructor(
    private readonly nodes: NodeRegistry,
    private readonly hooks: NodeWatchHooks,
    private readonly timings: {
      heartbeatIntervalMs: number;
      nodeTimeoutMs: number;
      syncIntervalMs: number;
      clock: Clock;
    },
    staticWorkers: string[],
  ) {
    this.#staticApis = staticWorkers.map((address) => staticApi(address));
  }

  /** Runs until `signal` aborts. */
  async run(signal: AbortSignal): Promise<void> {
    this.#signal = signal;
    await Promise.all([this.#liveness(signal), this.#safetyNet(signal)]);
    while (this.#inflight.size > 0) await Promise.all(this.#inflight);
  }

  /** Reads a node's tasks and reports them (stale copies get stopped there). */
  async sync(name: string): Promise<void> {
    try {
      await this.hooks.report(name, await this.nodes.client(name).tasks());
    } catch (error) {
      this.hooks.log(`sync with ${name} failed: ${errorMessage(error)}`);
    }
  }

  async #liveness(signal: AbortSignal): Promise<void> {
    let failure = "";
    while (!signal.aborted) {
      await this.timings.clock.sleep(this.timings.heartbeatIntervalMs, signal);
      if (signal.aborted) break;
      try {
        // Static polls run on their own: one slow node must not delay the others' liveness.
        for (const api of this.#staticApis) this.#pollStatic(api);
        for (const node of this.nodes.expired(this.timings.nodeTimeoutMs)) {
          const silent = (this.nodes.silentFor(node.Name) / 1000).toFixed(1);
          await this.hooks.nodeDown(node, `no heartbeat for ${silent} s`);
        }
        await this.hooks.tick();
        failure = "";
      } catch (error) {
        // A store outage, say: the next tick tries again. Said once, not every tick.
        if (errorMessage(error) !== failure) {
          this.hooks.log(`liveness check failed: ${errorMessage(error)}`);
        }
        failure = errorMessage(error);
      }
    }
  }

  #pollStatic(api: string): void {
    if (this.#polling.has(api)) return;
    this.#polling.add(api);
    const poll = (async () => {
      try {
        const address = new URL(api).host;
        const known = this.nodes.list().find((n) => n.Api === api && n.LastHeartbeat !== "");
        // A worker is known by the name it gives; a worker that gives none, by its address.
        const name = known?.Name ??
          await this.nodes.client(address, api).ownName() ?? address;
        const client = this.nodes.client(name, api);
        const stats = await client.stats();
        const outcome = await this.hooks.heartbeat(name, api, nodeStats(stats), true);
        // While its event stream is followed, the worker's full list is read only by the
        // safety net: read every second, the lists of three workers starting 200 tasks cost
        // both sides CPU the engine needed (static mode was 1.13x the Docker floor, joined
        // 1.06x). A worker not followed yet, or without a stream, is read at every poll.
        const followed = this.#following.has(api);
        this.#follow(name, api);
        if (outcome === "same" && !followed) await this.sync(name);
      } catch {
        // Silence is what liveness measures: the node is marked down after the timeout.
        await this.#invite(api);
      } finally {
        this.#polling.delete(api);
      }
    })();
    this.#inflight.add(poll);
    poll.finally(() => this.#inflight.delete(poll));
  }

  /**
   * Follows a static worker's event stream, so a start there is Running here at once and
   * not at the next poll (which stays, as the safety net). Ends with the stream; the next
   * poll follows it again.
   */
  #follow(name: string, api: string): void {
    const signal = this.#signal;
    if (!signal || signal.aborted || this.#following.has(api) || this.#streamless.has(api)) return;
    this.#following.add(api);
    const follow = (async () => {
      try {
        for await (const task of this.nodes.client(name, api).events(signal)) {
          // Not awaited: the next line is read while this one is stored (the records carry
          // their revision, so they may be folded in any order; one waiting for a commit
          // each made a burst of starts queue here).
          const change = this.hooks.changed(name, [task]).catch((error) =>
            this.hooks.log(`a change from ${name} was not taken: ${errorMessage(error)}`)
          );
          this.#inflight.add(change);
          change.finally(() => this.#inflight.delete(change));
        }
      } catch (error) {
        if (error instanceof CubeError && error.status === 404) this.#streamless.add(api);
      } finally {
        this.#following.delete(api);
      }
    })();
    this.#inflight.add(follow);
    follow.finally(() => this.#inflight.delete(follow));
  }

  async #invite(api: string): Promise<void> {
    const now = this.timings.clock.now();
    if (!this.hooks.invite || now - (this.#invited.get(api) ?? -Infinity) < INVITE_EVERY_MS) return;
    this.#invited.set(api, now);
    try {
      await this.hooks.invite(api);
      this.hooks.log(`static worker at ${api} joined`);
    } catch {
      // Down, or already joined to this or another cluster: the poll says which in time.
    }
  }

  async #safetyNet(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      await this.timings.clock.sleep(this.timings.syncIntervalMs, signal);
      if (signal.aborted) break;
      // Several at once: one node that does not answer must not delay the others' sync,
      // and a thousand nodes must not all answer at once.
      // Static workers too: those whose stream is followed are not read at every poll.
      const nodes = this.nodes.list().filter((n) => n.Status === "ready");
      await pool(nodes, SYNC_CONCURRENCY, (node) => this.sync(node.Name));
    }
  }
}
