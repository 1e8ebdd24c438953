/**
 * Scenario 7: services. (a) A rolling update of a service on real containers with a
 * health check: the total time, and the fewest replicas Running seen during it (the goal:
 * never below `Replicas − Parallelism`). (b) A manager process with N simulated nodes
 * takes one service of M replicas in one request: the time until all run, the manager's
 * memory, then scaled to 0 and back, with both times.
 *
 * @module
 */

import { startFleet } from "../../sim/mod.ts";
import { startCluster } from "../../testing/cluster.ts";
import { HTTP_IMAGE } from "../../testing/docker.ts";
import { request, tempDir, trustedFetch, waitFor } from "../../testing/wait.ts";
import { memoryOf, mib, ms, type Section, verdict } from "../report.ts";
import { type ManagerProcess, startManagerProcess } from "./common.ts";

async function rollingUpdate(replicas: number) {
  await using cluster = await startCluster({ workers: 3 });
  const task = {
    Image: HTTP_IMAGE,
    ExposedPorts: { "80/tcp": {} },
    HealthCheck: "/health",
    Health: { Interval: 0.5, Timeout: 0.5, FailureThreshold: 1 },
  };
  const spec = {
    Name: "bench",
    Replicas: replicas,
    Task: task,
    UpdateConfig: { Parallelism: 2, Monitor: 1 },
  };
  await request(`${cluster.url}/services`, { body: spec });
  await waitFor(`${replicas} replicas`, async () => {
    return (await request(`${cluster.url}/services/bench`)).body.Running === replicas;
  }, { timeoutMs: 120_000 });
  const start = performance.now();
  await request(`${cluster.url}/services/bench`, {
    method: "PUT",
    body: { ...spec, Task: { ...task, Env: ["V=2"] } },
  });
  let fewest = Infinity;
  await waitFor("the update to complete", async () => {
    const s = (await request(`${cluster.url}/services/bench`)).body;
    fewest = Math.min(fewest, s.Running);
    return s.UpdateStatus.State === "completed";
  }, { timeoutMs: 300_000, intervalMs: 50 });
  return { ms: performance.now() - start, fewest, parallelism: 2 };
}

/**
 * One service of `replicas` on `nodes` simulated nodes, from one request; `startManager` gives
 * the manager process (default: one on Deno KV).
 */
export async function manyReplicas(
  nodes: number,
  replicas: number,
  startManager: (dir: string) => Promise<ManagerProcess> = startManagerProcess,
) {
  await using dir = await tempDir();
  await using manager = await startManager(dir.path);
  await using _fleet = await startFleet({
    count: nodes,
    managerUrl: manager.url,
    joinToken: manager.joinToken,
  });
  const health = async () => await (await trustedFetch(`${manager.url}/health`)).json();
  await waitFor(`${nodes} nodes`, async () => (await health()).Nodes === nodes, {
    timeoutMs: 120_000,
  });
  const running = (n: number) =>
    waitFor(`${n} Running`, async () => (await health()).States.Running === n, {
      timeoutMs: 300_000,
      intervalMs: 20,
    });
  const post = (path: string, body: unknown) =>
    trustedFetch(`${manager.url}${path}`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(body),
    }).then(async (r) => {
      if (!r.ok) throw new Error(`${path}: ${r.status} ${await r.text()}`);
    });
  const start = performance.now();
  await post("/services", { Name: "many", Replicas: replicas, Task: { Image: "cube-test/sleep" } });
  await running(replicas);
  const up = performance.now() - start;
  const memory = await memoryOf(manager.process.child.pid);
  const downStart = performance.now();
  await post("/services/many/scale", { Replicas: 0 });
  await running(0);
  const down = performance.now() - downStart;
  const againStart = performance.now();
  await post("/services/many/scale", { Replicas: replicas });
  await running(replicas);
  const again = performance.now() - againStart;
  return { up, down, again, memory };
}

export async function services(
  { quick, nodes, replicas }: { quick: boolean; nodes: number; replicas: number },
): Promise<Section> {
  const update = await rollingUpdate(quick ? 4 : 20);
  const many = await manyReplicas(nodes, replicas);
  const full = nodes >= 1000 && replicas >= 10_000;
  const goal = (value: number, target: number) => full ? verdict(value, target) : "(quick size)";
  const size = quick ? 4 : 20;
  return {
    title:
      `Services: a rolling update of ${size} replicas; ${replicas} replicas on ${nodes} simulated nodes`,
    header: ["figure", "value", "target"],
    rows: [
      [`rolling update of ${size} replicas (parallelism 2, monitor 1 s)`, ms(update.ms), ""],
      [
        "fewest replicas Running during it",
        `${update.fewest} of ${size}`,
        update.fewest >= size - update.parallelism ? `≥ ${size - 2}: met` : `≥ ${size - 2}: MISSED`,
      ],
      [
        `${replicas} replicas: one request → all Running`,
        ms(many.up),
        `< 5 s: ${goal(many.up, 5_000)}`,
      ],
      ["manager RSS then", mib(many.memory.rss), `< 250 MB: ${goal(many.memory.rss, 250e6)}`],
      ["scaled to 0 → none Running", ms(many.down), ""],
      [`scaled back to ${replicas} → all Running`, ms(many.again), ""],
    ],
    notes: [
      "update: 3 workers on this machine's engine; replicas: simulated nodes, the manager as its own process",
    ],
  };
}
