/**
 * The worker's link to the manager: reports go in batches under the body limit; a batch
 * the manager refuses is split until the one refused report is dropped with a log line,
 * and a refusal never makes the manager "unreachable".
 */
import assert from "node:assert/strict";
import { Hono } from "hono";
import { bodyLimit } from "hono/body-limit";
import { newTask, State, type Task } from "../../task/mod.ts";
import { ManagerLink } from "../../worker/manager_link.ts";
import { waitFor } from "../../testing/wait.ts";

function fakeStats() {
  return Promise.resolve({
    CpuCores: 2,
    CpuUsage: 0,
    MemoryTotalBytes: 1,
    MemoryAvailableBytes: 1,
    DiskTotalBytes: 1,
    DiskFreeBytes: 1,
    LoadStats: { last1min: 0 },
    TaskCount: 0,
    // deno-lint-ignore no-explicit-any
  } as any);
}

/** A started link of worker `w1` to `manager`, an app called in process. */
function linkTo(manager: Hono, log: (line: string) => void = () => {}): ManagerLink {
  const link = new ManagerLink({
    managerUrl: "http://manager",
    advertiseUrl: "http://w1",
    worker: { name: "w1", stats: fakeStats },
    heartbeatIntervalMs: 50,
    transport: (url, init) => Promise.resolve(manager.fetch(new Request(url, init))),
    log,
  });
  link.start();
  return link;
}

Deno.test("a batch the manager refuses is split until only the bad report is dropped, with a log line", async () => {
  // A manager with a smaller body limit than the link expects, that refuses one report.
  const received = new Map<string, Task>();
  const manager = new Hono();
  manager.post("/nodes", (c) => c.json({ Status: "ready" }));
  manager.post(
    "/nodes/:name/tasks",
    bodyLimit({ maxSize: 8 * 1024, onError: (c) => c.json({ Message: "too large" }, 413) }),
    async (c) => {
      const tasks = await c.req.json() as Task[];
      if (tasks.some((t) => t.Name === "poison")) {
        return c.json({ HTTPStatusCode: 400, Message: "Invalid task report" }, 400);
      }
      for (const task of tasks) received.set(task.ID, task);
      return c.body(null, 204);
    },
  );
  const logs: string[] = [];
  const link = linkTo(manager, (line) => logs.push(line));
  try {
    const tasks = Array.from({ length: 60 }, (_, i) =>
      newTask({
        Image: "x",
        Name: i === 17 ? "poison" : `t${i}`,
        State: State.Running,
        Env: [`PAD=${"x".repeat(500)}`],
      }));
    for (const task of tasks) link.report(task);
    await waitFor("every report but the poisoned one", () => received.size === 59);
    await waitFor("nothing left to send", () => link.unsent === 0);
    assert.ok(!received.has(tasks[17].ID));
    const dropped = logs.filter((l) =>
      /refused the report of task .*Invalid task report.*dropped/.test(l)
    );
    assert.deepEqual(dropped.length, 1, logs.join("\n"));
    assert.match(dropped[0], new RegExp(tasks[17].ID));
    assert.ok(!logs.some((l) => /cannot report/.test(l)), logs.join("\n"));
  } finally {
    await link.close();
  }
});

Deno.test("changes made in one turn go in one request, and a task only taken is not reported", async () => {
  const requests: string[][] = [];
  const manager = new Hono();
  manager.post("/nodes", (c) => c.json({ Status: "ready" }));
  manager.post("/nodes/:name/tasks", async (c) => {
    requests.push((await c.req.json() as Task[]).map((t) => `${t.Name}:${t.State}`));
    return c.body(null, 204);
  });
  const link = linkTo(manager);
  try {
    const taken = newTask({ Image: "x", Name: "taken", State: State.Scheduled });
    link.report(taken);
    for (let i = 0; i < 10; i++) {
      link.report(newTask({ Image: "x", Name: `r${i}`, State: State.Running }));
    }
    link.report({
      ...newTask({ Image: "x", Name: "pulling" }),
      State: State.Scheduled,
      Progress: "pulling image x",
    });
    await waitFor("the reports", () => requests.length > 0 && link.unsent === 0);
    await new Promise((resolve) => setTimeout(resolve, 100));
    assert.equal(requests.length, 1, JSON.stringify(requests));
    assert.equal(requests[0].length, 11);
    assert.ok(
      !requests[0].includes(`taken:${State.Scheduled}`),
      "a task only taken is not reported",
    );
    assert.ok(requests[0].includes(`pulling:${State.Scheduled}`), "progress is");
  } finally {
    await link.close();
  }
});
