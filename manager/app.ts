/**
 * The manager's HTTP API: the book's routes (also under `/v1/`), the task history, and
 * the routes workers use to join, heartbeat and report.
 *
 * @module
 */

import { Hono } from "hono";
import { z } from "zod";
import { createApi, logQuery, readJson, streamSignal } from "../http/app.ts";
import { CubeError } from "../http/errors.ts";
import { formatIssues, parseSubmission, parseTaskId, State, type Task } from "../task/mod.ts";
import type { Manager } from "./manager.ts";

const nodeName = z.string().min(1).max(128).regex(/^[A-Za-z0-9_.:-]+$/, {
  error: "may hold only letters, digits and _ . : -",
});

const heartbeatBody = z.strictObject({
  Name: nodeName,
  Api: z.url({ protocol: /^https?$/ }),
  Stats: z.object({
    CpuCores: z.number().positive(),
    CpuUsage: z.number().min(0),
    MemoryTotalBytes: z.number().min(0),
    MemoryAvailableBytes: z.number().min(0),
    DiskTotalBytes: z.number().min(0),
    DiskFreeBytes: z.number().min(0),
    Load1: z.number().min(0).optional().default(0),
    TaskCount: z.number().int().min(0).optional().default(0),
  }),
});

/** A worker's view of a task: only the fields the manager takes from it are checked. */
const reportBody = z.array(z.looseObject({
  ID: z.guid(),
  State: z.number().int().refine((n) => n in State, { error: "unknown state" }),
  RestartCount: z.number().int().min(0),
  ContainerID: z.string(),
  HostPorts: z.record(z.string(), z.array(z.object({ HostIp: z.string(), HostPort: z.string() })))
    .nullable(),
  StartTime: z.string(),
  FinishTime: z.string(),
  ExitCode: z.number().int().nullable(),
  Error: z.string(),
})).max(10_000);

function parse<T>(schema: z.ZodType<T>, body: unknown, what: string): T {
  const result = schema.safeParse(body);
  if (!result.success) throw new CubeError(400, `Invalid ${what}: ${formatIssues(result.error)}`);
  return result.data;
}

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
    const body = parse(heartbeatBody, await readJson(c), "heartbeat");
    await manager.heartbeat(body.Name, body.Api.replace(/\/$/, ""), body.Stats);
    return c.json({ Name: body.Name, Status: "ready" });
  });

  routes.post("/nodes/:name/tasks", async (c) => {
    const name = parse(nodeName, c.req.param("name"), "node name");
    if (!manager.nodes.get(name)) {
      throw new CubeError(
        404,
        `Node ${name} has not joined: send a heartbeat to POST /nodes first`,
      );
    }
    const reports = parse(reportBody, await readJson(c), "task report");
    for (const report of reports) await manager.report(name, report as unknown as Task);
    return c.body(null, 204);
  });

  routes.get("/health", (c) => {
    // Counts by state: a cheap way to watch a big cluster converge without the task list.
    const states: Record<string, number> = {};
    for (const name of Object.values(State)) if (typeof name === "string") states[name] = 0;
    for (const task of manager.tasks.values()) states[State[task.State]]++;
    return c.json({
      Status: "ok",
      Role: "manager",
      Scheduler: manager.scheduler.name,
      Tasks: manager.tasks.size,
      States: states,
      Nodes: manager.listNodes().filter((n) => n.Status === "ready").length,
    });
  });

  return createApi("manager", routes);
}
