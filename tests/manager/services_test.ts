/**
 * Services on real workers: N replicas Running and spread, scaled up and down, replaced
 * when they give up, placed by constraints and spread over a label, removed.
 */
import assert from "node:assert/strict";
import { State, type Task } from "../../task/mod.ts";
import { startCluster, type TestCluster } from "../../testing/cluster.ts";
import { containersOf, SLEEP_IMAGE } from "../../testing/docker.ts";
import { request, waitFor } from "../../testing/wait.ts";

async function service(cluster: TestCluster, name: string) {
  const { status, body } = await request(`${cluster.url}/services/${name}`);
  assert.equal(status, 200, JSON.stringify(body));
  return body as { Desired: number; Live: number; Running: number; Tasks: Task[] };
}

/** Waits until the service has exactly `n` live replicas, all Running; returns them. */
function running(cluster: TestCluster, name: string, n: number): Promise<Task[]> {
  return waitFor(`${n} replicas of ${name} Running`, async () => {
    const s = await service(cluster, name);
    const live = s.Tasks.filter((t) => t.State === State.Running);
    return s.Live === n && s.Running === n && live.length === n ? live : undefined;
  }, { timeoutMs: 30_000 });
}

function perNode(tasks: Task[]): number[] {
  const counts = new Map<string, number>();
  for (const t of tasks) counts.set(t.Node, (counts.get(t.Node) ?? 0) + 1);
  return [...counts.values()].sort();
}

Deno.test("a service keeps N replicas Running, spread over the nodes, and scales up and down", async () => {
  await using cluster = await startCluster({ workers: 2 });
  const created = await request(`${cluster.url}/services`, {
    body: { Name: "web", Replicas: 4, Task: { Image: SLEEP_IMAGE } },
  });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  assert.equal(created.body.Version, 1);
  assert.equal(created.body.Spec.UpdateConfig.Parallelism, 1);
  const four = await running(cluster, "web", 4);
  assert.deepEqual(perNode(four), [2, 2], "two on each node");
  assert.deepEqual(four.map((t) => t.Name).sort(), ["web.1", "web.2", "web.3", "web.4"]);
  assert.ok(four.every((t) => t.Service === "web" && t.Version === 1));
  // Service tasks are ordinary tasks.
  const listed = (await request(`${cluster.url}/tasks`)).body as Task[];
  assert.equal(listed.filter((t) => t.Service === "web").length, 4);

  const up = await request(`${cluster.url}/services/web/scale`, { body: { Replicas: 6 } });
  assert.equal(up.status, 200);
  assert.deepEqual(perNode(await running(cluster, "web", 6)), [3, 3]);

  await request(`${cluster.url}/services/web/scale`, { body: { Replicas: 2 } });
  const two = await running(cluster, "web", 2);
  assert.deepEqual(two.map((t) => t.Name).sort(), ["web.1", "web.2"], "the highest slots go");
  const gone = (await service(cluster, "web")).Tasks.find((t) => t.Name === "web.6")!;
  await cluster.waitForState(gone.ID, State.Completed);
  const history = (await request(`${cluster.url}/tasks/${gone.ID}/events`)).body;
  assert.ok(
    history.some((e: { Message: string }) => e.Message === "stopped: service web scaled to 2"),
  );

  const list = (await request(`${cluster.url}/services`)).body;
  assert.deepEqual(
    list.map((
      s: { Name: string; Desired: number; Running: number },
    ) => [s.Name, s.Desired, s.Running]),
    [["web", 2, 2]],
  );

  assert.equal((await request(`${cluster.url}/services/web`, { method: "DELETE" })).status, 204);
  for (const t of two) await cluster.waitForState(t.ID, State.Completed);
  assert.equal((await request(`${cluster.url}/services/web`)).status, 404);
});

