/**
 * The manager keeps tasks running through container crashes, failing health checks and
 * lost nodes, and says why when it cannot.
 */
import assert from "node:assert/strict";
import { State } from "../../task/mod.ts";
import { startWorker } from "../../roles/start.ts";
import {
  containersOf,
  docker,
  HTTP_IMAGE,
  removeContainersOf,
  SLEEP_IMAGE,
  uniqueName,
} from "../../testing/docker.ts";
import { startCluster, testWorkerSettings } from "../../testing/cluster.ts";
import { freePort, request, tempDir, waitFor } from "../../testing/wait.ts";

Deno.test("a container killed from outside is restarted", async () => {
  await using cluster = await startCluster({ workers: 1 });
  const task = await cluster.submit({ Name: "phoenix", Image: SLEEP_IMAGE });
  const first = await cluster.waitForState(task.ID, State.Running);
  await docker.getContainer(first.ContainerID).kill();
  const again = await waitFor("the task to run again in a new container", async () => {
    const t = await cluster.task(task.ID);
    return t.State === State.Running && t.ContainerID !== first.ContainerID ? t : undefined;
  });
  assert.equal(again.RestartCount, 1);
  assert.equal(again.Node, first.Node);
  const history = (await request(`${cluster.url}/tasks/${task.ID}/events`)).body;
  assert.ok(
    history.some((e: { Message: string }) =>
      /restart 1\/3 .* exited with code 137/.test(e.Message)
    ),
    JSON.stringify(history),
  );
});

Deno.test("a task failing its health check is restarted until the limit, then stays Failed", async () => {
  await using cluster = await startCluster({ workers: 1 });
  const task = await cluster.submit({
    Name: "sick",
    Image: HTTP_IMAGE,
    HealthCheck: "/healthfail",
    Health: { Interval: 0.2, Timeout: 1, FailureThreshold: 2 },
    MaxRestarts: 2,
  });
  const failed = await waitFor("the task to give up", async () => {
    const t = await cluster.task(task.ID);
    return t.State === State.Failed && t.RestartCount === 2 && /gave up/.test(t.Error)
      ? t
      : undefined;
  }, { timeoutMs: 30_000 });
  assert.match(
    failed.Error,
    /health check GET \/healthfail failed 2 times in a row: HTTP 500; gave up after 2 restarts/,
  );
  await new Promise((r) => setTimeout(r, 500));
  const after = await cluster.task(task.ID);
  assert.equal(after.State, State.Failed, "no restart after the limit");
  assert.equal(after.RestartCount, 2);
  const worker = [...cluster.workers.keys()][0];
  assert.equal((await containersOf(worker)).filter((c) => c.State === "running").length, 0);
});

Deno.test("a healthy health check keeps the task running", async () => {
  await using cluster = await startCluster({ workers: 1 });
  const task = await cluster.submit({
    Name: "fine",
    Image: HTTP_IMAGE,
    HealthCheck: "/health",
    Health: { Interval: 0.2, Timeout: 1, FailureThreshold: 1 },
  });
  const running = await cluster.waitForState(task.ID, State.Running);
  await new Promise((r) => setTimeout(r, 1_000));
  const later = await cluster.task(task.ID);
  assert.equal(later.State, State.Running);
  assert.equal(later.ContainerID, running.ContainerID);
  assert.equal(later.RestartCount, 0);
});

Deno.test("a lost worker's tasks run on other nodes, and no copy survives its return", async () => {
  await using cluster = await startCluster({ workers: 2, manager: { scheduler: "roundrobin" } });
  const [first, second] = [...cluster.workers.keys()].sort();
  const tasks = [];
  for (let i = 0; i < 4; i++) {
    tasks.push(await cluster.submit({ Name: `mover-${i}`, Image: SLEEP_IMAGE }));
  }
  await Promise.all(tasks.map((t) => cluster.waitForState(t.ID, State.Running)));
  const onFirst = (await Promise.all(tasks.map((t) => cluster.task(t.ID)))).filter((t) =>
    t.Node === first
  );
  assert.equal(onFirst.length, 2);

  await cluster.crashWorker(first); // its containers keep running, as after a crash
  const node = await waitFor("the node to be marked down", async () => {
    const nodes = (await request(`${cluster.url}/nodes`)).body;
    const n = nodes.find((x: { Name: string }) => x.Name === first);
    return n.Status === "down" ? n : undefined;
  });
  assert.match(node.Error, /no heartbeat for/);
  for (const task of onFirst) {
    const moved = await waitFor(`task ${task.Name} to run on ${second}`, async () => {
      const t = await cluster.task(task.ID);
      return t.State === State.Running && t.Node === second ? t : undefined;
    });
    assert.notEqual(moved.ContainerID, task.ContainerID);
  }

  // The lost worker returns with its old store: its stale copies are stopped.
  await cluster.addWorker(first.split("-").at(-1));
  await waitFor("the stale copies to be stopped", async () => {
    const running = (await containersOf(first)).filter((c) => c.State === "running");
    return running.length === 0;
  });
  for (const task of tasks) {
    const t = await cluster.task(task.ID);
    assert.equal(t.State, State.Running);
    const copies = [
      ...(await containersOf(first)),
      ...(await containersOf(second)),
    ].filter((c) => c.State === "running" && c.Labels["cube.task.id"] === task.ID);
    assert.equal(copies.length, 1, `exactly one running copy of ${task.Name}`);
  }
});

