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

/**
 * The same choice without passing over every node for every replica (spreading over
 * nodes, no label): the nodes grouped by how many of the service's replicas they hold,
 * kept so as a dispatch round places them. A replica's candidates are the first level
 * with a node that `fits`, sampled from a start that moves; only the nodes it looks at
 * are checked. Over every node of 1,000 for each of 10,000 replicas, the checks and the
 * two passes of `spreadAmong` were half a second of the manager's time.
 */
export class SpreadIndex {
  /** Nodes by replica count (index = count); each level in no particular order. */
  readonly #levels: Node[][] = [];
  /** Each node's count and its position in its level (for an O(1) move up). */
  readonly #where = new Map<Node, { count: number; at: number }>();

  constructor(nodes: readonly Node[], counts: ReadonlyMap<string, number>) {
    for (const node of nodes) this.#enter(node, counts.get(node.Name) ?? 0);
  }

  /**
   * Up to `limit` nodes that `fits`, from the lowest level that has one, starting at its
   * `start`th node (wrapping); empty when no node fits.
   */
  sample(fits: (node: Node) => boolean, start: number, limit: number): Node[] {
    for (const level of this.#levels) {
      if (!level?.length) continue;
      const out: Node[] = [];
      const from = start % level.length;
      for (let i = 0; i < level.length && out.length < limit; i++) {
        const node = level[(from + i) % level.length];
        if (fits(node)) out.push(node);
      }
      if (out.length) return out;
    }
    return [];
  }

  /** One more replica on `node`. */
  placed(node: Node): void {
    const where = this.#where.get(node);
    if (!where) return;
    const level = this.#levels[where.count];
    const last = level.pop()!;
    if (last !== node) {
      level[where.at] = last;
      this.#where.get(last)!.at = where.at;
    }
    this.#enter(node, where.count + 1);
  }

  #enter(node: Node, count: number): void {
    const level = this.#levels[count] ??= [];
    this.#where.set(node, { count, at: level.length });
    level.push(node);
  }
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
