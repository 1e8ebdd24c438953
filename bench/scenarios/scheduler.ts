/**
 * Scenario 3: placements per second for round-robin and E-PVM (every node scored, and a
 * Nomad-style sample) at 100, 1,000 and 10,000 nodes. Each placement counts against its
 * node, as the dispatcher does, so later placements see earlier ones.
 *
 * @module
 */

import { createScheduler, place, type Scheduler } from "../../scheduler/mod.ts";
import { clusterOf, smallTask } from "../fixtures.ts";
import { type Section, verdict } from "../report.ts";

function placementsPerSecond(scheduler: Scheduler, size: number, budgetMs: number): number {
  const nodes = clusterOf(size);
  let count = 0;
  const start = performance.now();
  let now = start;
  while (now - start < budgetMs) {
    for (let i = 0; i < 20; i++) {
      const placed = place(scheduler, smallTask, nodes);
      if (placed.node) {
        placed.node.CpuAllocated = (placed.node.CpuAllocated + smallTask.Cpu) % 4;
        placed.node.MemoryAllocated = (placed.node.MemoryAllocated + smallTask.Memory) % 2 ** 34;
        placed.node.TaskCount = (placed.node.TaskCount + 1) % 50;
      }
      count++;
    }
    now = performance.now();
  }
  return count / ((now - start) / 1000);
}

export function schedulerThroughput({ quick }: { quick: boolean }): Section {
  const budgetMs = quick ? 50 : 1_000;
  const sizes = [100, 1_000, 10_000];
  const variants: [string, () => Scheduler][] = [
    ["roundrobin", () => createScheduler("roundrobin")],
    ["epvm (scores all)", () => createScheduler("epvm")],
    ["epvm --score-limit 2", () => createScheduler("epvm", { scoreLimit: 2 })],
  ];
  const rows: (string | number)[][] = [];
  const at1000: Record<string, number> = {};
  for (const [label, make] of variants) {
    const figures = sizes.map((size) => placementsPerSecond(make(), size, budgetMs));
    at1000[label] = figures[1];
    rows.push([label, ...figures.map((f) => Math.round(f).toLocaleString("en-US"))]);
  }
  const full = at1000["epvm (scores all)"];
  const sampled = at1000["epvm --score-limit 2"];
  return {
    title: "Scheduler throughput (placements/s, one core)",
    header: ["scheduler", "100 nodes", "1,000 nodes", "10,000 nodes"],
    rows,
    notes: [
      `target >= 10,000/s at 1,000 nodes: epvm ${verdict(10_000 / full, 1)}, sampled ${
        verdict(10_000 / sampled, 1)
      }; sampled/full at 1,000 nodes: ${(sampled / full).toFixed(1)}x`,
      ...(quick ? ["(quick mode: 50 ms per figure, noisy)"] : []),
    ],
  };
}
