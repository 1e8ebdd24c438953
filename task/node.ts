/**
 * A worker node as the manager sees it: the book's `Node` fields (with memory and disk
 * in bytes, which the book mixed up with kB) plus status and heartbeat.
 *
 * @module
 */

export type NodeStatus = "ready" | "down";

/**
 * Whether a node takes work: `active`; `pause` takes no new tasks; `drain` takes none and
 * has its tasks moved or stopped.
 */
export type Availability = "active" | "pause" | "drain";

/** The slice of a worker's `/stats` the manager keeps and schedules with. */
export interface NodeStats {
  CpuCores: number;
  /** Busy share of all cores, 0..1, measured over an interval. */
  CpuUsage: number;
  MemoryTotalBytes: number;
  MemoryAvailableBytes: number;
  DiskTotalBytes: number;
  DiskFreeBytes: number;
  /** Load average over the last minute. */
  Load1: number;
  TaskCount: number;
}

export interface Node {
  Name: string;
  /** Host (or IP) of the worker, as in the book. */
  Ip: string;
  /** The worker's base URL, e.g. `http://10.0.0.5:5556`. */
  Api: string;
  /** Bytes. */
  Memory: number;
  /** Bytes promised to tasks placed here. */
  MemoryAllocated: number;
  /** Bytes. */
  Disk: number;
  DiskAllocated: number;
  Cores: number;
  CpuAllocated: number;
  Stats: NodeStats | null;
  Role: "worker";
  /** Tasks placed here and not finished. */
  TaskCount: number;
  Status: NodeStatus;
  /** RFC 3339, or "" before the first one. */
  LastHeartbeat: string;
  /** Given with `--workers` (polled by the manager) rather than joined (pushing). */
  Static: boolean;
  /** Why the node is down, when it is. */
  Error: string;
  /** Set by an operator (`PATCH /nodes/{name}`); a new node is `active`. */
  Availability: Availability;
  /** The labels constraints see: the worker's own (`--label`), then the operator's. */
  Labels: Record<string, string>;
  /** Labels the worker gave (`cube worker --label k=v`). */
  WorkerLabels: Record<string, string>;
  /** Labels an operator set (`PATCH /nodes/{name}`, `cube node label`). */
  ManagerLabels: Record<string, string>;
}

/** A manager as `GET /managers` lists it (several managers share an etcd store). */
export interface ManagerPresence {
  /** The URL it is reached at. */
  Url: string;
  Leader: boolean;
  /** When its current session (lease) began: a restart or a lost lease starts a new one. */
  Since: string;
}