Deno.test("a static worker that is not listening is a down node, never a crash; other nodes are used", async () => {
  const deadPort = freePort();
  await using cluster = await startCluster({
    workers: 1,
    manager: { workers: [`127.0.0.1:${deadPort}`], scheduler: "roundrobin" },
  });
  const live = [...cluster.workers.keys()][0];
  const tasks = [];
  for (let i = 0; i < 3; i++) {
    tasks.push(await cluster.submit({ Name: `s-${i}`, Image: SLEEP_IMAGE }));
  }
  for (const t of tasks) assert.equal((await cluster.waitForState(t.ID, State.Running)).Node, live);
  const nodes = (await request(`${cluster.url}/nodes`)).body;
  const dead = nodes.find((n: { Name: string }) => n.Name === `127.0.0.1:${deadPort}`);
  assert.equal(dead.Status, "down");
  assert.equal(dead.Static, true);
  const health = await request(`${cluster.url}/health`);
  assert.equal(health.status, 200);
  assert.deepEqual(health.body.States, {
    Pending: 0,
    Scheduled: 0,
    Running: 3,
    Completed: 0,
    Failed: 0,
  });
  assert.equal(health.body.Queued, 0);
  assert.equal(health.body.Nodes, 1);
});

Deno.test("a task whose image exists nowhere is retried elsewhere, then Failed with the reason", async () => {
  await using cluster = await startCluster({ workers: 2 });
  const task = await cluster.submit({
    Name: "nowhere",
    Image: "cube-test/absent:1",
    MaxRestarts: 2,
  });
  const failed = await waitFor("the task to give up", async () => {
    const t = await cluster.task(task.ID);
    return t.State === State.Failed && /gave up/.test(t.Error) ? t : undefined;
  }, { timeoutMs: 30_000 });
  assert.match(failed.Error, /image "cube-test\/absent:1" not found locally and the pull failed/);
  assert.equal(failed.RestartCount, 2);
  const history = (await request(`${cluster.url}/tasks/${task.ID}/events`)).body;
  const nodes = new Set(
    history.filter((e: { StateName: string }) => e.StateName === "Scheduled").map((
      e: { Node: string },
    ) => e.Node),
  );
  assert.equal(nodes.size, 2, "it was tried on both nodes");
});

Deno.test("a static worker with a join token waits to be invited, joins over TLS, is polled, and its death is noticed", async () => {
  const name = uniqueName("static");
  const port = freePort();
  const address = `127.0.0.1:${port}`;
  await using cluster = await startCluster({ manager: { workers: [address] } });
  const worker = await startWorker(
    testWorkerSettings(name, cluster.dir, { port, joinToken: cluster.manager.joinToken() }),
  );
  try {
    await waitFor("the static worker to join and be polled ready", async () => {
      const { body } = await request(`${cluster.url}/nodes`);
      return body[0]?.Status === "ready" && body[0].Static === true;
    });
    assert.equal(worker.mode(), "joined");
    const task = await cluster.submit({ Name: "polled", Image: SLEEP_IMAGE });
    const running = await cluster.waitForState(task.ID, State.Running);
    // A node is known by the name its worker gives, at the address it was listed with.
    assert.equal(running.Node, name);
    const { body: nodes } = await request(`${cluster.url}/nodes`);
    assert.deepEqual(nodes.map((n: { Name: string; Api: string }) => [n.Name, n.Api]), [
      [name, `https://${address}`],
    ]);
    assert.match(running.ContainerID, /^[0-9a-f]{64}$/);
    // Only the manager gets in now: the open API is gone.
    const client = Deno.createHttpClient({ caCerts: [cluster.manager.caPem] });
    await assert.rejects(fetch(`https://${address}/tasks`, { client }), /fetch failed/);
    client.close();
    await worker.close();
    const down = await waitFor("the static worker to be down", async () => {
      const { body } = await request(`${cluster.url}/nodes`);
      return body[0].Status === "down" ? body[0] : undefined;
    });
    assert.match(down.Error, /no heartbeat for/);
    // The node is marked down first, then its tasks move (a commit later).
    const moved = await cluster.waitForState(task.ID, State.Pending);
    assert.match(moved.Error, /waiting for a node|is down/);
  } finally {
    await worker.close();
    await removeContainersOf(name);
  }
});

