/**
 * Scenario 2: healing, with every role a real process and default settings.
 *  (a) a container killed from outside: time until its task is Running again;
 *  (b) a worker killed with -9: time until all its tasks are Running on other nodes;
 *  (c) the manager killed with -9 and started again: time until `GET /tasks` serves
 *      everything, with proof that no running container was restarted; the same at
 *      1,000 stored tasks on simulated nodes.
 *
 * @module
 */

import Docker from "dockerode";
import { startFleet } from "../../sim/mod.ts";
import type { Task } from "../../task/mod.ts";
import { removeContainersOf, SLEEP_IMAGE, uniqueName } from "../../testing/docker.ts";
import { type CubeProcess, spawnCube } from "../../testing/process.ts";
import { freePort, tempDir, trustedFetch, waitFor } from "../../testing/wait.ts";
import { ms, type Section, summarize, verdict } from "../report.ts";
import {
  isRunning,
  listTasks,
  type ManagerProcess,
  startManagerProcess,
  submitAll,
  waitForTasks,
} from "./common.ts";

const docker = new Docker();

/** A worker process that joins `manager` (the caller waits for it to be ready there). */
function startWorkerProcess(dir: string, manager: ManagerProcess, name: string) {
  const port = freePort();
  return spawnCube([
    "worker",
    ...["-H", "127.0.0.1", "-p", String(port), "-n", name, "--dir", dir],
    ...["--manager", manager.url, "--join-token", manager.joinToken],
    ...["--publish-ip", "127.0.0.1", "--pull", "missing", "--stop-grace", "1"],
  ]);
}

export async function healing({ quick }: { quick: boolean }): Promise<Section> {
  await using dir = await tempDir();
  await using manager = await startManagerProcess(dir.path);
  const names = [0, 1, 2].map(() => uniqueName("heal"));
  const workers: CubeProcess[] = [];
  try {
    for (const name of names) workers.push(startWorkerProcess(dir.path, manager, name));
    // All three joined before anything is submitted, so tasks spread over them.
    await waitFor("the workers to join", async () => {
      const health = await (await trustedFetch(`${manager.url}/health`)).json();
      return health.Nodes === names.length;
    }, { intervalMs: 20 });
    const tasks = Array.from({ length: 6 }, (_, i) => ({
      ID: crypto.randomUUID(),
      Name: `heal-${i}`,
      Image: SLEEP_IMAGE,
    }));
    await submitAll(manager.url, tasks, 6);
    await waitForTasks(manager.url, tasks.map((t) => t.ID), isRunning, { timeoutMs: 60_000 });

    // (a) docker kill, from outside cube.
    const killed: number[] = [];
    for (const { ID } of tasks.slice(0, quick ? 1 : 3)) {
      const before = (await listTasks(manager.url)).find((t) => t.ID === ID)!;
      await docker.getContainer(before.ContainerID).kill();
      const t0 = performance.now();
      await waitForTasks(
        manager.url,
        [ID],
        (t) => isRunning(t) && t.ContainerID !== before.ContainerID,
      );
      killed.push(performance.now() - t0);
    }

    // (b) kill -9 the worker with the most tasks.
    const byNode = new Map<string, Task[]>();
    for (const t of await listTasks(manager.url)) {
      byNode.set(t.Node, [...(byNode.get(t.Node) ?? []), t]);
    }
    const [victim, lost] = [...byNode].sort((a, b) => b[1].length - a[1].length)[0];
    await workers[names.indexOf(victim)].kill();
    const t1 = performance.now();
    await waitForTasks(
      manager.url,
      lost.map((t) => t.ID),
      (t) => isRunning(t) && t.Node !== victim,
      { timeoutMs: 60_000 },
    );
    const moved = performance.now() - t1;

    // (c) kill -9 the manager; nothing that runs may be restarted.
    const running = (await listTasks(manager.url)).filter(isRunning);
    const started = new Map<string, string>();
    for (const t of running) {
      started.set(
        t.ContainerID,
        (await docker.getContainer(t.ContainerID).inspect()).State.StartedAt,
      );
    }
    await manager.process.kill();
    const t2 = performance.now();
    manager.spawn();
    await waitForTasks(manager.url, running.map((t) => t.ID), () => true, { intervalMs: 5 });
    const managerBack = performance.now() - t2;
    await new Promise((r) => setTimeout(r, 2_000)); // let it reconcile, then look
    const after = (await listTasks(manager.url)).filter((t) => started.has(t.ContainerID));
    let untouched = 0;
    for (const t of after) {
      const info = await docker.getContainer(t.ContainerID).inspect();
      if (info.State.Running && info.State.StartedAt === started.get(t.ContainerID)) untouched++;
    }

    const sim = await managerRestartAtScale(quick ? 100 : 1_000);
    const a = summarize(killed);
    return {
      title: "Healing (processes, default settings: heartbeat 1 s, node timeout 5 s)",
      header: ["event", "time to heal", "target", "detail"],
      rows: [
        [
          "container killed from outside",
          `p50 ${ms(a.p50)}, max ${ms(a.max)}`,
          `< 2 s: ${verdict(a.max, 2_000)}`,
          `${killed.length} kills`,
        ],
        [
          "worker killed -9",
          ms(moved),
          `< 15 s: ${verdict(moved, 15_000)}`,
          `${lost.length} tasks moved off ${victim}`,
        ],
        [
          `manager killed -9 (${running.length} tasks)`,
          ms(managerBack),
          "",
          `${untouched}/${running.length} containers untouched`,
        ],
        [
          `manager killed -9 (${sim.tasks} tasks, simulated nodes)`,
          ms(sim.backMs),
          `< 2 s: ${sim.tasks >= 1_000 ? verdict(sim.backMs, 2_000) : "(quick size)"}`,
          `${sim.startedTwice} tasks started twice`,
        ],
      ],
      notes: [
        "time to heal: from the kill to the manager's GET /tasks showing the end state",
        "manager back: from kill -9 to GET /tasks listing every task (includes Deno's start-up)",
      ],
    };
  } finally {
    for (const worker of workers) await worker.kill();
    for (const name of names) await removeContainersOf(name);
  }
}

/** (c) at size: a manager with `count` Running tasks on simulated nodes, killed -9. */
async function managerRestartAtScale(count: number) {
  await using dir = await tempDir();
  await using manager = await startManagerProcess(dir.path);
  await using fleet = await startFleet({
    count: 10,
    managerUrl: manager.url,
    joinToken: manager.joinToken,
    prefix: "heal",
  });
  const tasks = Array.from({ length: count }, (_, i) => ({
    ID: crypto.randomUUID(),
    Name: `stored-${i}`,
    Image: SLEEP_IMAGE,
  }));
  await submitAll(manager.url, tasks, 16);
  await waitForTasks(manager.url, tasks.map((t) => t.ID), isRunning);
  await manager.process.kill();
  const t0 = performance.now();
  manager.spawn();
  await waitForTasks(manager.url, tasks.map((t) => t.ID), isRunning, { intervalMs: 5 });
  const backMs = performance.now() - t0;
  await new Promise((r) => setTimeout(r, 2_000)); // heartbeats and a sync come in meanwhile
  const startedTwice = fleet.nodes.reduce(
    (sum, node) => sum + [...node.starts.values()].filter((n) => n > 1).length,
    0,
  );
  return { tasks: count, backMs, startedTwice };
}
