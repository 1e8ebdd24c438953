/**
 * The worker against a real Docker engine, driven over real HTTP on loopback.
 */
import assert from "node:assert/strict";
import { State } from "../../task/mod.ts";
import { containersOf, docker, FAIL_IMAGE, HTTP_IMAGE, SLEEP_IMAGE } from "../../testing/docker.ts";
import { FaultyDatabase } from "../../testing/faulty_database.ts";
import { startTestWorker, type TestWorker } from "../../testing/worker.ts";
import { request, waitFor } from "../../testing/wait.ts";

function event(task: Record<string, unknown>) {
  const id = crypto.randomUUID();
  return { ID: crypto.randomUUID(), State: 2, Task: { ID: id, State: 1, ...task } };
}

async function taskOf(w: TestWorker, id: string) {
  return (await request(`${w.url}/tasks/${id}`)).body;
}

function waitForState(w: TestWorker, id: string, state: State) {
  return waitFor(`task ${id} to reach state ${State[state]}`, async () => {
    const task = await taskOf(w, id);
    return task.State === state ? task : undefined;
  });
}

Deno.test("a task sent with POST /tasks runs at once with its container, ports and start time", async () => {
  await using w = await startTestWorker();
  const body = event({ Name: "web", Image: HTTP_IMAGE, ExposedPorts: { "80/tcp": {} } });
  const posted = await request(`${w.url}/tasks`, { body });
  assert.equal(posted.status, 201);
  assert.equal(posted.body.ID, body.Task.ID);
  const task = await waitForState(w, body.Task.ID, State.Running);
  assert.match(task.ContainerID, /^[0-9a-f]{64}$/);
  assert.notEqual(task.StartTime, "0001-01-01T00:00:00Z");
  assert.ok(Date.parse(task.StartTime) > Date.now() - 60_000);
  assert.equal(task.Node, w.name);
  const [binding] = task.HostPorts["80/tcp"];
  assert.equal(binding.HostIp, "127.0.0.1");
  const health = await fetch(`http://127.0.0.1:${binding.HostPort}/health`);
  assert.equal(health.status, 200);
  assert.equal(await health.text(), "ok\n");
  const info = await docker.getContainer(task.ContainerID).inspect();
  assert.equal(info.Config.Labels["cube.task.id"], body.Task.ID);
  assert.equal(info.Config.Labels["cube.worker"], w.name);
  // Re-posting the same task does not start a second container.
  const again = await request(`${w.url}/tasks`, { body });
  assert.equal(again.status, 200);
  assert.equal((await containersOf(w.name)).length, 1);
});

Deno.test("DELETE /tasks/{id} stops the container, removes it and ends Completed", async () => {
  await using w = await startTestWorker();
  const body = event({ Name: "stop-me", Image: SLEEP_IMAGE });
  await request(`${w.url}/tasks`, { body });
  const running = await waitForState(w, body.Task.ID, State.Running);
  const deleted = await request(`${w.url}/tasks/${body.Task.ID}`, { method: "DELETE" });
  assert.equal(deleted.status, 204);
  const done = await waitForState(w, body.Task.ID, State.Completed);
  assert.notEqual(done.FinishTime, "0001-01-01T00:00:00Z");
  await assert.rejects(docker.getContainer(running.ContainerID).inspect(), /no such container/i);
  assert.equal((await containersOf(w.name)).length, 0);
});

Deno.test("a container killed from outside makes its task Failed with the exit code", async () => {
  await using w = await startTestWorker();
  const body = event({ Name: "victim", Image: SLEEP_IMAGE });
  await request(`${w.url}/tasks`, { body });
  const running = await waitForState(w, body.Task.ID, State.Running);
  await docker.getContainer(running.ContainerID).kill();
  const failed = await waitForState(w, body.Task.ID, State.Failed);
  assert.equal(failed.ExitCode, 137);
  assert.match(failed.Error, /exited with code 137 \(killed by signal 9\)/);
});

