/**
 * The book's scheduler interface: select candidate nodes, score them, pick one. The
 * manager gives each call a snapshot of the nodes with their allocations.
 *
 * @module
 */

import { parseConstraint, satisfies } from "../task/mod.ts";
import type { Node, Task } from "../task/mod.ts";

export interface Scheduler {
  readonly name: string;
  /** Nodes that can take the task; the reasons the others cannot, by node name. */
  selectCandidates(task: Task, nodes: readonly Node[]): Candidates;
  /** A score per candidate; what "better" means is the scheduler's (see `pick`). */
  score(task: Task, candidates: readonly Node[]): Map<string, number>;
  pick(scores: Map<string, number>, candidates: readonly Node[]): Node;
}

export interface Candidates {
  nodes: Node[];
  rejected: Map<string, string>;
}

export type Placement = { node: Node } | { node: null; reason: string };

function gib(bytes: number): string {
  return bytes >= 1024 ** 3
    ? `${(bytes / 1024 ** 3).toFixed(1)} GiB`
    : `${Math.round(bytes / 1024 ** 2)} MiB`;
}

/**
 * The feasibility check shared by every scheduler: the node is up and has room for the
 * task's Cpu, Memory and Disk requests on top of what is already allocated there.
 * Returns null when it fits, else what it lacks.
 */
export function lacks(task: Task, node: Node): string | null {
  if (node.Status !== "ready") return `is ${node.Status}${node.Error ? ` (${node.Error})` : ""}`;
  // The common case first and without allocating: at thousands of nodes per placement,
  // building the explanation for nodes that fit would dominate the cost.
  if (
    (task.Cpu <= 0 || node.CpuAllocated + task.Cpu <= node.Cores) &&
    (task.Memory <= 0 || node.MemoryAllocated + task.Memory <= node.Memory) &&
    (task.Disk <= 0 || node.DiskAllocated + task.Disk <= node.Disk)
  ) return null;
  const missing: string[] = [];
  if (task.Cpu > 0 && node.CpuAllocated + task.Cpu > node.Cores) {
    missing.push(`CPU (${(node.Cores - node.CpuAllocated).toFixed(2)} of ${task.Cpu} cores free)`);
  }
  if (task.Memory > 0 && node.MemoryAllocated + task.Memory > node.Memory) {
    missing.push(
      `memory (${gib(Math.max(0, node.Memory - node.MemoryAllocated))} of ${
        gib(task.Memory)
      } free)`,
    );
  }
  if (task.Disk > 0 && node.DiskAllocated + task.Disk > node.Disk) {
    missing.push(
      `disk (${gib(Math.max(0, node.Disk - node.DiskAllocated))} of ${gib(task.Disk)} free)`,
    );
  }
  return missing.length ? `lacks ${missing.join(", ")}` : null;
}

export function selectFeasible(task: Task, nodes: readonly Node[]): Candidates {
  const candidates: Node[] = [];
  const rejected = new Map<string, string>();
  for (const node of nodes) {
    const why = lacks(task, node);
    if (why) rejected.set(node.Name, why);
    else candidates.push(node);
  }
  return { nodes: candidates, rejected };
}

/**
 * The candidate with the lowest score, the usual `pick`: scores within `tolerance` of each
 * other tie, and `before(a, b)` says whether `a` wins a tie against `b`.
 */
export function lowestScore(
  scores: Map<string, number>,
  candidates: readonly Node[],
  before: (a: Node, b: Node) => boolean,
  tolerance = 0,
): Node {
  let best = candidates[0];
  let bestScore = scores.get(best.Name)!;
  for (const node of candidates) {
    const score = scores.get(node.Name)!;
    if (
      score < bestScore - tolerance ||
      (Math.abs(score - bestScore) <= tolerance && before(node, best))
    ) {
      best = node;
      bestScore = score;
    }
  }
  return best;
}

/**
 * Nodes that take new work (`active`) and satisfy every constraint of the task, and how
 * many were set aside, by reason. The common case (no constraints, every node active)
 * allocates nothing.
 */
export function eligible(
  task: Task,
  nodes: readonly Node[],
): { nodes: readonly Node[]; setAside: Map<string, number> } {
  const constraints = task.Constraints?.length ? task.Constraints.map(parseConstraint) : [];
  const setAside = new Map<string, number>();
  if (constraints.length === 0 && nodes.every((n) => (n.Availability ?? "active") === "active")) {
    return { nodes, setAside };
  }
  const kept: Node[] = [];
  for (const node of nodes) {
    const availability = node.Availability ?? "active";
    const why = availability !== "active"
      ? `${availability === "pause" ? "paused" : "draining"}`
      : constraints.find((c) => !satisfies(c, node))?.text;
    if (why === undefined) kept.push(node);
    else {
      const key = availability !== "active" ? why : `filtered by constraint ${why}`;
      setAside.set(key, (setAside.get(key) ?? 0) + 1);
    }
  }
  return { nodes: kept, setAside };
}

/**
 * One node at a time, what `eligible` and `lacks` say of many: whether the node takes new
 * work, satisfies the task's constraints and has room for it. For looking at a few nodes
 * of many (manager/spread.ts); the constraints are parsed once.
 */
export function fits(task: Task): (node: Node) => boolean {
  const constraints = task.Constraints?.length ? task.Constraints.map(parseConstraint) : [];
  return (node) =>
    (node.Availability ?? "active") === "active" &&
    constraints.every((c) => satisfies(c, node)) && lacks(task, node) === null;
}

/** How many nodes were rejected for each kind of reason: `short of memory: 3`. */
function tally(rejected: Map<string, string>): string[] {
  const counts = new Map<string, number>();
  for (const why of rejected.values()) {
    const kinds = why.startsWith("is ")
      ? [why.split(" (")[0]]
      : ["CPU", "memory", "disk"].filter((r) => why.includes(`${r} (`)).map((r) => `short of ${r}`);
    for (const kind of kinds) counts.set(kind, (counts.get(kind) ?? 0) + 1);
  }
  return [...counts].map(([kind, n]) => `${kind}: ${n}`);
}

/**
 * Runs select → score → pick, or explains why no node can take the task. `prefer`
 * narrows the feasible candidates first (a service spreading its replicas).
 */
export function place(
  scheduler: Scheduler,
  task: Task,
  nodes: readonly Node[],
  prefer?: (candidates: Node[]) => Node[],
): Placement {
  if (nodes.length === 0) {
    return { node: null, reason: "no worker nodes have joined yet" };
  }
  const { nodes: allowed, setAside } = eligible(task, nodes);
  const { nodes: candidates, rejected } = allowed.length
    ? scheduler.selectCandidates(task, allowed)
    : { nodes: [], rejected: new Map<string, string>() };
  if (candidates.length === 0) {
    const counts = [...[...setAside].map(([why, n]) => `${why}: ${n}`), ...tally(rejected)];
    const details = [...rejected].slice(0, 5).map(([name, why]) => `${name} ${why}`);
    const more = rejected.size > 5 ? `; and ${rejected.size - 5} more` : "";
    return {
      node: null,
      reason: `no node can take it: ${nodes.length} evaluated; ${counts.join("; ")}${
        details.length ? ` (${details.join("; ")}${more})` : ""
      }`,
    };
  }
  const chosen = prefer ? prefer(candidates) : candidates;
  return { node: scheduler.pick(scheduler.score(task, chosen), chosen) };
}
