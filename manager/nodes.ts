/**
 * The manager's view of its worker nodes: who they are, when they last gave a sign of
 * life, and whether they are up. Heartbeats live in memory (a restarted manager gives
 * every node a fresh grace period); node identity and status live in KV.
 *
 * @module
 */

import type { Store } from "../store/mod.ts";
import type { Node, NodeStats } from "../task/mod.ts";
import { WorkerClient } from "./worker_client.ts";

export type HeartbeatOutcome = "new" | "back" | "same";

function blankNode(name: string, api: string, isStatic: boolean): Node {
  return {
    Name: name,
    Ip: new URL(api).hostname,
    Api: api,
    Memory: 0,
    MemoryAllocated: 0,
    Disk: 0,
    DiskAllocated: 0,
    Cores: 0,
    CpuAllocated: 0,
    Stats: null,
    Role: "worker",
    TaskCount: 0,
    Status: "down",
    LastHeartbeat: "",
    Static: isStatic,
    Error: "no heartbeat yet",
  };
}

export class NodeRegistry {
  #nodes = new Map<string, Node>();
  #seen = new Map<string, number>();
  #clients = new Map<string, WorkerClient>();

  constructor(private readonly store: Store<Node>, private readonly callTimeoutMs = 5_000) {}

  /** Loads known nodes and adds the static ones (`host:port`). Every node gets a grace period. */
  async load(staticWorkers: string[]): Promise<void> {
    for (const { value } of await this.store.list()) {
      this.#nodes.set(value.Name, value);
      this.#seen.set(value.Name, performance.now());
    }
    for (const address of staticWorkers) {
      const api = address.includes("://") ? address.replace(/\/$/, "") : `http://${address}`;
      const name = new URL(api).host;
      if (!this.#nodes.has(name)) {
        const node = blankNode(name, api, true);
        this.#nodes.set(name, node);
        await this.store.put(name, node);
      }
      this.#seen.set(name, performance.now());
    }
  }

  list(): Node[] {
    return [...this.#nodes.values()];
  }

  get(name: string): Node | undefined {
    return this.#nodes.get(name);
  }

  client(name: string): WorkerClient {
    const node = this.#nodes.get(name);
    let client = this.#clients.get(name);
    if (!client || (node && client.api !== node.Api)) {
      client = new WorkerClient(name, node?.Api ?? "http://invalid", this.callTimeoutMs);
      this.#clients.set(name, client);
    }
    return client;
  }

  /** Records a sign of life. Says whether the node is new, back from down, or neither. */
  async heartbeat(
    name: string,
    api: string,
    stats: NodeStats,
    isStatic = false,
  ): Promise<HeartbeatOutcome> {
    this.#seen.set(name, performance.now());
    const existing = this.#nodes.get(name);
    const node: Node = existing ? { ...existing } : blankNode(name, api, isStatic);
    const outcome: HeartbeatOutcome = !existing
      ? "new"
      : existing.Status === "down"
      ? "back"
      : "same";
    node.Api = api;
    node.Ip = new URL(api).hostname;
    node.Stats = stats;
    node.Cores = stats.CpuCores;
    node.Memory = stats.MemoryTotalBytes;
    node.Disk = stats.DiskTotalBytes;
    node.Status = "ready";
    node.Error = "";
    node.LastHeartbeat = new Date().toISOString();
    this.#nodes.set(name, node);
    // Only identity and status changes are written: heartbeats stay in memory.
    if (outcome !== "same" || existing?.Api !== api) await this.store.put(name, node);
    return outcome;
  }

  async markDown(name: string, reason: string): Promise<void> {
    const node = this.#nodes.get(name);
    if (!node || node.Status === "down") return;
    const down: Node = { ...node, Status: "down", Error: reason };
    this.#nodes.set(name, down);
    await this.store.put(name, down);
  }

  /** Ready nodes whose last sign of life is older than `timeoutMs`. */
  expired(timeoutMs: number): Node[] {
    const now = performance.now();
    return this.list().filter((n) =>
      n.Status === "ready" && now - (this.#seen.get(n.Name) ?? 0) > timeoutMs
    );
  }

  /** Milliseconds since the node's last sign of life. */
  silentFor(name: string): number {
    return performance.now() - (this.#seen.get(name) ?? 0);
  }
}
