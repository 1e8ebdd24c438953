import type { Node, Task } from "../task/mod.ts";
import { type Candidates, type Scheduler, selectFeasible } from "./scheduler.ts";

/**
 * The book's round-robin, made exact: nodes are taken in name order, each placement goes
 * to the next feasible node after the last one picked, and nodes that cannot take the
 * task are skipped rather than picked.
 */
export class RoundRobin implements Scheduler {
  readonly name = "roundrobin";
  #last = "";

  selectCandidates(task: Task, nodes: readonly Node[]): Candidates {
    return selectFeasible(task, nodes);
  }

  score(_task: Task, candidates: readonly Node[]): Map<string, number> {
    const ordered = [...candidates].sort((a, b) => a.Name.localeCompare(b.Name));
    const after = ordered.findIndex((n) => n.Name.localeCompare(this.#last) > 0);
    const start = after === -1 ? 0 : after;
    const scores = new Map<string, number>();
    ordered.forEach((node, i) => {
      // 0 for the next node in turn, rising from there: lower is better.
      scores.set(node.Name, (i - start + ordered.length) % ordered.length);
    });
    return scores;
  }

  pick(scores: Map<string, number>, candidates: readonly Node[]): Node {
    let best = candidates[0];
    for (const node of candidates) {
      if (scores.get(node.Name)! < scores.get(best.Name)!) best = node;
    }
    this.#last = best.Name;
    return best;
  }
}