Deno.test("a replica that gives up is replaced, with a backoff when replacements keep failing", async () => {
  await using cluster = await startCluster({ workers: 1 });
  await request(`${cluster.url}/services`, {
    body: { Name: "crashy", Replicas: 1, Task: { Image: "cube-test/fail", MaxRestarts: 0 } },
  });
  const tasks = await waitFor("the replica to be replaced twice", async () => {
    const s = await service(cluster, "crashy");
    const failed = s.Tasks.filter((t) => t.State === State.Failed);
    return failed.length >= 2 ? s.Tasks : undefined;
  }, { timeoutMs: 30_000 });
  assert.ok(tasks.every((t) => t.Name === "crashy.1"), "the same slot");
  assert.match(tasks.find((t) => t.State === State.Failed)!.Error, /exited with code 3/);
  // Backing off: a few seconds give a few replacements, not dozens.
  await new Promise((resolve) => setTimeout(resolve, 3_000));
  assert.ok((await service(cluster, "crashy")).Tasks.length <= 6);
});

Deno.test("a service's constraints and spread label place its replicas", async () => {
  await using cluster = await startCluster();
  await cluster.addWorker("a1", { label: { zone: "a" } });
  await cluster.addWorker("b1", { label: { zone: "b" } });
  await cluster.addWorker("b2", { label: { zone: "b" } });
  const [a1, b1, b2] = [...cluster.workers.keys()];
  await request(`${cluster.url}/services`, {
    body: {
      Name: "zoned",
      Replicas: 4,
      Task: { Image: SLEEP_IMAGE },
      Placement: { Spread: "zone" },
    },
  });
  const zoned = await running(cluster, "zoned", 4);
  const inA = zoned.filter((t) => t.Node === a1).length;
  assert.equal(inA, 2, "half the replicas in zone a, though it has one node of three");

  await request(`${cluster.url}/services`, {
    body: {
      Name: "only-b",
      Replicas: 3,
      Task: { Image: SLEEP_IMAGE },
      Placement: { Constraints: ["node.labels.zone==b"] },
    },
  });
  const onlyB = await running(cluster, "only-b", 3);
  assert.ok(onlyB.every((t) => t.Node === b1 || t.Node === b2));
  assert.ok(onlyB.every((t) => t.Constraints[0] === "node.labels.zone==b"));
});

Deno.test("service requests are checked: 409 for a name in use, 400 for a bad spec, 404 for none", async () => {
  await using cluster = await startCluster();
  const ok = { Name: "svc", Replicas: 0, Task: { Image: SLEEP_IMAGE } };
  assert.equal((await request(`${cluster.url}/services`, { body: ok })).status, 201);
  const cases: Array<[string, string, unknown, number, RegExp]> = [
    ["POST", "/services", ok, 409, /Service svc exists already/],
    ["POST", "/services", { ...ok, Name: "Bad_Name" }, 400, /Name: must be lowercase/],
    ["POST", "/services", { ...ok, Name: "x", Replicas: -1 }, 400, /Replicas/],
    [
      "POST",
      "/services",
      { ...ok, Name: "x", Task: { Image: "i", ID: "z" } },
      400,
      /Task\.ID: not part/,
    ],
    ["POST", "/services", { ...ok, Name: "x", Task: { Imagee: "i" } }, 400, /Imagee/],
    ["POST", "/services", { ...ok, Name: "x", UpdateConfig: { Order: "both" } }, 400, /Order/],
    [
      "POST",
      "/services",
      { ...ok, Name: "x", Placement: { Constraints: ["a"] } },
      400,
      /constraint/,
    ],
    ["POST", "/services/svc/scale", { Replicas: "3" }, 400, /Replicas/],
    ["POST", "/services/none/scale", { Replicas: 3 }, 404, /Service none not found/],
    ["GET", "/services/none", undefined, 404, /not found/],
    ["DELETE", "/services/none", undefined, 404, /not found/],
    ["POST", "/tasks", { Image: SLEEP_IMAGE, Service: "svc" }, 400, /made by the service/],
  ];
  for (const [method, path, body, status, message] of cases) {
    const response = await request(`${cluster.url}${path}`, { method, body });
    assert.equal(response.status, status, `${method} ${path}: ${JSON.stringify(response.body)}`);
    assert.match(response.body.Message, message, `${method} ${path}: ${response.body.Message}`);
  }
  assert.equal((await request(`${cluster.url}/services`)).body.length, 1);
});

