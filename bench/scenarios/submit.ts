/**
 * Scenario 1: submit to Running, against the floor. N tasks of a small local image go
 * through cube (one manager, three workers on this machine's engine) until all are
 * Running in the manager's view; then the same N containers are created and started
 * straight through the Docker Engine API with the same concurrency (three workers with
 * eight starts in flight each: 24). The ratio is what cube costs over bare Docker.
 *
 * @module
 */

import { trustedFetch } from "../../testing/wait.ts";
import Docker from "dockerode";
import { startCluster } from "../../testing/cluster.ts";
import { SLEEP_IMAGE } from "../../testing/docker.ts";
import { State } from "../../task/mod.ts";
import { ms, pool, ratio, type Section, summarize, verdict } from "../report.ts";
import { submitTask } from "./common.ts";

const WORKERS = 3;
const PER_WORKER = 8;
const CONCURRENCY = WORKERS * PER_WORKER;

interface Run {
  totalMs: number;
  latencies: number[];
}

async function throughCube(n: number): Promise<Run> {
  await using cluster = await startCluster({ workers: WORKERS });
  const submitted = new Map<string, number>();
  const start = performance.now();
  const submitting = pool(Array.from({ length: n }, (_, i) => i), CONCURRENCY, async (i) => {
    const id = crypto.randomUUID();
    submitted.set(id, Date.now());
    await submitTask(cluster.url, { ID: id, Name: `bench-${i}`, Image: SLEEP_IMAGE });
  });
  // Convergence is watched through the state counts of GET /health every 10 ms: polling
  // the task list that often would be the benchmark loading the manager it measures. A
  // loop of its own, not waitFor: a Failed task must end the run at once, not be retried.
  const deadline = start + 120_000;
  for (;;) {
    const { States } = await (await trustedFetch(`${cluster.url}/health`)).json();
    if (States.Failed > 0) throw new Error(`${States.Failed} tasks failed`);
    if (States.Running >= n) break;
    if (performance.now() > deadline) throw new Error(`${n - States.Running} tasks never ran`);
    await new Promise((r) => setTimeout(r, 10));
  }
  const totalMs = performance.now() - start;
  await submitting;
  // Each task's latency: from its submit to the manager recording it Running (its history).
  const latencies = await pool([...submitted], 8, async ([id, at]) => {
    const events = await (await trustedFetch(`${cluster.url}/tasks/${id}/events`)).json();
    const running = events.find((e: { State: number }) => e.State === State.Running);
    return Date.parse(running.Timestamp) - at;
  });
  return { totalMs, latencies };
}

async function throughDocker(n: number): Promise<Run> {
  const docker = new Docker();
  const label = `cube-bench-${crypto.randomUUID().slice(0, 8)}`;
  const latencies: number[] = [];
  const start = performance.now();
  try {
    // All N are asked for at once, as with cube: each latency runs from the start, so
    // both sides count the time a start waits for a free lane.
    await pool(Array.from({ length: n }, (_, i) => i), CONCURRENCY, async (i) => {
      const container = await docker.createContainer({
        name: `${label}-${i}`,
        Image: SLEEP_IMAGE,
        Labels: { "cube.bench": label },
        HostConfig: { RestartPolicy: { Name: "no" } },
      });
      await container.start();
      latencies.push(performance.now() - start);
    });
    return { totalMs: performance.now() - start, latencies };
  } finally {
    const left = await docker.listContainers({
      all: true,
      filters: { label: [`cube.bench=${label}`] },
    });
    await pool(left, 8, (c) => docker.getContainer(c.Id).remove({ force: true }).catch(() => {}));
  }
}

export async function submitToRunning({ sizes }: { sizes: number[] }): Promise<Section> {
  const rows: (string | number)[][] = [];
  const notes: string[] = [];
  for (const n of sizes) {
    const direct = await throughDocker(n);
    const cube = await throughCube(n);
    const c = summarize(cube.latencies);
    const d = summarize(direct.latencies);
    rows.push(
      [
        `cube, N=${n}`,
        ms(cube.totalMs),
        ms(c.p50),
        ms(c.p95),
        ms(c.max),
        ratio(cube.totalMs, direct.totalMs),
      ],
      [`docker API, N=${n}`, ms(direct.totalMs), ms(d.p50), ms(d.p95), ms(d.max), "1.00x"],
    );
    if (n >= 50) {
      notes.push(
        `N=${n}: cube/direct ${ratio(cube.totalMs, direct.totalMs)}, target <= 1.25x: ${
          verdict(cube.totalMs / direct.totalMs, 1.25)
        }`,
      );
    }
  }
  return {
    title: `Submit to Running vs the Docker API (${CONCURRENCY} starts in flight on each side)`,
    header: ["path", "total", "p50", "p95", "max", "ratio"],
    rows,
    notes: [
      ...notes,
      "cube: POST /tasks until the manager counts all Running (GET /health every 10 ms);",
      "  per task: submit to the Running event in the manager's history;",
      "docker: create + start with dockerode, the floor (no image check, no inspect, no state)",
    ],
  };
}
