/**
 * Simulated nodes speak the worker's protocol well enough for a real manager: they join,
 * take tasks, report them Running, stop them, and when one dies its tasks move.
 */
import assert from "node:assert/strict";
import { startManager } from "../../roles/start.ts";
import { startFleet } from "../../sim/mod.ts";
import { newTask, State } from "../../task/mod.ts";
import { FAST, testManagerSettings } from "../../testing/cluster.ts";
import { request, tempDir, trust, waitFor } from "../../testing/wait.ts";

async function managerWithFleet(count: number, scheduler = "roundrobin") {
  const dir = await tempDir();
  const manager = await startManager(testManagerSettings(dir.path, { scheduler }));
  const trusted = trust(manager.url, { caPem: manager.caPem, token: manager.adminToken });
  const fleet = await startFleet({
    count,
    managerUrl: manager.url,
    joinToken: manager.joinToken(),
    heartbeatIntervalMs: FAST.heartbeatInterval * 1000,
  });
  await waitFor(`${count} simulated nodes to join`, async () => {
    const { body } = await request(`${manager.url}/nodes`);
    return body.filter((n: { Status: string }) => n.Status === "ready").length === count;
  });
  return {
    manager,
    fleet,
    async [Symbol.asyncDispose]() {
      await fleet.close();
      await manager.close();
      trusted[Symbol.dispose]();
      await dir[Symbol.asyncDispose]();
    },
  };
}

/** Creates a service of `replicas` and waits until they are all Running; returns its tasks. */
async function serviceRunning(url: string, name: string, replicas: number) {
  const { status } = await request(`${url}/services`, {
    body: { Name: name, Replicas: replicas, Task: { Image: "any/image" } },
  });
  assert.equal(status, 201);
  return await waitFor(`${replicas} replicas Running`, async () => {
    const { body } = await request(`${url}/tasks`);
    const running = body.filter((t: { State: number }) => t.State === State.Running);
    return running.length === replicas ? running : undefined;
  }, { timeoutMs: 30_000 });
}

Deno.test("simulated nodes join a manager, run its tasks and stop them", async () => {
  await using cluster = await managerWithFleet(3);
  const url = cluster.manager.url;
  const ids: string[] = [];
  for (let i = 0; i < 6; i++) {
    const { status, body } = await request(`${url}/tasks`, {
      body: { Name: `sim-${i}`, Image: "any/image" },
    });
    assert.equal(status, 201);
    ids.push(body.ID);
  }
  const running = await waitFor("all six to run", async () => {
    const { body } = await request(`${url}/tasks`);
    return body.every((t: { State: number }) => t.State === State.Running) ? body : undefined;
  });
  // Round-robin over sim-1, sim-2, sim-3, twice.
  assert.deepEqual(running.map((t: { Node: string }) => t.Node), [
    "sim-1",
    "sim-2",
    "sim-3",
    "sim-1",
    "sim-2",
    "sim-3",
  ]);
  for (const t of running) assert.match(t.ContainerID, /^[0-9a-f]{64}$/);
  const node = (await request(`${url}/nodes`)).body.find((n: { Name: string }) =>
    n.Name === "sim-1"
  );
  assert.equal(node.Stats.CpuCores, 4);
  assert.equal(node.TaskCount, 2);

  assert.equal((await request(`${url}/tasks/${ids[0]}`, { method: "DELETE" })).status, 204);
  await waitFor("the stopped task to be Completed", async () => {
    return (await request(`${url}/tasks/${ids[0]}`)).body.State === State.Completed;
  });
  // The node's own API (the worker's routes, under its prefix), called as the manager
  // calls it (over TLS, with its credential for that node), agrees.
  const nodes = cluster.manager.manager.nodes;
  const onNode = (await nodes.client("sim-1").tasks()).find((t) => t.ID === ids[0]);
  assert.equal(onNode?.State, State.Completed);
  await assert.rejects(
    nodes.client("sim-9", `${cluster.fleet.url}/n/sim-9`).tasks(),
    /No simulated node at \/n\/sim-9\/tasks/,
  );
  // Without the manager's credential, a node lets nobody in.
  const { status } = await request(`${cluster.fleet.url}/n/sim-1/tasks`).catch(() => ({
    status: "refused by TLS: the cluster CA does not vouch for nodes",
  }));
  assert.equal(status, "refused by TLS: the cluster CA does not vouch for nodes");
});

