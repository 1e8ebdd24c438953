import type { Node, Task } from "../task/mod.ts";
import { type Candidates, lowestScore, type Scheduler, selectFeasible } from "./scheduler.ts";

/**
 * The book's round-robin, made exact: nodes are taken in name order (code-unit order, the
 * same on every machine), each placement goes to the next feasible node after the last
 * one picked, and nodes that cannot take the task are skipped rather than picked.
 */
export class RoundRobin implements Scheduler {
  readonly name = "roundrobin";
  #last = "";

  selectCandidates(task: Task, nodes: readonly Node[]): Candidates {
    return selectFeasible(task, nodes);
  }

  score(_task: Task, candidates: readonly Node[]): Map<string, number> {
    // 0 for the nodes after the last one picked (in name order), 1 for those from the
    // start again; `pick` takes the lowest, then the first name. One pass, no sort: at
    // thousands of nodes a sort per placement would be the whole cost.
    const scores = new Map<string, number>();
    for (const node of candidates) scores.set(node.Name, node.Name > this.#last ? 0 : 1);
    return scores;
  }

  pick(scores: Map<string, number>, candidates: readonly Node[]): Node {
    const best = lowestScore(scores, candidates, (a, b) => a.Name < b.Name);
    this.#last = best.Name;
    return best;
  }
}
