/**
 * A worker process killed with -9 and started again adopts its containers: no task
 * lost, none started twice, no container of another worker touched.
 */
import assert from "node:assert/strict";
import { State } from "../../task/mod.ts";
import {
  containersOf,
  docker,
  removeContainersOf,
  SLEEP_IMAGE,
  uniqueName,
} from "../../testing/docker.ts";
import { spawnCube, waitForHealth } from "../../testing/process.ts";
import { freePort, request, tempDir, waitFor } from "../../testing/wait.ts";
import { startTestWorker } from "../../testing/worker.ts";

function workerArgs(name: string, port: number, store: string) {
  return [
    "worker",
    "-H",
    "127.0.0.1",
    "-p",
    String(port),
    "-n",
    name,
    "-d",
    store,
    "--publish-ip",
    "127.0.0.1",
    "--stop-grace",
    "1",
  ];
}

async function postTask(url: string, name: string) {
  const id = crypto.randomUUID();
  const response = await request(`${url}/tasks`, {
    body: {
      ID: crypto.randomUUID(),
      State: 2,
      Task: { ID: id, State: 1, Name: name, Image: SLEEP_IMAGE },
    },
  });
  assert.equal(response.status, 201);
  return id;
}

function running(url: string, id: string) {
  return waitFor(`task ${id} Running`, async () => {
    const { body } = await request(`${url}/tasks/${id}`);
    return body.State === State.Running ? body : undefined;
  });
}

Deno.test("a worker killed with -9 adopts its running containers when it starts again", async () => {
  await using dir = await tempDir();
  await using neighbour = await startTestWorker();
  const name = uniqueName("restart");
  const port = freePort();
  const url = `http://127.0.0.1:${port}`;
  const args = workerArgs(name, port, `${dir.path}/worker.kv`);
  try {
    // Another worker shares the engine; its container must survive our recovery.
    const theirs = await postTask(neighbour.url, "neighbour");
    const theirTask = await running(neighbour.url, theirs);

    let ids: string[];
    const before = new Map<string, { ContainerID: string; StartTime: string }>();
    {
      await using first = spawnCube(args);
      await waitForHealth(url, first);
      ids = [await postTask(url, "a"), await postTask(url, "b"), await postTask(url, "doomed")];
      for (const id of ids) before.set(id, await running(url, id));
      await first.kill();
    }
    // While the worker is down, one of its containers dies.
    await docker.getContainer(before.get(ids[2])!.ContainerID).kill();

    await using second = spawnCube(args);
    await waitForHealth(url, second);
    for (const id of ids.slice(0, 2)) {
      const { body } = await request(`${url}/tasks/${id}`);
      assert.equal(body.State, State.Running, `task ${id} is still Running`);
      assert.equal(body.ContainerID, before.get(id)!.ContainerID, "the same container, adopted");
      const info = await docker.getContainer(body.ContainerID).inspect();
      assert.equal(
        info.State.StartedAt,
        before.get(id)!.StartTime,
        "the container was not restarted",
      );
    }
    const doomed = await waitFor(
      "the task whose container died while the worker was down to fail",
      async () => {
        const { body } = await request(`${url}/tasks/${ids[2]}`);
        return body.State === State.Failed ? body : undefined;
      },
    );
    assert.equal(doomed.ExitCode, 137);
    const mine = await containersOf(name);
    assert.equal(mine.filter((c) => c.State === "running").length, 2, "no container started twice");

    const neighbourInfo = await docker.getContainer(theirTask.ContainerID).inspect();
    assert.equal(neighbourInfo.State.Running, true, "another worker's container is untouched");
    assert.equal((await request(`${url}/tasks`)).body.length, 3);
    await second.stop();
  } finally {
    await removeContainersOf(name);
  }
});

Deno.test("a worker restarted after a clean stop keeps serving its tasks", async () => {
  await using dir = await tempDir();
  const name = uniqueName("clean");
  const port = freePort();
  const url = `http://127.0.0.1:${port}`;
  const args = workerArgs(name, port, `${dir.path}/worker.kv`);
  try {
    let id: string;
    {
      await using first = spawnCube(args);
      await waitForHealth(url, first);
      id = await postTask(url, "keeper");
      await running(url, id);
      const status = await first.stop();
      assert.equal(status.code, 0, first.output());
    }
    await using second = spawnCube(args);
    await waitForHealth(url, second);
    const { body } = await request(`${url}/tasks/${id}`);
    assert.equal(body.State, State.Running);
    assert.equal((await containersOf(name)).length, 1);
  } finally {
    await removeContainersOf(name);
  }
});

Deno.test("a replayed start keeps the task's own running container and removes only true leftovers", async () => {
  // Finding 5: a worker that crashed between saving Running and removing the intent
  // replayed the start, removed every container of the task (its live one too), and the
  // task failed as "disappeared", using up a restart.
  await using dir = await tempDir();
  const name = uniqueName("replay");
  const store = `${dir.path}/worker.kv`;
  const port = freePort();
  const url = `http://127.0.0.1:${port}`;
  const args = workerArgs(name, port, store);
  try {
    let task: { ID: string; ContainerID: string; Revision: number };
    {
      await using first = spawnCube(args);
      await waitForHealth(url, first);
      const id = await postTask(url, "kept");
      task = await running(url, id);
      await first.kill();
    }
    // The crash came after Running was saved and before the intent was removed: put the
    // intent back, and leave a true leftover of the same task beside the live container.
    {
      using kv = await Deno.openKv(store);
      const record = (await kv.get(["tasks", task.ID])).value as Record<string, unknown>;
      await kv.set(["intents", task.ID], {
        ID: crypto.randomUUID(),
        State: State.Running,
        Timestamp: new Date().toISOString(),
        Task: { ...record, State: State.Scheduled },
      });
    }
    const leftover = await docker.createContainer({
      Image: SLEEP_IMAGE,
      name: `cube-leftover-${task.ID.slice(0, 8)}-${name}`,
      Labels: { "cube.task.id": task.ID, "cube.task.name": "kept", "cube.worker": name },
    });
    await using second = spawnCube(args);
    await waitForHealth(url, second);
    await waitFor("the replayed intent to be carried out and the leftover removed", async () => {
      const ids = (await containersOf(name)).map((c) => c.Id);
      return !ids.includes(leftover.id) && ids.length === 1;
    });
    const after = (await request(`${url}/tasks/${task.ID}`)).body;
    assert.equal(after.State, State.Running);
    assert.equal(after.ContainerID, task.ContainerID, "the same container, never restarted");
    assert.equal(after.Error, "");
    const info = await docker.getContainer(task.ContainerID).inspect();
    assert.equal(info.State.Running, true);
    assert.equal(info.RestartCount, 0);
  } finally {
    await removeContainersOf(name);
  }
});