Deno.test("a simulated node that dies is marked down and its tasks run elsewhere, once each", async () => {
  await using cluster = await managerWithFleet(2);
  const url = cluster.manager.url;
  const submitted = [];
  for (let i = 0; i < 4; i++) {
    submitted.push((await request(`${url}/tasks`, { body: { Image: "any/image" } })).body.ID);
  }
  await waitFor("all to run", async () => {
    const { body } = await request(`${url}/tasks`);
    return body.every((t: { State: number }) => t.State === State.Running);
  });
  await cluster.fleet.kill("sim-1");
  const moved = await waitFor("the tasks of sim-1 to run on sim-2", async () => {
    const { body } = await request(`${url}/tasks`);
    return body.every((t: { State: number; Node: string }) =>
        t.State === State.Running && t.Node === "sim-2"
      )
      ? body
      : undefined;
  });
  assert.equal(moved.length, 4);
  const nodes = (await request(`${url}/nodes`)).body;
  assert.equal(nodes.find((n: { Name: string }) => n.Name === "sim-1").Status, "down");
  const survivor = cluster.fleet.nodes.find((n) => n.name === "sim-2")!;
  assert.deepEqual([...survivor.starts.values()], [1, 1, 1, 1]);
});

Deno.test("a service's replicas spread exactly over 100 nodes while E-PVM scores only a sample of them", async () => {
  await using cluster = await managerWithFleet(100, "epvm");
  const url = cluster.manager.url;
  // 300 replicas: a full dispatch round (256, held) and the rest (sent with it).
  const tasks = await serviceRunning(url, "wide", 300);
  const perNode = new Map<string, number>();
  for (const t of tasks) perNode.set(t.Node, (perNode.get(t.Node) ?? 0) + 1);
  assert.equal(perNode.size, 100);
  assert.deepEqual(new Set(perNode.values()), new Set([3]), "three on every node, none on four");
});

Deno.test("a service's replica is stored once it is placed: one write holds its submission and placement, and its story and the event stream tell both", async () => {
  await using cluster = await managerWithFleet(10, "epvm");
  const url = cluster.manager.url;
  const changes = async () => {
    const { body } = await request(`${url}/metrics`);
    const line = (body as string).split("\n").find((l) =>
      l.startsWith("cube_store_commit_changes_sum")
    );
    return Number(line?.split(" ").at(-1) ?? NaN);
  };
  const before = await changes();
  const tasks = await serviceRunning(url, "once", 40);
  // Placed (with its submission) and Running: two writes each, not three.
  assert.equal(await changes() - before, 80);
  const id = tasks[0].ID;
  const story = (await request(`${url}/tasks/${id}/events`)).body;
  assert.deepEqual(
    story.map((e: { State: number; Message: string }) => [e.State, e.Message.split(" ")[0]]),
    [[State.Pending, "submitted"], [State.Scheduled, "placed"], [State.Running, "running"]],
  );
  const { events } = await cluster.manager.manager.events.after(0, { task: id });
  assert.deepEqual(events.map((e) => e.State), [State.Pending, State.Scheduled, State.Running]);
});

Deno.test("a replica whose service is gone (removed as it was being stored) is stopped by the reconciler", async () => {
  await using cluster = await managerWithFleet(3, "epvm");
  const { manager } = cluster.manager;
  // What `DELETE /services/ghost` cannot see: a replica stored just after it listed them.
  const orphan = await manager.submit({
    ID: crypto.randomUUID(),
    State: State.Running,
    Timestamp: new Date().toISOString(),
    Task: newTask({ Name: "ghost.1", Image: "any/image", Service: "ghost", Version: 1 }),
  });
  const stopped = await waitFor("the orphan to be stopped", async () => {
    const { body } = await request(`${cluster.manager.url}/tasks/${orphan.ID}`);
    return body.State === State.Completed ? body : undefined;
  }, { timeoutMs: 15_000 });
  const story = (await request(`${cluster.manager.url}/tasks/${orphan.ID}/events`)).body;
  assert.ok(
    story.some((e: { Message: string }) => e.Message === "stopped: service ghost removed"),
    JSON.stringify(story),
  );
  assert.equal(stopped.Service, "ghost");
});
