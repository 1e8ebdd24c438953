/**
 * A manager process killed with -9 and started again resumes from Deno KV: every task is
 * there, running containers are left alone, and acknowledged work is not lost.
 */
import assert from "node:assert/strict";
import { startWorker } from "../../roles/start.ts";
import { State } from "../../task/mod.ts";
import {
  containersOf,
  docker,
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
        await startWorker({
          host: "127.0.0.1",
          port: 0,
          name,
          dir: dir.path,
          joinToken,
          publishIp: "127.0.0.1",
          pull: "missing",
          stopGrace: 1,
          concurrency: 8,
          manager: url,
          heartbeatInterval: 0.2,
          quiet: true,
        }),
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
