/**
 * A manager process killed with -9 and started again resumes from Deno KV: every task is
 * there, running containers are left alone, and acknowledged work is not lost.
 */
import assert from "node:assert/strict";
import { startWorker } from "../../roles/start.ts";
import { State, type Task } from "../../task/mod.ts";
import { testWorkerSettings } from "../../testing/cluster.ts";
import {
  containersOf,
  docker,
  HTTP_IMAGE,
  removeContainersOf,
  SLEEP_IMAGE,
  uniqueName,
} from "../../testing/docker.ts";
import { spawnCube, trustManagerDir, waitForHealth } from "../../testing/process.ts";
import { freePort, request, tempDir, waitFor } from "../../testing/wait.ts";

Deno.test("a manager killed with -9 resumes with nothing lost, nothing doubled, nothing restarted", async () => {
  await using dir = await tempDir();
  const port = freePort();
  const url = `https://127.0.0.1:${port}`;
  const args = [
    "manager",
    "-H",
    "127.0.0.1",
    "-p",
    String(port),
    "--dir",
    dir.path,
    "--heartbeat-interval",
    "0.2",
    "--node-timeout",
    "3",
  ];
  const names = [uniqueName("mr-a"), uniqueName("mr-b")];
  const workers = [];
  try {
    let first = spawnCube(args);
    using _trusted = await trustManagerDir(url, dir.path, first);
    await waitForHealth(url, first);
    const joinToken = (await request(`${url}/tokens/join`)).body.Token;
    for (const name of names) {
      workers.push(
        await startWorker(testWorkerSettings(name, dir.path, { manager: url, joinToken })),
      );
    }
    await waitFor("both workers to join", async () => {
      const nodes = (await request(`${url}/nodes`)).body;
      return nodes.filter((n: { Status: string }) => n.Status === "ready").length === 2;
    });
    const ids: string[] = [];
    for (let i = 0; i < 4; i++) {
      const { status, body } = await request(`${url}/tasks`, {
        body: { Name: `keep-${i}`, Image: SLEEP_IMAGE },
      });
      assert.equal(status, 201);
      ids.push(body.ID);
    }
    const before = new Map<string, { ContainerID: string; StartTime: string; Node: string }>();
    for (const id of ids) {
      before.set(
        id,
        await waitFor(`task ${id} Running`, async () => {
          const { body } = await request(`${url}/tasks/${id}`);
          return body.State === State.Running ? body : undefined;
        }),
      );
    }
    // Acknowledged just before the crash: it must not be lost.
    const late = await request(`${url}/tasks`, { body: { Name: "late", Image: SLEEP_IMAGE } });
    assert.equal(late.status, 201);
    await first.kill();

    first = spawnCube(args);
    await using second = first;
    await waitForHealth(url, second);
    const tasks = (await request(`${url}/tasks`)).body;
    assert.equal(tasks.length, 5);
    for (const id of ids) {
      const task = tasks.find((t: { ID: string }) => t.ID === id);
      assert.equal(task.State, State.Running);
      assert.equal(task.ContainerID, before.get(id)!.ContainerID);
      const info = await docker.getContainer(task.ContainerID).inspect();
      assert.equal(info.State.StartedAt, before.get(id)!.StartTime, "not restarted");
    }
    await waitFor("the late task to run", async () => {
      const { body } = await request(`${url}/tasks/${late.body.ID}`);
      return body.State === State.Running;
    });
    const running = [];
    for (const name of names) {
      running.push(...(await containersOf(name)).filter((c) => c.State === "running"));
    }
    assert.equal(running.length, 5, "one container per task, none doubled");
    const nodes = (await request(`${url}/nodes`)).body;
    assert.equal(nodes.filter((n: { Status: string }) => n.Status === "ready").length, 2);
    await second.stop();
  } finally {
    for (const w of workers) await w.close();
    for (const name of names) await removeContainersOf(name);
  }
});

Deno.test("a manager killed with -9 in the middle of a rolling update finishes it after its restart", async () => {
  await using dir = await tempDir();
  const port = freePort();
  const url = `https://127.0.0.1:${port}`;
  const args = [
    ...["manager", "-H", "127.0.0.1", "-p", String(port), "--dir", dir.path],
    ...["--heartbeat-interval", "0.2", "--node-timeout", "3"],
  ];
  const names = [uniqueName("ru-a"), uniqueName("ru-b")];
  const workers = [];
  let manager = spawnCube(args);
  try {
    using _trusted = await trustManagerDir(url, dir.path, manager);
    await waitForHealth(url, manager);
    const joinToken = (await request(`${url}/tokens/join`)).body.Token;
    for (const name of names) {
      workers.push(
        await startWorker(testWorkerSettings(name, dir.path, { manager: url, joinToken })),
      );
    }
    const task = {
      Image: HTTP_IMAGE,
      ExposedPorts: { "80/tcp": {} },
      HealthCheck: "/health",
      Health: { Interval: 0.5, Timeout: 0.5, FailureThreshold: 1 },
    };
    const spec = { Name: "web", Replicas: 3, Task: task, UpdateConfig: { Monitor: 2 } };
    assert.equal((await request(`${url}/services`, { body: spec })).status, 201);
    const replicas = () => request(`${url}/services/web`).then((r) => r.body);
    await waitFor("3 replicas Running", async () => (await replicas()).Running === 3);
    await request(`${url}/services/web`, {
      method: "PUT",
      body: { ...spec, Task: { ...task, Env: ["V=2"] } },
    });
    await waitFor("the first new replica Running", async () => {
      const s = await replicas();
      return s.Tasks.some((t: Task) => t.Version === 2 && t.State === State.Running);
    });
    await manager.kill();

    manager = spawnCube(args);
    await waitForHealth(url, manager);
    const done = await waitFor("the update to complete", async () => {
      const s = await replicas();
      return s.UpdateStatus.State === "completed" ? s : undefined;
    }, { timeoutMs: 60_000 });
    const live = done.Tasks.filter((t: Task) => t.State === State.Running);
    assert.equal(live.length, 3);
    assert.ok(live.every((t: Task) => t.Version === 2 && t.Env[0] === "V=2"));
    assert.deepEqual(live.map((t: Task) => t.Name).sort(), ["web.1", "web.2", "web.3"]);
    const running = [];
    for (const name of names) {
      running.push(...(await containersOf(name)).filter((c) => c.State === "running"));
    }
    assert.equal(running.length, 3, "one container per replica, none doubled");
  } finally {
    await manager.stop();
    for (const w of workers) await w.close();
    for (const name of names) await removeContainersOf(name);
  }
});
