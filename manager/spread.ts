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
  return fewest(pool, (n) => counts.get(n.Name) ?? 0);
}

/** The nodes with the lowest `count`, in one pass (this runs for every replica placed). */
function fewest(nodes: Node[], count: (node: Node) => number): Node[] {
  let lowest = Infinity;
  let out: Node[] = [];
  for (const node of nodes) {
    const n = count(node);
    if (n < lowest) {
      lowest = n;
      out = [node];
    } else if (n === lowest) out.push(node);
  }
  return out;
}

/** Nodes E-PVM scores for a replica at most (a cluster this small is scored whole). */
export const SCORED_PER_REPLICA = 32;

/** At most `limit` of `pool`, from `start` on (wrapping): the nodes to score. */
export function sampleOf(pool: Node[], start: number, limit = SCORED_PER_REPLICA): Node[] {
  if (pool.length <= limit) return pool;
  const from = start % pool.length;
  const sample = pool.slice(from, from + limit);
  return sample.length === limit ? sample : sample.concat(pool.slice(0, limit - sample.length));
}