Deno.test("a container removed from outside makes its task Failed and the worker keeps serving", async () => {
  await using w = await startTestWorker();
  const body = event({ Name: "vanish", Image: SLEEP_IMAGE });
  await request(`${w.url}/tasks`, { body });
  const running = await waitForState(w, body.Task.ID, State.Running);
  await docker.getContainer(running.ContainerID).remove({ force: true });
  const failed = await waitForState(w, body.Task.ID, State.Failed);
  assert.match(failed.Error, /exited with code 137|disappeared/);
  const list = await request(`${w.url}/tasks`);
  assert.equal(list.status, 200);
  assert.equal(list.body.length, 1);
  // And it still runs new tasks.
  const next = event({ Name: "after", Image: SLEEP_IMAGE });
  await request(`${w.url}/tasks`, { body: next });
  await waitForState(w, next.Task.ID, State.Running);
});

Deno.test("a container that exits non-zero makes its task Failed with the code", async () => {
  await using w = await startTestWorker();
  const body = event({ Name: "crash", Image: FAIL_IMAGE });
  await request(`${w.url}/tasks`, { body });
  const failed = await waitForState(w, body.Task.ID, State.Failed);
  assert.equal(failed.ExitCode, 3);
  assert.equal(failed.Error, "container exited with code 3");
});

Deno.test("a task whose image cannot be had is Failed with the reason", async () => {
  await using w = await startTestWorker();
  const body = event({ Name: "ghost", Image: "cube-test/does-not-exist:1" });
  const posted = await request(`${w.url}/tasks`, { body });
  assert.equal(posted.status, 201);
  const failed = await waitForState(w, body.Task.ID, State.Failed);
  assert.match(
    failed.Error,
    /Cannot start task "ghost": image "cube-test\/does-not-exist:1" not found locally and the pull failed/,
  );
  assert.equal((await containersOf(w.name)).length, 0);
});

Deno.test("with the pull policy 'never' a missing image fails without trying the registry", async () => {
  await using w = await startTestWorker({ pullPolicy: "never" });
  const body = event({ Name: "local-only", Image: "cube-test/nope" });
  await request(`${w.url}/tasks`, { body });
  const failed = await waitForState(w, body.Task.ID, State.Failed);
  assert.match(failed.Error, /not found locally and the pull policy is "never"/);
});

Deno.test("two tasks with the same Name both run", async () => {
  await using w = await startTestWorker();
  const a = event({ Name: "twin", Image: SLEEP_IMAGE });
  const b = event({ Name: "twin", Image: SLEEP_IMAGE });
  await Promise.all([
    request(`${w.url}/tasks`, { body: a }),
    request(`${w.url}/tasks`, { body: b }),
  ]);
  const [ta, tb] = await Promise.all([
    waitForState(w, a.Task.ID, State.Running),
    waitForState(w, b.Task.ID, State.Running),
  ]);
  assert.notEqual(ta.ContainerID, tb.ContainerID);
  assert.equal((await containersOf(w.name)).length, 2);
});

Deno.test("Memory, Cpu, Env, Cmd and PortBindings reach the container", async () => {
  await using w = await startTestWorker();
  const body = event({
    Name: "tuned",
    Image: HTTP_IMAGE,
    Memory: 64 * 1024 * 1024,
    Cpu: 0.5,
    Env: ["GREETING=hello"],
    PortBindings: { "80/tcp": "127.0.0.1:0" },
  });
  await request(`${w.url}/tasks`, { body });
  const task = await waitForState(w, body.Task.ID, State.Running);
  const info = await docker.getContainer(task.ContainerID).inspect();
  assert.equal(info.HostConfig.Memory, 64 * 1024 * 1024);
  assert.equal(info.HostConfig.NanoCpus, 500_000_000);
  assert.ok(info.Config.Env.includes("GREETING=hello"));
  assert.equal(info.HostConfig.PortBindings["80/tcp"][0].HostIp, "127.0.0.1");

  const cmd = event({ Name: "cmd", Image: SLEEP_IMAGE, Cmd: ["/bin/sh", "-c", "exit 7"] });
  await request(`${w.url}/tasks`, { body: cmd });
  const exited = await waitForState(w, cmd.Task.ID, State.Failed);
  assert.equal(exited.ExitCode, 7);
});