Deno.test("the book's open worker on loopback is polled when listed with http://", async () => {
  await using dir = await tempDir();
  const name = uniqueName("book");
  const worker = await startWorker(testWorkerSettings(name, dir.path));
  assert.equal(worker.mode(), "open");
  try {
    await using cluster = await startCluster({ manager: { workers: [worker.url] } });
    const task = await cluster.submit({ Name: "book", Image: SLEEP_IMAGE });
    const running = await cluster.waitForState(task.ID, State.Running);
    assert.equal(running.Node, name);
  } finally {
    await worker.close();
    await removeContainersOf(name);
  }
});

Deno.test("a listed worker's changes reach the manager through its event stream, not at the next poll", async () => {
  await using dir = await tempDir();
  const name = uniqueName("streamed");
  const worker = await startWorker(testWorkerSettings(name, dir.path));
  try {
    // Polls every 10 s: what comes sooner came through the stream.
    await using cluster = await startCluster({
      manager: { workers: [worker.url], heartbeatInterval: 10, nodeTimeout: 60 },
    });
    await waitFor("the worker to be ready", async () => {
      const { body } = await request(`${cluster.url}/nodes`);
      return body.some((n: { Status: string }) => n.Status === "ready");
    }, { timeoutMs: 20_000 });
    const started = performance.now();
    const task = await cluster.submit({ Name: "streamed", Image: SLEEP_IMAGE });
    await cluster.waitForState(task.ID, State.Running);
    const took = performance.now() - started;
    assert.ok(took < 3_000, `Running in the manager's view after ${Math.round(took)} ms`);
    await request(`${cluster.url}/tasks/${task.ID}`, { method: "DELETE" });
    await cluster.waitForState(task.ID, State.Completed);
  } finally {
    await worker.close();
    await removeContainersOf(name);
  }
});

Deno.test("a listed worker whose event stream is followed is polled for stats, not for all its tasks", async () => {
  await using dir = await tempDir();
  const name = uniqueName("quiet");
  const worker = await startWorker(testWorkerSettings(name, dir.path));
  try {
    // Polled every 0.2 s; the safety net reads the task list every 10 s.
    await using cluster = await startCluster({ manager: { workers: [worker.url] } });
    await waitFor("the worker to be ready", async () => {
      const { body } = await request(`${cluster.url}/nodes`);
      return body.some((n: { Status: string }) => n.Status === "ready");
    });
    await new Promise((resolve) => setTimeout(resolve, 3_000));
    const metrics = await (await fetch(`${worker.url}/metrics`)).text();
    const calls = (route: string) =>
      [...metrics.matchAll(
        new RegExp(
          `^cube_http_request_duration_seconds_count\\{[^}]*route="${route}"[^}]*method="GET"[^}]*\\} (\\d+)`,
          "gm",
        ),
      )].reduce((sum, m) => sum + Number(m[1]), 0);
    assert.ok(calls("/stats") >= 8, `polled ${calls("/stats")} times`);
    assert.ok(calls("/tasks") <= 3, `its task list read ${calls("/tasks")} times`);
  } finally {
    await worker.close();
    await removeContainersOf(name);
  }
});

Deno.test("a worker both listed with --workers and joined with --manager is one node, and its tasks keep running", async () => {
  // Finding 7: it appeared as two nodes (its address and its name) and the manager
  // stopped every task on it as a "stale copy" of itself, over and over.
  await using dir = await tempDir();
  const name = uniqueName("twice");
  const port = freePort();
  const address = `127.0.0.1:${port}`;
  await using cluster = await startCluster({ manager: { workers: [address] } });
  const worker = await startWorker(
    testWorkerSettings(name, dir.path, {
      port,
      manager: cluster.url,
      joinToken: cluster.manager.joinToken(),
    }),
  );
  try {
    await waitFor("the worker to be ready", async () => {
      const { body } = await request(`${cluster.url}/nodes`);
      return body.some((n: { Status: string }) => n.Status === "ready");
    });
    const tasks = [];
    for (let i = 0; i < 4; i++) {
      tasks.push(await cluster.submit({ Name: `twice-${i}`, Image: SLEEP_IMAGE }));
    }
    const first = [];
    for (const task of tasks) first.push(await cluster.waitForState(task.ID, State.Running));
    // Long enough for many polls (every 0.2 s) and pushes to have come in both ways.
    await new Promise((resolve) => setTimeout(resolve, 3_000));
    const { body: nodes } = await request(`${cluster.url}/nodes`);
    assert.deepEqual(nodes.map((n: { Name: string; Static: boolean }) => [n.Name, n.Static]), [
      [name, true],
    ]);
    for (const [i, task] of tasks.entries()) {
      const now = await cluster.task(task.ID);
      assert.equal(now.State, State.Running);
      assert.equal(now.ContainerID, first[i].ContainerID, "never stopped, never restarted");
    }
    const running = (await containersOf(name)).filter((c) => c.State === "running");
    assert.equal(running.length, 4);
  } finally {
    await worker.close();
    await removeContainersOf(name);
  }
});