const WEB = {
  Image: "cube-test/http",
  ExposedPorts: { "80/tcp": {} },
  HealthCheck: "/health",
  Health: { Interval: 0.5, Timeout: 0.5, FailureThreshold: 1 },
};

/** Polls the service until its update settles, noting the fewest replicas Running meanwhile. */
async function rollout(cluster: TestCluster, name: string, state: string) {
  let fewest = Infinity;
  const final = await waitFor(`${name} to be ${state}`, async () => {
    const s = await service(cluster, name) as Awaited<ReturnType<typeof service>> & {
      UpdateStatus: { State: string; Message: string };
      Version: number;
    };
    fewest = Math.min(fewest, s.Tasks.filter((t) => t.State === State.Running).length);
    return s.UpdateStatus.State === state ? s : undefined;
  }, { timeoutMs: 60_000, intervalMs: 100 });
  return { final, fewest };
}

Deno.test("a rolling update replaces replicas in batches, never below N − parallelism; rollback and restart roll too", async () => {
  await using cluster = await startCluster({ workers: 2 });
  const spec = {
    Name: "web",
    Replicas: 4,
    Task: WEB,
    UpdateConfig: { Parallelism: 1, Monitor: 1 },
  };
  await request(`${cluster.url}/services`, { body: spec });
  const first = await running(cluster, "web", 4);

  const put = await request(`${cluster.url}/services/web`, {
    method: "PUT",
    body: { ...spec, Task: { ...WEB, Env: ["VERSION=2"] } },
  });
  assert.equal(put.status, 200, JSON.stringify(put.body));
  assert.equal(put.body.Version, 2);
  const updated = await rollout(cluster, "web", "completed");
  assert.ok(updated.fewest >= 3, `fewest Running during the update: ${updated.fewest}`);
  const second = await running(cluster, "web", 4);
  assert.ok(second.every((t) => t.Version === 2 && t.Env[0] === "VERSION=2"));
  assert.deepEqual(second.map((t) => t.Name).sort(), ["web.1", "web.2", "web.3", "web.4"]);
  assert.ok(second.every((t) => !first.some((f) => f.ID === t.ID)), "every replica replaced");
  assert.equal(updated.final.UpdateStatus.Message, "update to version 2 completed");

  const back = await request(`${cluster.url}/services/web/rollback`, { method: "POST" });
  assert.equal(back.status, 200);
  const rolled = await rollout(cluster, "web", "rolled back");
  assert.ok(rolled.fewest >= 3);
  const third = await running(cluster, "web", 4);
  assert.ok(third.every((t) => t.Version === 3 && t.Env.length === 0), "version 1's template");

  await request(`${cluster.url}/services/web/restart`, { method: "POST" });
  const restarted = await rollout(cluster, "web", "completed");
  assert.ok(restarted.fewest >= 3);
  const fourth = await running(cluster, "web", 4);
  assert.ok(fourth.every((t) => t.Version === 4 && !third.some((o) => o.ID === t.ID)));

  // A change of the replica count alone scales: no new version.
  const scaled = await request(`${cluster.url}/services/web`, {
    method: "PUT",
    body: { ...spec, Replicas: 2 },
  });
  assert.equal(scaled.body.Version, 4);
});

Deno.test("an update to a replica that fails its health check rolls back on its own, with the reason", async () => {
  await using cluster = await startCluster({ workers: 2 });
  const spec = { Name: "web", Replicas: 3, Task: WEB, UpdateConfig: { Monitor: 2 } };
  await request(`${cluster.url}/services`, { body: spec });
  await running(cluster, "web", 3);
  await request(`${cluster.url}/services/web`, {
    method: "PUT",
    body: { ...spec, Task: { ...WEB, HealthCheck: "/healthfail" } },
  });
  const { final, fewest } = await rollout(cluster, "web", "rolled back");
  assert.ok(fewest >= 2, `fewest Running: ${fewest}`);
  assert.match(
    final.UpdateStatus.Message,
    /^rolled back to version 3: update to version 2 failed: web\.\d Failed: health check GET \/healthfail failed/,
  );
  const replicas = await running(cluster, "web", 3);
  assert.ok(replicas.every((t) => t.Version === 3 && t.HealthCheck === "/health"));
  const tried = final.Tasks.find((t) => t.Version === 2)!;
  const history = (await request(`${cluster.url}/tasks/${tried.ID}/events`)).body;
  assert.ok(
    history.some((e: { Message: string }) =>
      /health check GET \/healthfail failed/.test(e.Message)
    ),
    JSON.stringify(history),
  );

  // Paused instead, when told so.
  await request(`${cluster.url}/services/web`, {
    method: "PUT",
    body: {
      ...spec,
      Task: { ...WEB, Image: "cube-test/absent:1" },
      UpdateConfig: { Monitor: 2, FailureAction: "pause" },
    },
  });
  const paused = await rollout(cluster, "web", "paused");
  assert.match(paused.final.UpdateStatus.Message, /^update to version 4 paused: web\.\d Failed: /);
});

