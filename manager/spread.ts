/**
 * Spreading a service's replicas: among the nodes that can take a replica, prefer those
 * running the fewest replicas of the same service, so that replicas land on different
 * nodes whenever they can; with a spread label (`zone`), first the nodes whose label value
 * holds the fewest replicas, so that they land in different zones.
 *
 * Among those, E-PVM scores a sample of at most `SCORED_PER_REPLICA` nodes, from a start
 * that moves with every replica, as Nomad's scheduler scores a sample (log2 of the nodes)
 * for its service jobs: the spreading stays exact, and the cost of scoring stops growing
 * with the cluster. Scoring every node of 1,000 for each of 10,000 replicas was a second
 * of the manager's time, a fifth of the service's way to Running.
 *
 * @module
 */

import type { Node } from "../task/mod.ts";

/**
 * The candidates to choose among. `counts` is the service's replicas per node name;
 * `nodes` all known nodes (a label value's count includes nodes that cannot take this one).
 */
export function spreadAmong(
  candidates: Node[],
  counts: ReadonlyMap<string, number>,
  label: string,
  nodes: readonly Node[],
  /** Where the sample of `limit` starts among the nodes kept (it wraps). */
  start = 0,
  limit = Infinity,
): Node[] {
  let pool = candidates;
  if (label) {
    const byValue = new Map<string, number>();
    for (const node of nodes) {
      const value = node.Labels?.[label] ?? "";
      byValue.set(value, (byValue.get(value) ?? 0) + (counts.get(node.Name) ?? 0));
    }
    pool = fewest(pool, (n) => byValue.get(n.Labels?.[label] ?? "") ?? 0);
  }
  return fewest(pool, (n) => counts.get(n.Name) ?? 0, start, limit);
}

/** Nodes E-PVM scores for a replica at most (a cluster this small is scored whole). */
export const SCORED_PER_REPLICA = 32;

/**
 * The nodes with the lowest `count`, at most `limit` of them from the `start`th on
 * (wrapping), in two passes over `nodes` and without building the whole set: this runs
 * for every replica placed, and at 1,000 nodes the set was most of what a 10,000-replica
 * service allocated (80 MB of arrays for the garbage collector).
 */
function fewest(nodes: Node[], count: (node: Node) => number, start = 0, limit = Infinity): Node[] {
  let lowest = Infinity;
  let size = 0;
  for (const node of nodes) {
    const n = count(node);
    if (n < lowest) {
      lowest = n;
      size = 1;
    } else if (n === lowest) size++;
  }
  const take = Math.min(size, limit);
  const from = take === size ? 0 : start % size;
  const out: Node[] = [];
  // The kept nodes are numbered 0..size-1 in order; the sample is from..from+take-1 mod size.
  let index = 0;
  for (const node of nodes) {
    if (count(node) !== lowest) continue;
    const offset = (index - from + size) % size;
    if (offset < take) out.push(node);
    index++;
    if (out.length === take && index >= from + take) break;
  }
  return out;
}