Deno.test("a fixed host port in PortBindings is honoured", async () => {
  await using w = await startTestWorker();
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  const body = event({
    Name: "fixed",
    Image: HTTP_IMAGE,
    PortBindings: { "80/tcp": String(port) },
  });
  await request(`${w.url}/tasks`, { body });
  const task = await waitForState(w, body.Task.ID, State.Running);
  assert.deepEqual(task.HostPorts["80/tcp"], [{ HostIp: "127.0.0.1", HostPort: String(port) }]);
  const response = await fetch(`http://127.0.0.1:${port}/`);
  assert.equal(await response.text(), "hello from cube\n");
});

Deno.test("bad input gets a 4xx JSON error and changes nothing", async () => {
  await using w = await startTestWorker();
  const good = event({ Name: "x", Image: SLEEP_IMAGE });
  const cases: Array<[unknown, number, RegExp]> = [
    [{ ...good, Task: { ...good.Task, ID: "nope" } }, 400, /Task\.ID: invalid UUID/],
    [{ ...good, State: 12 }, 400, /unknown state 12/],
    [{ ...good, Task: { ...good.Task, Cpu: "lots" } }, 400, /Task\.Cpu/],
    [{ ...good, Task: { ID: good.Task.ID, Name: "x" } }, 400, /Task\.Image: is required/],
    [{ ...good, Task: { ...good.Task, Imagee: "y" } }, 400, /Imagee: unknown field/],
  ];
  for (const [body, status, message] of cases) {
    const response = await request(`${w.url}/tasks`, { body });
    assert.equal(response.status, status, JSON.stringify(body));
    assert.equal(response.body.HTTPStatusCode, status);
    assert.match(response.body.Message, message);
  }
  const raw: Array<[string, number, RegExp]> = [
    ["{not json", 400, /not valid JSON/],
    ["", 400, /empty/],
    [JSON.stringify({ Task: { Image: "x", Name: "n".repeat(64 * 1024) } }), 413, /larger than/],
  ];
  for (const [rawBody, status, message] of raw) {
    const response = await request(`${w.url}/tasks`, { rawBody });
    assert.equal(response.status, status);
    assert.match(response.body.Message, message);
  }
  const unknown = crypto.randomUUID();
  assert.equal((await request(`${w.url}/tasks/${unknown}`)).status, 404);
  assert.equal((await request(`${w.url}/tasks/${unknown}`, { method: "DELETE" })).status, 404);
  const badId = await request(`${w.url}/tasks/123`, { method: "DELETE" });
  assert.equal(badId.status, 400);
  assert.match(badId.body.Message, /not a UUID/);
  assert.equal((await request(`${w.url}/nope`)).status, 404);
  assert.deepEqual((await request(`${w.url}/tasks`)).body, []);
  assert.equal((await containersOf(w.name)).length, 0);
});

Deno.test("the routes also answer under /v1/ and GET /tasks is [] when empty", async () => {
  await using w = await startTestWorker();
  assert.deepEqual((await request(`${w.url}/v1/tasks`)).body, []);
  const health = await request(`${w.url}/v1/health`);
  assert.equal(health.status, 200);
  assert.equal(health.body.Docker, "ok");
});

Deno.test("GET /stats gives plausible figures: memory total equals /proc/meminfo", async () => {
  await using w = await startTestWorker();
  const { status, body } = await request(`${w.url}/stats`);
  assert.equal(status, 200);
  const memTotalKb = Number(
    (await Deno.readTextFile("/proc/meminfo")).match(/^MemTotal:\s+(\d+)/m)![1],
  );
  assert.equal(body.MemStats.mem_total, memTotalKb);
  assert.equal(body.MemoryTotalBytes, memTotalKb * 1024);
  assert.ok(body.MemStats.mem_available > 0 && body.MemStats.mem_available <= memTotalKb);
  assert.equal(body.CpuCores, navigator.hardwareConcurrency);
  assert.ok(body.CpuUsage >= 0 && body.CpuUsage <= 1);
  assert.ok(body.CpuUsageIntervalMs >= 100, "usage is measured over an interval");
  assert.ok(body.DiskStats.all > 0 && body.DiskStats.free <= body.DiskStats.all);
  assert.ok(body.LoadStats.process_total > 0);
  assert.equal(body.TaskCount, 0);

  const run = event({ Name: "counted", Image: SLEEP_IMAGE });
  await request(`${w.url}/tasks`, { body: run });
  await waitForState(w, run.Task.ID, State.Running);
  assert.equal((await request(`${w.url}/stats`)).body.TaskCount, 1);
});

