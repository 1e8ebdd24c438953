/**
 * Where tasks may go: constraints on node names and labels (the worker's own and an
 * operator's), paused and draining nodes, and placement failures that say why, on real
 * workers.
 */
import assert from "node:assert/strict";
import { place, RoundRobin } from "../../scheduler/mod.ts";
import { State } from "../../task/mod.ts";
import { newTask } from "../../task/task.ts";
import { startCluster } from "../../testing/cluster.ts";
import { SLEEP_IMAGE } from "../../testing/docker.ts";
import { fakeNode } from "../../testing/nodes.ts";
import { request, waitFor } from "../../testing/wait.ts";

Deno.test("constraints on labels and names place tasks, and an unsatisfiable one says which and how many", async () => {
  await using cluster = await startCluster();
  const a =
    (await cluster.addWorker("a", { label: { zone: "a" } }), [...cluster.workers.keys()][0]);
  const b =
    (await cluster.addWorker("b", { label: { zone: "b" } }), [...cluster.workers.keys()][1]);
  const inB = await cluster.submit({
    Name: "in-b",
    Image: SLEEP_IMAGE,
    Constraints: ["node.labels.zone==b"],
  });
  assert.equal((await cluster.waitForState(inB.ID, State.Running)).Node, b);
  const notA = await cluster.submit({
    Name: "not-a",
    Image: SLEEP_IMAGE,
    Constraints: [`node.name!=${a}`],
  });
  assert.equal((await cluster.waitForState(notA.ID, State.Running)).Node, b);

  const inC = await cluster.submit({
    Name: "in-c",
    Image: SLEEP_IMAGE,
    Constraints: ["node.labels.zone==c"],
  });
  const waiting = await waitFor("the reason", async () => {
    const task = await cluster.task(inC.ID);
    return task.Error ? task : undefined;
  });
  assert.equal(waiting.State, State.Pending);
  assert.match(
    waiting.Error,
    /no node can take it: 2 evaluated; filtered by constraint node\.labels\.zone==c: 2/,
  );

  // An operator's label makes a node fit; the worker's own labels stay.
  const labelled = await request(`${cluster.url}/nodes/${a}`, {
    method: "PATCH",
    body: { Labels: { zone: "c", rack: "r1" } },
  });
  assert.equal(labelled.status, 200);
  assert.deepEqual(labelled.body.Labels, { zone: "c", rack: "r1" });
  assert.deepEqual(labelled.body.WorkerLabels, { zone: "a" });
  assert.equal((await cluster.waitForState(inC.ID, State.Running)).Node, a);

  const bad = await request(`${cluster.url}/tasks`, {
    body: { Image: SLEEP_IMAGE, Constraints: ["zone=a"] },
  });
  assert.equal(bad.status, 400);
  assert.match(bad.body.Message, /invalid constraint "zone=a" \(expected node\.name==NAME/);
});

Deno.test("a paused node takes no new tasks; a drained one has its tasks stopped with the reason", async () => {
  await using cluster = await startCluster({ workers: 2 });
  const [first, second] = [...cluster.workers.keys()];
  const pinned = await cluster.submit({
    Name: "pinned",
    Image: SLEEP_IMAGE,
    Constraints: [`node.name==${first}`],
  });
  await cluster.waitForState(pinned.ID, State.Running);

  const paused = await request(`${cluster.url}/nodes/${first}`, {
    method: "PATCH",
    body: { Availability: "pause" },
  });
  assert.equal(paused.body.Availability, "pause");
  for (let i = 0; i < 3; i++) {
    const task = await cluster.submit({ Name: `after-pause-${i}`, Image: SLEEP_IMAGE });
    assert.equal((await cluster.waitForState(task.ID, State.Running)).Node, second);
  }
  assert.equal((await cluster.task(pinned.ID)).State, State.Running, "pause stops nothing");
  const stuck = await cluster.submit({
    Name: "stuck",
    Image: SLEEP_IMAGE,
    Constraints: [`node.name==${first}`],
  });
  await waitFor("the reason", async () => {
    const task = await cluster.task(stuck.ID);
    return /no node can take it: 2 evaluated; paused: 1; filtered by constraint/.test(task.Error);
  });

  await request(`${cluster.url}/nodes/${first}`, {
    method: "PATCH",
    body: { Availability: "drain" },
  });
  const stopped = await cluster.waitForState(pinned.ID, State.Completed);
  assert.equal(stopped.Node, first);
  const history = (await request(`${cluster.url}/tasks/${pinned.ID}/events`)).body;
  assert.ok(
    history.some((e: { Message: string }) => e.Message === `stopped: node ${first} is draining`),
    JSON.stringify(history),
  );

  const active = await request(`${cluster.url}/nodes/${first}`, {
    method: "PATCH",
    body: { Availability: "active" },
  });
  assert.equal(active.body.Availability, "active");
  assert.equal((await cluster.waitForState(stuck.ID, State.Running)).Node, first);

  for (
    const [body, status, message] of [
      [{ Availability: "gone" }, 400, /Availability: must be active, pause or drain/],
      [{ Labels: { "bad key!": "x" } }, 400, /label keys may hold only/],
      [{ Nodes: 1 }, 400, /unknown field/],
    ] as const
  ) {
    const response = await request(`${cluster.url}/nodes/${first}`, { method: "PATCH", body });
    assert.equal(response.status, status);
    assert.match(response.body.Message, message);
  }
  const unknown = await request(`${cluster.url}/nodes/nobody`, {
    method: "PATCH",
    body: { Availability: "pause" },
  });
  assert.equal(unknown.status, 404);
});

Deno.test("a placement failure counts the nodes set aside by each reason", () => {
  const nodes = [
    fakeNode("w1", { Availability: "pause" }),
    fakeNode("w2", { Labels: { zone: "a" } }),
    fakeNode("w3", { Labels: { zone: "b" }, MemoryAllocated: 4 * 1024 ** 3 }),
    fakeNode("w4", { Labels: { zone: "b" }, Status: "down", Error: "no heartbeat" }),
  ];
  const task = newTask({
    Image: "x",
    Memory: 1024 ** 3,
    Constraints: ["node.labels.zone==b"],
  });
  const placement = place(new RoundRobin(), task, nodes);
  assert.equal(placement.node, null);
  assert.equal(
    (placement as { reason: string }).reason,
    "no node can take it: 4 evaluated; paused: 1; filtered by constraint node.labels.zone==b: 1; " +
      "short of memory: 1; is down: 1 (w3 lacks memory (0 MiB of 1.0 GiB free); w4 is down (no heartbeat))",
  );
  const fits = place(
    new RoundRobin(),
    newTask({ Image: "x", Constraints: ["node.labels.zone==a"] }),
    nodes,
  );
  assert.equal(fits.node?.Name, "w2");
});
