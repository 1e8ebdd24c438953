/**
 * `deno bench bench/scheduler_bench.ts`: one placement (select → score → pick) per
 * iteration, for round-robin, E-PVM scoring every node, and E-PVM scoring a sample.
 * `deno task bench` reports the same work as placements per second.
 */
import { createScheduler, place } from "../scheduler/mod.ts";
import { clusterOf, smallTask } from "./fixtures.ts";

for (const size of [100, 1_000, 10_000]) {
  const nodes = clusterOf(size);
  for (
    const [label, scheduler] of [
      ["roundrobin", createScheduler("roundrobin")],
      ["epvm", createScheduler("epvm")],
      ["epvm --score-limit 2", createScheduler("epvm", { scoreLimit: 2 })],
    ] as const
  ) {
    Deno.bench(`${label}, ${size} nodes`, { group: `${size} nodes` }, () => {
      place(scheduler, smallTask, nodes);
    });
  }
}
