/**
 * Pure decisions the manager makes: when a task is restarted, which facts a worker is
 * trusted with, and what each node has been promised.
 *
 * @module
 */

import { isActive, type Node, State, type Task } from "../task/mod.ts";

/** What a worker knows better than the manager; copied from its reports. */
export const REPORTED_FACTS = [
  "ContainerID",
  "ContainerName",
  "HostPorts",
  "StartTime",
  "FinishTime",
  "ExitCode",
  "Error",
] as const satisfies readonly (keyof Task)[];

export interface RestartDecision {
  restart: boolean;
  /** Why not, when the limit is what stopped it. */
  reason?: string;
}

/**
 * `RestartPolicy`: `""` and `"on-failure"` restart a Failed task; `"always"` and
 * `"unless-stopped"` also a Completed one (a container that exited 0 on its own);
 * `"no"` never. Restarts stop at `MaxRestarts` (the book's 3 by default).
 */
export function restartDecision(task: Task): RestartDecision {
  const policy = task.RestartPolicy;
  if (policy === "no") return { restart: false };
  if (task.State === State.Completed && policy !== "always" && policy !== "unless-stopped") {
    return { restart: false };
  }
  if (task.State !== State.Failed && task.State !== State.Completed) return { restart: false };
  if (task.RestartCount >= task.MaxRestarts) {
    return { restart: false, reason: `gave up after ${task.RestartCount} restarts` };
  }
  return { restart: true };
}

/** Nodes with `*Allocated` and `TaskCount` computed from the active tasks placed on them. */
export function allocate(nodes: readonly Node[], tasks: Iterable<Task>): Node[] {
  const byName = new Map(nodes.map((n) => [n.Name, {
    ...n,
    CpuAllocated: 0,
    MemoryAllocated: 0,
    DiskAllocated: 0,
    TaskCount: 0,
  }]));
  for (const task of tasks) {
    const node = task.Node ? byName.get(task.Node) : undefined;
    if (!node || !isActive(task.State)) continue;
    node.CpuAllocated += task.Cpu;
    node.MemoryAllocated += task.Memory;
    node.DiskAllocated += task.Disk;
    node.TaskCount++;
  }
  return [...byName.values()];
}
