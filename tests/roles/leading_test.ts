/**
 * Several manager processes on one real etcd cluster, with real workers and containers:
 * one leads, the others forward; a leader killed with -9, or paused past its lease, is
 * replaced within seconds, and nothing acknowledged is lost, doubled or restarted.
 */
import assert from "node:assert/strict";
import { State, type Task } from "../../task/mod.ts";
import { containersOf, docker, SLEEP_IMAGE, uniqueName } from "../../testing/docker.ts";
import { startEtcd } from "../../testing/etcd.ts";
import { joinWorkers, running, startManagers } from "../../testing/managers.ts";
import { spawnCube } from "../../testing/process.ts";
import { request, tempDir, waitFor } from "../../testing/wait.ts";

Deno.test("a leader killed with -9 is replaced within seconds, with nothing lost, doubled or restarted", async () => {
  await using etcd = await startEtcd();
  await using dir = await tempDir();
  await using managers = await startManagers(etcd.url, dir.path, 3);
  const first = await managers.leader();
  const follower = managers.urls[(first + 1) % 3];
  // The workers know every manager, and join through a follower (forwarded to the leader).
  const names = [uniqueName("fo-a"), uniqueName("fo-b")];
  await using _workers = await joinWorkers(managers, dir.path, names, follower);
  // A follower takes submissions too: it forwards them.
  const ids: string[] = [];
  for (let i = 0; i < 4; i++) {
    const { status, body } = await request(`${follower}/tasks`, {
      body: { Name: `keep-${i}`, Image: SLEEP_IMAGE },
    });
    assert.equal(status, 201, JSON.stringify(body));
    ids.push(body.ID);
  }
  const before = new Map<string, Task>();
  for (const id of ids) before.set(id, await running(follower, id));

  // `cube events -f` through every manager, the leader first: it follows on after the kill.
  const leaderUrl = managers.urls[first];
  const cliAuth = ["--token", managers.adminToken, "--ca", managers.caPath];
  await using watcher = spawnCube([
    "events",
    "-f",
    "--type",
    "task",
    "--manager",
    [leaderUrl, ...managers.urls.filter((u) => u !== leaderUrl)].join(","),
    ...cliAuth,
  ]);
  await waitFor("the event stream to start", () => /Running\s+keep-\d/.test(watcher.output()));

  // Acknowledged by the leader just before it dies: it must not be lost.
  const late = await request(`${leaderUrl}/tasks`, {
    body: { Name: "late", Image: SLEEP_IMAGE },
  });
  assert.equal(late.status, 201);
  const killed = performance.now();
  await managers.processes[first].kill();

  const next = await managers.leader();
  const failover = performance.now() - killed;
  assert.notEqual(next, first);
  assert.ok(failover < 5_000, `another manager led ${Math.round(failover)} ms after the kill`);
  const survivor = managers.urls[next];
  // It dispatches: the late task and a new one run.
  const fresh = await request(`${survivor}/tasks`, {
    body: { Name: "fresh", Image: SLEEP_IMAGE },
  });
  assert.equal(fresh.status, 201);
  await running(survivor, fresh.body.ID);
  const dispatched = performance.now() - killed;
  assert.ok(dispatched < 6_000, `a new task ran ${Math.round(dispatched)} ms after the kill`);
  console.log(
    `failover: led after ${Math.round(failover)} ms, a new task Running after ${
      Math.round(dispatched)
    } ms`,
  );
  await running(survivor, late.body.ID);
  await waitFor(
    "the new leader's events in the stream that began on the old one",
    () => /task\s+Running\s+fresh/.test(watcher.output()),
    { timeoutMs: 10_000 },
  );
  assert.match(watcher.output(), /following again/);

  const tasks: Task[] = (await request(`${survivor}/tasks`)).body;
  assert.equal(tasks.length, 6);
  for (const id of ids) {
    const task = tasks.find((t) => t.ID === id)!;
    assert.equal(task.State, State.Running);
    assert.equal(task.ContainerID, before.get(id)!.ContainerID);
    const info = await docker.getContainer(task.ContainerID).inspect();
    assert.equal(info.State.StartedAt, before.get(id)!.StartTime, "not restarted");
  }
  const containers = [];
  for (const name of names) {
    containers.push(...(await containersOf(name)).filter((c) => c.State === "running"));
  }
  assert.equal(containers.length, 6, "one container per task, none doubled");
  // The managers list shows the two that are left, the new leader first.
  const listed = (await request(`${survivor}/managers`)).body;
  assert.deepEqual(listed.map((m: { Url: string }) => m.Url)[0], survivor);
  assert.equal(listed.length, 2);
  // The CLI, given every manager with the dead one first, passes over it.
  await using cli = spawnCube([
    "managers",
    "--manager",
    [leaderUrl, ...managers.urls.filter((u) => u !== leaderUrl)].join(","),
    ...cliAuth,
  ]);
  assert.equal((await cli.child.status).code, 0, cli.output());
  await cli.stop();
  const lines = cli.output().trim().split("\n");
  assert.match(lines[0], /URL\s+ROLE\s+HEALTH\s+SINCE/);
  assert.match(lines[1], new RegExp(`^${survivor}\\s+leader\\s+ok\\s`));
  assert.equal(lines.length, 3, cli.output());
});

Deno.test("a leader paused past its lease steps down when it resumes, and the new leader's work stands", async () => {
  await using etcd = await startEtcd();
  await using dir = await tempDir();
  await using managers = await startManagers(etcd.url, dir.path, 2);
  const first = await managers.leader();
  const other = managers.urls[1 - first];
  const name = uniqueName("pause");
  await using _workers = await joinWorkers(managers, dir.path, [name], other);
  const kept = await request(`${other}/tasks`, { body: { Name: "kept", Image: SLEEP_IMAGE } });
  assert.equal(kept.status, 201);
  const before = await running(other, kept.body.ID);

  const paused = managers.processes[first].child.pid;
  Deno.kill(paused, "SIGSTOP");
  try {
    await waitFor("the other manager to lead", async () => {
      const health = await request(`${other}/health`);
      return health.body.Leadership === "leader";
    }, { timeoutMs: 10_000 });
    const during = await request(`${other}/tasks`, {
      body: { Name: "during", Image: SLEEP_IMAGE },
    });
    assert.equal(during.status, 201);
    await running(other, during.body.ID);
  } finally {
    Deno.kill(paused, "SIGCONT");
  }
  const resumed = managers.urls[first];
  await waitFor("the resumed manager to follow", async () => {
    const health = await request(`${resumed}/health`);
    return health.body.Leadership === "follower" && health.body.Leader === other;
  }, { timeoutMs: 3_000 });
  // What it is asked now goes to the new leader.
  const tasks: Task[] = (await request(`${resumed}/tasks`)).body;
  assert.equal(tasks.length, 2);
  const task = tasks.find((t) => t.ID === kept.body.ID)!;
  assert.equal(task.ContainerID, before.ContainerID);
  const info = await docker.getContainer(task.ContainerID).inspect();
  assert.equal(info.State.StartedAt, before.StartTime, "not restarted");
  assert.equal((await containersOf(name)).filter((c) => c.State === "running").length, 2);
  assert.match(managers.processes[first].output(), /stepping down/);
});
