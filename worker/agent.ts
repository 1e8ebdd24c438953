/**
 * What the worker's HTTP API and its link to the manager need of a node agent. The
 * Docker-backed `Worker` is the real one; `sim/` has a simulated one that speaks the same
 * protocol without containers, so the control plane can be measured at a thousand nodes
 * on one machine (as Nomad's node simulator and Kubernetes' hollow nodes do).
 *
 * @module
 */

import type { Task, TaskEvent } from "../task/mod.ts";
import type { Stats } from "./stats.ts";

export interface SubmitResult {
  task: Task;
  /** False when the task was already active here and nothing was done. */
  created: boolean;
}

export interface AgentHealth {
  Status: "ok" | "degraded";
  Name: string;
  /** "ok", the engine's error, or what stands in for the engine. */
  Docker: string;
  /** "ok", or why the node's store fails. */
  Store?: string;
}

export interface NodeAgent {
  readonly name: string;
  /** Runs a task (or stops it, when the event's desired state is Completed). */
  submit(event: TaskEvent): Promise<SubmitResult>;
  list(): Promise<Task[]>;
  get(id: string): Promise<Task | null>;
  /** Stops a task; a `CubeError` 404 when this node never had it. */
  stop(id: string): Promise<Task>;
  logs(
    id: string,
    options: { follow: boolean; tail?: number; signal: AbortSignal },
  ): Promise<ReadableStream<Uint8Array>>;
  stats(): Promise<Stats>;
  health(): Promise<AgentHealth>;
  /** Tells `listener` of every change of a task's record until the returned function is called. */
  watch?(listener: (task: Task) => void): () => void;
}