Deno.test("GET /stats starts no process: disk figures come from statfs, the task count from memory", async () => {
  // Finding 6: two `df` processes per heartbeat, and the whole store listed each time.
  await using w = await startTestWorker();
  const run = event({ Name: "counted", Image: SLEEP_IMAGE });
  await request(`${w.url}/tasks`, { body: run });
  await waitForState(w, run.Task.ID, State.Running);
  const original = Deno.Command;
  let spawned = 0;
  // deno-lint-ignore no-explicit-any
  (Deno as any).Command = class {
    constructor() {
      spawned++;
      throw new Error("stats must not start a process");
    }
  };
  try {
    const { body } = await request(`${w.url}/stats`);
    assert.equal(spawned, 0);
    assert.ok(body.DiskStats.all > 0 && body.DiskStats.free <= body.DiskStats.all);
    assert.ok(body.DiskTotalBytes > 0);
    assert.equal(body.TaskCount, 1);
  } finally {
    // deno-lint-ignore no-explicit-any
    (Deno as any).Command = original;
  }
});

Deno.test("a worker whose store fails answers 503 and says degraded, stores nothing, and recovers by itself", async () => {
  let faulty: FaultyDatabase | null = null;
  await using w = await startTestWorker({ wrap: (db) => faulty = new FaultyDatabase(db) });
  faulty!.failing = "disk full";
  const refused = event({ Name: "refused", Image: SLEEP_IMAGE });
  const { status, body } = await request(`${w.url}/tasks`, { body: refused });
  assert.equal(status, 503);
  assert.equal(body.HTTPStatusCode, 503);
  assert.match(body.Message, /Cannot save .*task .*: the store failed: disk full/);
  assert.equal((await request(`${w.url}/tasks/${refused.Task.ID}`)).status, 404, "nothing stored");
  const degraded = (await request(`${w.url}/health`)).body;
  assert.equal(degraded.Status, "degraded");
  assert.equal(degraded.Store, "disk full");
  faulty!.failing = null;
  assert.equal((await request(`${w.url}/health`)).body.Status, "ok");
  const accepted = event({ Name: "accepted", Image: SLEEP_IMAGE });
  assert.equal((await request(`${w.url}/tasks`, { body: accepted })).status, 201);
  await waitForState(w, accepted.Task.ID, State.Running);
});

Deno.test("POST /tasks with an array (the manager's batch) answers each task in order; one bad task spoils nothing", async () => {
  await using w = await startTestWorker();
  const event = (task: Record<string, unknown>) => ({
    ID: crypto.randomUUID(),
    State: State.Running,
    Task: { ID: crypto.randomUUID(), State: State.Scheduled, Image: SLEEP_IMAGE, ...task },
  });
  const good = [event({ Name: "b1" }), event({ Name: "b2" })];
  const { status, body } = await request(`${w.url}/tasks`, {
    body: [good[0], event({ Image: "" }), good[1]],
  });
  assert.equal(status, 200);
  assert.deepEqual(body.map((r: { Status: number }) => r.Status), [201, 400, 201]);
  assert.match(body[1].Message, /Image/);
  for (const e of good) {
    await waitFor(`${e.Task.ID} Running`, async () => {
      return (await request(`${w.url}/tasks/${e.Task.ID}`)).body.State === State.Running;
    });
  }
  // Sent again, they are already running: 200 each, nothing doubled.
  const again = await request(`${w.url}/tasks`, { body: good });
  assert.deepEqual(again.body.map((r: { Status: number }) => r.Status), [200, 200]);
  assert.equal((await containersOf(w.name)).length, 2);
  const tooMany = await request(`${w.url}/tasks`, { body: Array(257).fill({}) });
  assert.equal(tooMany.status, 400);
});
