/**
 * The manager's view of its worker nodes: who they are, when they last gave a sign of
 * life, and whether they are up. A node is one node whatever way it arrived: a worker
 * listed with `--workers` is known by the name it gives, so when it also joins on its
 * own it stays one node. Heartbeats live in memory (a restarted manager gives every node
 * a fresh grace period); node identity and status live in the store.
 *
 * @module
 */

import type { Clock } from "../lib/clock.ts";
import type { Transport } from "../lib/transport.ts";
import type { Store, StoreGuard } from "../store/mod.ts";
import { CubeError } from "../lib/errors.ts";
import type { Availability, Node, NodeStats } from "../task/mod.ts";
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
    Availability: "active",
    Labels: {},
    WorkerLabels: {},
    ManagerLabels: {},
  };
}

/** A node loaded from a store written before availability and labels existed. */
function withDefaults(node: Node): Node {
  return {
    ...node,
    Availability: node.Availability ?? "active",
    Labels: node.Labels ?? {},
    WorkerLabels: node.WorkerLabels ?? {},
    ManagerLabels: node.ManagerLabels ?? {},
  };
}

/**
 * `host:port` or a URL → the worker's base URL. A bare address is `scheme`: `https` in a
 * secure cluster, so that `http://` is only ever what the user wrote.
 */
export function staticApi(address: string, scheme = "http"): string {
  return address.includes("://") ? address.replace(/\/$/, "") : `${scheme}://${address}`;
}

export interface NodeRegistryOptions {
  clock: Clock;
  /** The configured heartbeat interval (ms): what static nodes are polled at. */
  heartbeatIntervalMs: number;
  /** The most heartbeats all joined nodes together send per second. */
  maxHeartbeatsPerSecond: number;
  guard: StoreGuard;
  transport: Transport;
  callTimeoutMs: number;
  /** The credential to call node `name` with; none for the book's open workers. */
  credential?: (name: string) => Promise<string>;
}

/**
 * The interval joined nodes are told to heartbeat at: the configured one, stretched so that
 * all of them together send at most `maxPerSecond` (Nomad's `max_heartbeats_per_second`):
 * at 1,000 nodes and 250/s, every 4 s instead of every second (0: no limit).
 */
export function heartbeatEvery(baseMs: number, nodes: number, maxPerSecond: number): number {
  if (maxPerSecond <= 0) return baseMs; // no limit
  return Math.max(baseMs, Math.ceil((nodes * 1000) / maxPerSecond));
}

export class NodeRegistry {
  readonly #nodes = new Map<string, Node>();
  readonly #seen = new Map<string, number>();
  /** The heartbeat interval each joined node was last told (ms): what its silence is judged by. */
  readonly #told = new Map<string, number>();
  readonly #clients = new Map<string, WorkerClient>();
  /** Static workers known only by their address so far (a handful at most). */
  readonly #placeholders = new Set<string>();
  readonly #opts: NodeRegistryOptions;

  constructor(private readonly store: Store<Node>, options: NodeRegistryOptions) {
    this.#opts = options;
  }

  /**
   * Loads known nodes and adds the static ones not known yet. Every node gets a grace period,
   * and is judged by the interval a manager of this cluster's size tells (a restarted
   * manager does not know what the last one told).
   */
  async load(staticWorkers: string[]): Promise<void> {
    const now = this.#opts.clock.now();
    for (const { value: stored } of await this.store.list()) {
      const value = withDefaults(stored);
      this.#nodes.set(value.Name, value);
      this.#seen.set(value.Name, now);
      if (value.Static && value.LastHeartbeat === "") this.#placeholders.add(value.Name);
    }
    // Down ones count too: one that comes back may beat at the interval it was told.
    const joined = this.list().filter((n) => !n.Static);
    const every = this.#every(joined.length);
    for (const node of joined) this.#told.set(node.Name, every);
    for (const address of staticWorkers) {
      const api = staticApi(address);
      if (this.list().some((n) => n.Api === api)) continue;
      // Known by its address until it answers with its own name.
      const node = blankNode(new URL(api).host, api, true);
      this.#nodes.set(node.Name, node);
      this.#placeholders.add(node.Name);
      this.#seen.set(node.Name, now);
      await this.#put(node);
    }
  }