Deno.test("a drain moves a service's replicas off the node, never below the replica count", async () => {
  await using cluster = await startCluster({ workers: 2 });
  const [first, second] = [...cluster.workers.keys()];
  await request(`${cluster.url}/services`, {
    body: { Name: "web", Replicas: 4, Task: { Image: SLEEP_IMAGE } },
  });
  const before = await running(cluster, "web", 4);
  assert.equal(before.filter((t) => t.Node === first).length, 2);
  const alone = await cluster.submit({
    Name: "alone",
    Image: SLEEP_IMAGE,
    Constraints: [`node.name==${first}`],
  });
  await cluster.waitForState(alone.ID, State.Running);

  await request(`${cluster.url}/nodes/${first}`, {
    method: "PATCH",
    body: { Availability: "drain" },
  });
  let fewest = Infinity;
  const after = await waitFor("every replica to be off the drained node", async () => {
    const s = await service(cluster, "web");
    const up = s.Tasks.filter((t) => t.State === State.Running);
    fewest = Math.min(fewest, up.length);
    return up.length === 4 && s.Live === 4 && up.every((t) => t.Node === second) ? up : undefined;
  }, { timeoutMs: 30_000, intervalMs: 50 });
  assert.ok(fewest >= 4, `fewest Running during the drain: ${fewest}`);
  assert.deepEqual(after.map((t) => t.Name).sort(), ["web.1", "web.2", "web.3", "web.4"]);
  const moved = before.find((t) => t.Node === first)!;
  const history = (await request(`${cluster.url}/tasks/${moved.ID}/events`)).body;
  assert.ok(
    history.some((e: { Message: string }) =>
      e.Message === `stopped: moved off node ${first}, which is draining`
    ),
  );
  // A task on its own is stopped, and says why.
  await cluster.waitForState(alone.ID, State.Completed);
});

Deno.test("a lost node's replicas are replaced elsewhere, and nothing runs twice when it returns", async () => {
  await using cluster = await startCluster({ workers: 2 });
  const [first, second] = [...cluster.workers.keys()];
  await request(`${cluster.url}/services`, {
    body: { Name: "web", Replicas: 4, Task: { Image: SLEEP_IMAGE } },
  });
  await running(cluster, "web", 4);
  await cluster.crashWorker(first);
  const moved = await waitFor("every replica Running on the node left", async () => {
    const s = await service(cluster, "web");
    const up = s.Tasks.filter((t) => t.State === State.Running);
    return up.length === 4 && up.every((t) => t.Node === second) ? up : undefined;
  }, { timeoutMs: 30_000 });
  assert.deepEqual(moved.map((t) => t.Name).sort(), ["web.1", "web.2", "web.3", "web.4"]);

  // Back, with its old containers still running: they are stopped, none counted twice.
  await cluster.addWorker(first.replace(/^.*-/, ""));
  await waitFor("the returned node's stale copies to stop", async () => {
    const stale = (await containersOf(first)).filter((c) => c.State === "running");
    return stale.length === 0;
  }, { timeoutMs: 30_000 });
  const s = await service(cluster, "web");
  assert.equal(s.Live, 4);
  assert.equal((await containersOf(second)).filter((c) => c.State === "running").length, 4);
});
