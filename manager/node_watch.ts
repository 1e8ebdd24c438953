/**
 * Watches the nodes: polls static workers (the book's way) every heartbeat interval,
 * reads every joined node's tasks now and then as a safety net for pushed reports, and
 * declares a node down when it has been silent too long.
 *
 * @module
 */

import { errorMessage } from "../http/errors.ts";
import { sleep } from "../lib/async.ts";
import { type Node, type NodeStats, nodeStats, type Task } from "../task/mod.ts";
import type { HeartbeatOutcome, NodeRegistry } from "./nodes.ts";

export interface NodeWatchHooks {
  heartbeat(
    name: string,
    api: string,
    stats: NodeStats,
    isStatic: boolean,
  ): Promise<HeartbeatOutcome>;
  report(node: string, task: Task): Promise<void>;
  nodeDown(node: Node, reason: string): Promise<void>;
  log(message: string): void;
}

export class NodeWatch {
  readonly #polling = new Set<string>();
  readonly #inflight = new Set<Promise<void>>();

  constructor(
    private readonly nodes: NodeRegistry,
    private readonly hooks: NodeWatchHooks,
    private readonly timings: {
      heartbeatIntervalMs: number;
      nodeTimeoutMs: number;
      syncIntervalMs: number;
    },
  ) {}

  /** Runs until `signal` aborts. */
  async run(signal: AbortSignal): Promise<void> {
    await Promise.all([this.#liveness(signal), this.#safetyNet(signal)]);
    await Promise.all(this.#inflight);
  }

  /** Reads a node's tasks and reports each (stale copies get stopped there). */
  async sync(name: string): Promise<void> {
    try {
      for (const task of await this.nodes.client(name).tasks()) await this.hooks.report(name, task);
    } catch (error) {
      this.hooks.log(`sync with ${name} failed: ${errorMessage(error)}`);
    }
  }

  async #liveness(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      await sleep(this.timings.heartbeatIntervalMs, signal);
      if (signal.aborted) break;
      // Static polls run on their own: one slow node must not delay the others' liveness.
      for (const node of this.nodes.list()) if (node.Static) this.#pollStatic(node);
      for (const node of this.nodes.expired(this.timings.nodeTimeoutMs)) {
        const silent = (this.nodes.silentFor(node.Name) / 1000).toFixed(1);
        await this.hooks.nodeDown(node, `no heartbeat for ${silent} s`);
      }
    }
  }

  #pollStatic(node: Node): void {
    if (this.#polling.has(node.Name)) return;
    this.#polling.add(node.Name);
    const poll = (async () => {
      try {
        const stats = await this.nodes.client(node.Name).stats();
        const outcome = await this.hooks.heartbeat(node.Name, node.Api, nodeStats(stats), true);
        if (outcome === "same") await this.sync(node.Name);
      } catch {
        // Silence is what liveness measures: the node is marked down after the timeout.
      } finally {
        this.#polling.delete(node.Name);
      }
    })();
    this.#inflight.add(poll);
    poll.finally(() => this.#inflight.delete(poll));
  }

  async #safetyNet(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      await sleep(this.timings.syncIntervalMs, signal);
      for (const node of this.nodes.list()) {
        if (signal.aborted) break;
        if (node.Status === "ready" && !node.Static) await this.sync(node.Name);
      }
    }
  }
}
