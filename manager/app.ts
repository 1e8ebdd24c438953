/**
 * The manager's HTTP API: the book's routes (also under `/v1/`), the task history, and
 * the routes workers use to join, heartbeat and report.
 *
 * @module
 */

import { Hono } from "hono";
import { createApi, logQuery, readJson, streamSignal } from "../http/app.ts";
import { CubeError } from "../lib/errors.ts";
import {
  parseHeartbeat,
  parseNodeName,
  parseReport,
  parseSubmission,
  parseTaskId,
  State,
} from "../task/mod.ts";
import type { Manager } from "./manager.ts";

/**
 * `shutdown` ends open log streams, which `server.shutdown()` would otherwise wait for.
 */
export function createManagerApp(
  { manager, shutdown }: { manager: Manager; shutdown?: AbortSignal },
): Hono {
  const routes = new Hono();

  routes.post("/tasks", async (c) => {
    const task = await manager.submit(parseSubmission(await readJson(c)));
    return c.json(task, 201);
  });

  routes.get("/tasks", (c) => {
    // The book keeps tasks in submission order, which is the order they were loaded and added.
    return c.json(manager.tasks.list());
  });

  routes.get("/tasks/:id", (c) => c.json(manager.tasks.require(parseTaskId(c.req.param("id")))));

  routes.get(
    "/tasks/:id/events",
    async (c) => c.json(await manager.tasks.history(parseTaskId(c.req.param("id")))),
  );

  routes.get("/tasks/:id/logs", async (c) => {
    const task = manager.tasks.require(parseTaskId(c.req.param("id")));
    if (!task.Node) {
      throw new CubeError(409, `Task ${task.ID} is not placed on a node yet: no logs`);
    }
    const stream = await manager.nodes.client(task.Node).logs(
      task.ID,
      logQuery(c),
      streamSignal(c, shutdown),
    );
    return c.body(stream, 200, { "content-type": "text/plain; charset=utf-8" });
  });

  routes.delete("/tasks/:id", async (c) => {
    await manager.stop(parseTaskId(c.req.param("id")));
    return c.body(null, 204);
  });

  routes.get("/nodes", (c) => c.json(manager.listNodes()));

  routes.post("/nodes", async (c) => {
    const heartbeat = parseHeartbeat(await readJson(c));
    await manager.heartbeat(heartbeat.Name, heartbeat.Api, heartbeat.Stats);
    return c.json({ Name: heartbeat.Name, Status: "ready" });
  });

  routes.delete("/nodes/:name", async (c) => {
    await manager.removeNode(parseNodeName(c.req.param("name")));
    return c.body(null, 204);
  });

  routes.post("/nodes/:name/tasks", async (c) => {
    const name = parseNodeName(c.req.param("name"));
    if (!manager.nodes.get(name)) {
      throw new CubeError(
        404,
        `Node ${name} has not joined: send a heartbeat to POST /nodes first`,
      );
    }
    await manager.report(name, parseReport(await readJson(c)));
    return c.body(null, 204);
  });

  routes.get("/health", (c) => {
    // Counts by state: a cheap way to watch a big cluster converge without the task list.
    const states: Record<string, number> = {};
    for (const name of Object.values(State)) if (typeof name === "string") states[name] = 0;
    for (const task of manager.tasks.values()) states[State[task.State]]++;
    const store = manager.guard.error;
    return c.json({
      Status: store === null ? "ok" : "degraded",
      Store: store === null ? "ok" : store,
      Role: "manager",
      Scheduler: manager.scheduler.name,
      Tasks: manager.tasks.size,
      States: states,
      Nodes: manager.listNodes().filter((n) => n.Status === "ready").length,
    });
  });

  return createApi("manager", routes);
}
