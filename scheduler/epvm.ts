/**
 * E-PVM: place a task where it costs least, in the opportunity-cost sense of Amir et al.
 * ("An Opportunity Cost Approach for Job Assignment in a Scalable Computing Cluster",
 * 2000), the algorithm the book adapts.
 *
 * For each resource i (CPU and memory) of a node, with utilisation u_i (0..1 and beyond)
 * and the task's request r_i as a share of the node's capacity, the marginal cost is
 *
 *     cost_i = LIEB^(u_i + r_i) - LIEB^(u_i)          (LIEB = 1.5396…, the book's base)
 *
 * and the node's cost is the sum over resources. Lowest cost wins; ties go to the node
 * with fewer tasks, then to name order.
 *
 * Where this differs from the book, and why:
 * - The book computes the CPU term from the same load before and after placement, so it
 *   cancels to 0 and only memory counts. Here r_cpu is the task's own request.
 * - u_i adds what cube has promised on the node (allocated / capacity) to what the node
 *   measures (CPU usage averaged like a load average; memory not available). Cube's own
 *   running tasks are thus counted twice, which errs towards spreading; what cube did not
 *   place (other load on a shared machine) is still seen.
 * - A task that requests nothing is scored as if it asked for 0.1 core and 64 MiB (like
 *   Nomad's defaults), and every task already on a node adds that much to u_i as its
 *   baseline, so tasks without requests still spread instead of tying at cost 0 (where
 *   a few percent of measurement noise would decide).
 * - Nodes that are down or lack room are never scored (the book scored an unreachable
 *   node 0 and picked it).
 *
 * Scoring every node costs O(nodes) per placement. With `scoreLimit` set, E-PVM does what
 * Nomad's scheduler does at scale: it visits nodes from a start that moves with every
 * placement and scores only the first `max(scoreLimit, ceil(log2 nodes))` feasible ones,
 * so the cost stops growing with the cluster. The price is that the cheapest node may be
 * outside the sample; `bench/` measures both.
 *
 * @module
 */

import type { Node, Task } from "../task/mod.ts";
import {
  type Candidates,
  lacks,
  lowestScore,
  type Scheduler,
  selectFeasible,
} from "./scheduler.ts";

export const LIEB = 1.53960071783900203869;
export const DEFAULT_CPU_REQUEST = 0.1;
export const DEFAULT_MEMORY_REQUEST = 64 * 1024 * 1024;

export interface Utilisation {
  cpu: number;
  memory: number;
}

/** u_cpu and u_mem of a node, as described above (each placed task adds its baseline). */
export function utilisation(node: Node): Utilisation {
  const cores = node.Cores || node.Stats?.CpuCores || 1;
  const measuredMemory = node.Stats && node.Stats.MemoryTotalBytes > 0
    ? 1 - node.Stats.MemoryAvailableBytes / node.Stats.MemoryTotalBytes
    : 0;
  const memory = node.Memory || node.Stats?.MemoryTotalBytes || 1;
  return {
    cpu: (node.CpuAllocated + node.TaskCount * DEFAULT_CPU_REQUEST) / cores +
      (node.Stats?.CpuUsage ?? 0),
    memory: (node.MemoryAllocated + node.TaskCount * DEFAULT_MEMORY_REQUEST) / memory +
      measuredMemory,
  };
}

const LN_LIEB = Math.log(LIEB);

/**
 * The cost function for one task, ready to apply to many nodes.
 *
 * `LIEB^(u+r) - LIEB^u` is `LIEB^u * (LIEB^r - 1)`. The second factor depends only on the
 * task and the node's capacity, so across a cluster of like machines it is computed once,
 * not once per node: two exponentials per node instead of four (the cost function is most
 * of E-PVM's time at a thousand nodes).
 */
function pricer(task: Task): (node: Node) => number {
  const cpuRequest = task.Cpu || DEFAULT_CPU_REQUEST;
  const memoryRequest = task.Memory || DEFAULT_MEMORY_REQUEST;
  let cores = NaN;
  let memory = NaN;
  let cpuFactor = 0;
  let memoryFactor = 0;
  return (node) => {
    const c = node.Cores || node.Stats?.CpuCores || 1;
    const m = node.Memory || node.Stats?.MemoryTotalBytes || 1;
    if (c !== cores) {
      cores = c;
      cpuFactor = Math.expm1((cpuRequest / c) * LN_LIEB);
    }
    if (m !== memory) {
      memory = m;
      memoryFactor = Math.expm1((memoryRequest / m) * LN_LIEB);
    }
    const u = utilisation(node);
    return Math.exp(u.cpu * LN_LIEB) * cpuFactor + Math.exp(u.memory * LN_LIEB) * memoryFactor;
  };
}

/** The marginal cost of placing `task` on `node`. */
export function marginalCost(task: Task, node: Node): number {
  return pricer(task)(node);
}

export interface EpvmOptions {
  /** Score only this many feasible nodes (at least log2 of the node count); 0: all. */
  scoreLimit?: number;
}

export class Epvm implements Scheduler {
  readonly name = "epvm";
  readonly #scoreLimit: number;
  #offset = 0;

  constructor(options: EpvmOptions = {}) {
    this.#scoreLimit = options.scoreLimit ?? 0;
  }

  selectCandidates(task: Task, nodes: readonly Node[]): Candidates {
    if (this.#scoreLimit <= 0) return selectFeasible(task, nodes);
    const limit = Math.max(this.#scoreLimit, Math.ceil(Math.log2(nodes.length)));
    const candidates: Node[] = [];
    const rejected = new Map<string, string>();
    const start = this.#offset++ % Math.max(1, nodes.length);
    for (let i = 0; i < nodes.length && candidates.length < limit; i++) {
      const node = nodes[(start + i) % nodes.length];
      const why = lacks(task, node);
      if (why) rejected.set(node.Name, why);
      else candidates.push(node);
    }
    return { nodes: candidates, rejected };
  }

  score(task: Task, candidates: readonly Node[]): Map<string, number> {
    const scores = new Map<string, number>();
    const price = pricer(task);
    for (const node of candidates) scores.set(node.Name, price(node));
    return scores;
  }

  pick(scores: Map<string, number>, candidates: readonly Node[]): Node {
    // Ties (within float noise) go to the node with fewer tasks, then to name order.
    return lowestScore(
      scores,
      candidates,
      (a, b) => a.TaskCount < b.TaskCount || (a.TaskCount === b.TaskCount && a.Name < b.Name),
      1e-12,
    );
  }
}
