/**
 * What the manager trusts and promises: which facts a worker is trusted with, and what
 * each node has been promised. (When a task restarts is `restartDecision` in `task/`.)
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

/** What the active tasks placed on one node add up to; CPU in nanocores, summed exactly. */
interface Load {
  nanoCpus: number;
  memory: number;
  disk: number;
  tasks: number;
}

/**
 * What each node has been promised, kept up to date as tasks change (`update` with each
 * change's before and after), so that reading every node's allocation costs O(nodes), not
 * O(tasks): summed afresh over 10,000 tasks for each of a service's 40 dispatch rounds, it
 * cost the manager 0.2 s of CPU. CPU is counted in whole nanocores (Docker's `NanoCpus`),
 * so adding and taking away the same tasks in another order leaves exactly nothing behind
 * (0.1 + 0.2 − 0.1 is not 0.2 in floating point, and a node at exactly its capacity
 * must not seem over it).
 */
export class NodeLoads {
  readonly #loads = new Map<string, Load>();

  /** Counts a change of one task: `before` out, `after` in (null: none). */
  update(before: Task | null, after: Task | null): void {
    if (before) this.#count(before, -1);
    if (after) this.#count(after, 1);
  }

  #count(task: Task, sign: 1 | -1): void {
    if (!task.Node || !isActive(task.State)) return;
    let load = this.#loads.get(task.Node);
    if (!load) this.#loads.set(task.Node, load = { nanoCpus: 0, memory: 0, disk: 0, tasks: 0 });
    load.nanoCpus += sign * Math.round(task.Cpu * 1e9);
    load.memory += sign * task.Memory;
    load.disk += sign * task.Disk;
    load.tasks += sign;
    if (load.tasks === 0) this.#loads.delete(task.Node);
  }

  /** Nodes with `*Allocated` and `TaskCount` from the active tasks placed on them. */
  allocate(nodes: readonly Node[]): Node[] {
    return nodes.map((n) => {
      const load = this.#loads.get(n.Name);
      return {
        ...n,
        CpuAllocated: load ? load.nanoCpus / 1e9 : 0,
        MemoryAllocated: load?.memory ?? 0,
        DiskAllocated: load?.disk ?? 0,
        TaskCount: load?.tasks ?? 0,
      };
    });
  }
}
