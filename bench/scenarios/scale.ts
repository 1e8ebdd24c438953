/**
 * Scenario 4: the control plane at scale, by simulation. A manager process with N
 * simulated nodes (the worker's protocol, heartbeats every second, tasks that reach
 * Running without Docker) takes M tasks: how long until all are Running in its view,
 * how much memory it holds, and how fast `GET /tasks` answers at that size.
 *
 * @module
 */

import { startFleet } from "../../sim/mod.ts";
import { tempDir, trustedFetch, waitFor } from "../../testing/wait.ts";
import { memoryOf, mib, ms, type Section, summarize, verdict } from "../report.ts";
import { isRunning, listTasks, startManagerProcess, submitAll, waitForTasks } from "./common.ts";

export interface ScaleOptions {
  nodes: number;
  tasks: number;
  /** V8 flags for the manager process (`DENO_V8_FLAGS`), e.g. a heap cap. */
  v8Flags?: string;
}

export async function scale({ nodes, tasks, v8Flags }: ScaleOptions): Promise<Section> {
  await using dir = await tempDir();
  await using manager = await startManagerProcess(
    dir.path,
    v8Flags ? { DENO_V8_FLAGS: v8Flags } : {},
  );
  const joinStart = performance.now();
  await using fleet = await startFleet({
    count: nodes,
    managerUrl: manager.url,
    joinToken: manager.joinToken,
  });
  await waitFor(`${nodes} nodes to join`, async () => {
    const list = await (await trustedFetch(`${manager.url}/nodes`)).json();
    return list.filter((n: { Status: string }) => n.Status === "ready").length === nodes;
  }, { timeoutMs: 60_000 });
  const joined = performance.now() - joinStart;

  const batch = Array.from({ length: tasks }, (_, i) => ({
    ID: crypto.randomUUID(),
    Name: `sim-task-${i}`,
    Image: "cube-test/sleep",
  }));
  const start = performance.now();
  await submitAll(manager.url, batch, 32);
  const submitted = performance.now() - start;
  // Watched through the state counts of GET /health (polling the 5 MiB task list four
  // times a second would be the benchmark loading the manager), then checked in full.
  await waitFor(`${tasks} tasks to run`, async () => {
    const health = await (await trustedFetch(`${manager.url}/health`)).json();
    return health.States.Running >= tasks;
  }, { timeoutMs: 300_000 });
  const allRunning = performance.now() - start;
  await waitForTasks(manager.url, batch.map((t) => t.ID), isRunning);

  const latencies: number[] = [];
  let bytes = 0;
  for (let i = 0; i < 20; i++) {
    const t0 = performance.now();
    const response = await trustedFetch(`${manager.url}/tasks`);
    bytes = (await response.arrayBuffer()).byteLength;
    latencies.push(performance.now() - t0);
  }
  const list = summarize(latencies);
  const memory = await memoryOf(manager.process.child.pid);
  const placed = (await listTasks(manager.url)).filter(isRunning).length;
  const started = fleet.nodes.reduce((sum, n) => sum + n.starts.size, 0);
  const full = nodes >= 1000 && tasks >= 10_000;
  const target = (figure: string, value: number, goal: number) =>
    full ? `${figure}: ${verdict(value, goal)}` : `${figure}: (quick size, no target)`;
  return {
    title: `Control plane at scale: ${nodes} simulated nodes, ${tasks} tasks${
      v8Flags ? ` (manager with DENO_V8_FLAGS=${v8Flags})` : ""
    }`,
    header: ["figure", "value", "target"],
    rows: [
      ["all nodes joined", ms(joined), ""],
      ["tasks submitted (32 in flight)", ms(submitted), ""],
      ["all Running in the manager's view", ms(allRunning), "< 30 s"],
      ["manager RSS now / peak", `${mib(memory.rss)} / ${mib(memory.peak)}`, "< 300 MB"],
      [
        `GET /tasks (${(bytes / 1024 ** 2).toFixed(1)} MiB) p50 / p95 / max`,
        `${ms(list.p50)} / ${ms(list.p95)} / ${ms(list.max)}`,
        "p95 < 200 ms",
      ],
      ["Running in the manager / started on nodes", `${placed} / ${started}`, "equal"],
    ],
    notes: [
      target("all Running", allRunning, 30_000),
      target("RSS", memory.peak, 300 * 1000 ** 2),
      target("GET /tasks p95", list.p95, 200),
    ],
  };
}
