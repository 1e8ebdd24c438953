/**
 * The manager with real workers (in this process, on loopback) and real containers:
 * dispatch, scheduling, stop, history and input validation.
 */
import assert from "node:assert/strict";
import { HEARTBEAT_STATS } from "../../testing/nodes.ts";
import { loadIdentity } from "../../security/mod.ts";
import { State } from "../../task/mod.ts";
import { containersOf, docker, SLEEP_IMAGE } from "../../testing/docker.ts";
import { startCluster } from "../../testing/cluster.ts";
import { request, waitFor } from "../../testing/wait.ts";

const GiB = 1024 ** 3;

function countBy<T>(items: T[], key: (item: T) => string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const item of items) out[key(item)] = (out[key(item)] ?? 0) + 1;
  return out;
}

Deno.test("round-robin places ten tasks in exact node order and all reach Running", async () => {
  await using cluster = await startCluster({ workers: 3, manager: { scheduler: "roundrobin" } });
  const names = [...cluster.workers.keys()].sort();
  const tasks = [];
  for (let i = 0; i < 10; i++) {
    tasks.push(await cluster.submit({ Name: `rr-${i}`, Image: SLEEP_IMAGE }));
  }
  const running = await Promise.all(tasks.map((t) => cluster.waitForState(t.ID, State.Running)));
  assert.deepEqual(running.map((t) => t.Node), Array.from({ length: 10 }, (_, i) => names[i % 3]));
  for (const task of running) {
    assert.match(task.ContainerID, /^[0-9a-f]{64}$/);
    assert.notEqual(task.StartTime, "0001-01-01T00:00:00Z");
  }
  for (const name of names) {
    assert.equal((await containersOf(name)).length, name === names[0] ? 4 : 3);
  }
});

Deno.test("E-PVM spreads ten tasks over equal nodes", async () => {
  await using cluster = await startCluster({ workers: 3 });
  const tasks = await Promise.all(
    Array.from({ length: 10 }, (_, i) => cluster.submit({ Name: `ep-${i}`, Image: SLEEP_IMAGE })),
  );
  const running = await Promise.all(tasks.map((t) => cluster.waitForState(t.ID, State.Running)));
  const perNode = Object.values(countBy(running, (t) => t.Node)).sort();
  assert.deepEqual(perNode, [3, 3, 4]);
});

Deno.test("E-PVM prefers the emptier node", async () => {
  await using cluster = await startCluster({ workers: 1 });
  const busy = [...cluster.workers.keys()][0];
  for (let i = 0; i < 3; i++) {
    const t = await cluster.submit({ Name: `busy-${i}`, Image: SLEEP_IMAGE });
    await cluster.waitForState(t.ID, State.Running);
  }
  const empty = await cluster.addWorker("empty");
  const next = await cluster.submit({ Name: "next", Image: SLEEP_IMAGE });
  const placed = await cluster.waitForState(next.ID, State.Running);
  assert.equal(placed.Node, empty.name);
  assert.notEqual(placed.Node, busy);
});

Deno.test("a task too big for every node stays Pending with the reason, then runs when a bigger node joins", async () => {
  await using cluster = await startCluster();
  await cluster.addWorker("small", { memoryTotal: 1 * GiB });
  const task = await cluster.submit({ Name: "big", Image: SLEEP_IMAGE, Memory: 2 * GiB });
  const pending = await waitFor("the reason to be recorded", async () => {
    const t = await cluster.task(task.ID);
    return t.Error ? t : undefined;
  });
  assert.equal(pending.State, State.Pending);
  assert.match(
    pending.Error,
    /no node can take it: 1 evaluated; .*-small lacks memory \(1\.0 GiB of 2\.0 GiB free\)/,
  );
  assert.equal((await request(`${cluster.url}/health`)).body.Queued, 1, "waiting for a node");
  const big = await cluster.addWorker("big", { memoryTotal: 64 * GiB });
  const running = await cluster.waitForState(task.ID, State.Running);
  assert.equal(running.Node, big.name);
  assert.equal(running.Error, "");
  const nodes = (await request(`${cluster.url}/nodes`)).body;
  const bigNode = nodes.find((n: { Name: string }) => n.Name === big.name);
  assert.equal(bigNode.Memory, 64 * GiB);
  assert.equal(bigNode.MemoryAllocated, 2 * GiB);
  assert.equal(bigNode.TaskCount, 1);
});

Deno.test("DELETE stops a task wherever it runs, is harmless to repeat, and 404s on unknown IDs", async () => {
  await using cluster = await startCluster({ workers: 1 });
  const task = await cluster.submit({ Name: "short", Image: SLEEP_IMAGE });
  const running = await cluster.waitForState(task.ID, State.Running);
  assert.equal(
    (await request(`${cluster.url}/tasks/${task.ID}`, { method: "DELETE" })).status,
    204,
  );
  const done = await cluster.waitForState(task.ID, State.Completed);
  assert.notEqual(done.FinishTime, "0001-01-01T00:00:00Z");
  await assert.rejects(docker.getContainer(running.ContainerID).inspect(), /no such container/i);
  assert.equal(
    (await request(`${cluster.url}/tasks/${task.ID}`, { method: "DELETE" })).status,
    204,
  );
  assert.equal((await cluster.task(task.ID)).State, State.Completed);
  const unknown = await request(`${cluster.url}/tasks/${crypto.randomUUID()}`, {
    method: "DELETE",
  });
  assert.equal(unknown.status, 404);
  assert.match(unknown.body.Message, /not found/);
});