  list(): Node[] {
    return [...this.#nodes.values()];
  }

  get(name: string): Node | undefined {
    return this.#nodes.get(name);
  }

  get size(): number {
    return this.#nodes.size;
  }

  /** The client for a known node (or for an address, before its node is known). */
  client(name: string, api = this.#nodes.get(name)?.Api ?? "http://invalid"): WorkerClient {
    let client = this.#clients.get(name);
    if (!client || client.api !== api) {
      const credential = this.#opts.credential;
      client = new WorkerClient(
        name,
        api,
        this.#opts.callTimeoutMs,
        this.#opts.transport,
        // Only over TLS: a credential never crosses the network in the clear.
        credential && api.startsWith("https://") ? () => credential(name) : undefined,
      );
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
    labels?: Record<string, string>,
  ): Promise<HeartbeatOutcome> {
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
    node.Static = node.Static || isStatic;
    const relabelled = labels !== undefined &&
      JSON.stringify(labels) !== JSON.stringify(node.WorkerLabels);
    if (labels !== undefined) node.WorkerLabels = labels;
    node.Labels = { ...node.WorkerLabels, ...node.ManagerLabels };
    node.Status = "ready";
    node.Error = "";
    node.LastHeartbeat = new Date(this.#opts.clock.now()).toISOString();
    // Only identity and status changes are written: heartbeats stay in memory.
    if (
      outcome !== "same" || existing?.Api !== api || existing?.Static !== node.Static || relabelled
    ) {
      await this.#put(node);
    }
    this.#nodes.set(name, node);
    this.#seen.set(name, this.#opts.clock.now());
    // A placeholder for the same worker, listed by address before it said its name, is
    // the same node: forget the placeholder rather than see one worker as two.
    this.#placeholders.delete(name);
    for (const other of this.#placeholders) {
      if (this.#nodes.get(other)?.Api === api) await this.forget(other);
    }
    return outcome;
  }

  /** An operator's change: availability, and the labels it sets (replacing the ones it set). */
  async update(
    name: string,
    patch: { Availability?: Availability; Labels?: Record<string, string> },
  ): Promise<Node> {
    const node = this.#nodes.get(name);
    if (!node) throw new CubeError(404, `Node ${name} not found`);
    const updated: Node = { ...node };
    if (patch.Availability) updated.Availability = patch.Availability;
    if (patch.Labels) updated.ManagerLabels = { ...patch.Labels };
    updated.Labels = { ...updated.WorkerLabels, ...updated.ManagerLabels };
    await this.#put(updated);
    this.#nodes.set(name, updated);
    return updated;
  }

  async markDown(name: string, reason: string): Promise<void> {
    const node = this.#nodes.get(name);
    if (!node || node.Status === "down") return;
    const down: Node = { ...node, Status: "down", Error: reason };
    await this.#put(down);
    this.#nodes.set(name, down);
  }

  /**
   * The interval joined node `name` is to heartbeat at (ms), for its heartbeat's answer;
   * remembered, so that its silence is judged by what it was told.
   */
  beatEvery(name: string): number {
    let joined = 0;
    for (const node of this.#nodes.values()) if (!node.Static && node.Status === "ready") joined++;
    const every = this.#every(joined);
    this.#told.set(name, every);
    return every;
  }

  /** The interval to tell when `joined` nodes heartbeat. */
  #every(joined: number): number {
    return heartbeatEvery(
      this.#opts.heartbeatIntervalMs,
      joined,
      this.#opts.maxHeartbeatsPerSecond,
    );
  }

  /** Forgets a node: its record, its heartbeat and its client. */
  async forget(name: string): Promise<void> {
    await this.#opts.guard.run(`forget node ${name}`, () => this.store.delete(name));
    this.#nodes.delete(name);
    this.#seen.delete(name);
    this.#told.delete(name);
    this.#clients.delete(name);
    this.#placeholders.delete(name);
  }

  /**
   * Ready nodes whose last sign of life is older than `timeoutMs`, stretched for a node told
   * to heartbeat less often than the configured interval.
   */
  expired(timeoutMs: number): Node[] {
    const base = this.#opts.heartbeatIntervalMs;
    return this.list().filter((n) => {
      if (n.Status !== "ready") return false;
      // A node told to beat less often (a big cluster) has as many beats to miss.
      const scale = (this.#told.get(n.Name) ?? base) / base;
      return this.silentFor(n.Name) > timeoutMs * scale;
    });
  }

  /** Down nodes silent for longer than `retentionMs`, static ones excepted (they are configured). */
  forgettable(retentionMs: number): Node[] {
    const now = this.#opts.clock.now();
    return this.list().filter((n) => {
      if (n.Status !== "down" || n.Static) return false;
      // The last heartbeat is stored with the node, so a manager restart adds no grace.
      const last = n.LastHeartbeat ? Date.parse(n.LastHeartbeat) : now - this.silentFor(n.Name);
      return now - last > retentionMs;
    });
  }

  /** Milliseconds since the node's last sign of life. */
  silentFor(name: string): number {
    return this.#opts.clock.now() - (this.#seen.get(name) ?? 0);
  }

  #put(node: Node): Promise<string> {
    return this.#opts.guard.run(`save node ${node.Name}`, () => this.store.put(node.Name, node));
  }
}
