/**
 * Pure decisions the manager makes: which facts a worker is trusted with, and what each
 * node has been promised. (When a task restarts is `restartDecision` in `task/`.)
 *
 * @module
 */

import { isActive, type Node, type Task } from "../task/mod.ts";

/** What a worker knows better than the manager; copied from its reports. */
export const REPORTED_FACTS = [
  "ContainerID",
  "ContainerName",
  "HostPorts",
  "StartTime",
  "FinishTime",
  "ExitCode",
  "Error",
  "FailureCause",
  "Progress",
] as const satisfies readonly (keyof Task)[];

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