Deno.test("re-posting an existing task ID gets a 409 and never a second copy", async () => {
  await using cluster = await startCluster({ workers: 1 });
  const body = {
    ID: crypto.randomUUID(),
    State: 2,
    Task: { ID: crypto.randomUUID(), Name: "once", Image: SLEEP_IMAGE },
  };
  assert.equal((await request(`${cluster.url}/tasks`, { body })).status, 201);
  await cluster.waitForState(body.Task.ID, State.Running);
  const again = await request(`${cluster.url}/tasks`, { body });
  assert.equal(again.status, 409);
  assert.match(again.body.Message, /already exists \(Running on .*\)/);
  assert.equal((await request(`${cluster.url}/tasks`)).body.length, 1);
  assert.equal((await containersOf([...cluster.workers.keys()][0])).length, 1);
});

Deno.test("each task keeps a history of its state changes with reasons", async () => {
  await using cluster = await startCluster({ workers: 1 });
  const task = await cluster.submit({ Name: "storied", Image: SLEEP_IMAGE });
  await cluster.waitForState(task.ID, State.Running);
  await request(`${cluster.url}/tasks/${task.ID}`, { method: "DELETE" });
  await cluster.waitForState(task.ID, State.Completed);
  const { status, body } = await request(`${cluster.url}/tasks/${task.ID}/events`);
  assert.equal(status, 200);
  assert.deepEqual(body.map((e: { StateName: string }) => e.StateName), [
    "Pending",
    "Scheduled",
    "Running",
    "Completed",
  ]);
  assert.match(body[1].Message, /placed on .* by epvm/);
  assert.match(body[2].Message, /running on .* in [0-9a-f]{12}/);
  assert.ok(body.every((e: { Timestamp: string }) => Date.parse(e.Timestamp) > 0));
});

Deno.test("bad input to every manager route gets a 4xx JSON error and changes nothing", async () => {
  await using cluster = await startCluster({ workers: 1 });
  const node = await cluster.nodeCredential("x");
  const ghost = await cluster.nodeCredential("ghost");
  const cases: Array<[string, string, unknown, number, RegExp, string?]> = [
    ["POST", "/tasks", { Imagee: "x" }, 400, /Imagee: unknown field/],
    ["POST", "/tasks", { Task: { Image: "x", ID: "zzz" } }, 400, /invalid UUID/],
    ["POST", "/tasks", { State: 7, Task: { Image: "x" } }, 400, /unknown state 7/],
    ["POST", "/tasks", { Image: 5 }, 400, /Image/],
    ["POST", "/tasks", { Image: "x", Memory: -1 }, 400, /Memory/],
    ["POST", "/tasks", { State: 3, Task: { Image: "x" } }, 400, /nothing to stop/],
    ["GET", "/tasks/not-a-uuid", undefined, 400, /not a UUID/],
    ["GET", `/tasks/${crypto.randomUUID()}`, undefined, 404, /not found/],
    ["GET", `/tasks/${crypto.randomUUID()}/events`, undefined, 404, /not found/],
    ["DELETE", "/tasks/123", undefined, 400, /not a UUID/],
    ["POST", "/nodes", { Name: "x" }, 400, /Invalid heartbeat: Api/, node],
    [
      "POST",
      "/nodes",
      { Name: "bad name!", Api: "https://127.0.0.1:1", Stats: {} },
      400,
      /Name/,
      node,
    ],
    [
      "POST",
      "/nodes",
      { Name: "x", Api: "http://127.0.0.1:1", Stats: HEARTBEAT_STATS },
      400,
      /https/,
      node,
    ],
    [
      "POST",
      "/nodes",
      { Name: "y", Api: "https://127.0.0.1:1", Stats: HEARTBEAT_STATS },
      403,
      /as itself/,
      node,
    ],
    ["POST", "/nodes/ghost/tasks", [], 404, /has not joined/, ghost],
    ["GET", "/nope", undefined, 404, /No route/],
    ["POST", "/tokens", { Role: "root" }, 400, /Invalid Role/],
    ["POST", "/tokens", { Role: "reader", Ttl: -1 }, 400, /Invalid Ttl/],
    ["POST", "/tokens", { Role: "reader", Extra: 1 }, 400, /unknown field Extra/],
    ["DELETE", "/tokens/zz", undefined, 400, /Invalid token ID/],
    ["DELETE", "/tokens/000000000000", undefined, 404, /not found/],
    ["POST", "/join", { Name: "y" }, 401, /join token is not valid/, "CUBEJOIN-1-x"],
  ];
  for (const [method, path, body, status, message, token] of cases) {
    const response = await request(`${cluster.url}${path}`, { method, body, token });
    assert.equal(response.status, status, `${method} ${path}: ${JSON.stringify(response.body)}`);
    assert.equal(response.body.HTTPStatusCode, status);
    assert.match(response.body.Message, message, `${method} ${path}: ${response.body.Message}`);
  }
  const worker = [...cluster.workers.keys()][0];
  const identity = await loadIdentity(`${cluster.dir}/worker-${worker}.identity.json`);
  const badReport = await request(`${cluster.url}/nodes/${worker}/tasks`, {
    body: [{ ID: "x" }],
    token: identity!.Credential,
  });
  assert.equal(badReport.status, 400);
  const raw = await request(`${cluster.url}/tasks`, { rawBody: "{oops" });
  assert.equal(raw.status, 400);
  assert.deepEqual((await request(`${cluster.url}/tasks`)).body, []);
  assert.equal((await request(`${cluster.url}/nodes`)).body.length, 1);
  assert.equal((await request(`${cluster.url}/tokens`)).body.length, 4, "admin and three nodes");
});
