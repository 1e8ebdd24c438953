/**
 * The manager's HTTP API: the book's routes (also under `/v1/`), the task history, and
 * the routes workers use to join, heartbeat and report.
 *
 * @module
 */

import { type Context, Hono } from "hono";
import { createApi, logQuery, readJson, streamSignal } from "../http/app.ts";
import { CubeError } from "../lib/errors.ts";
import {
  type Authority,
  createSecurityRoutes,
  principalOf,
  requireToken,
  type Tokens,
} from "../security/mod.ts";
import {
  countStates,
  maskedEnv,
  MAX_REPORT_BYTES,
  parseHeartbeat,
  parseNodeName,
  parseNodeUpdate,
  parseReport,
  parseSubmission,
  parseTaskId,
  type Task,
} from "../task/mod.ts";
import type { Manager } from "./manager.ts";
import { createEventRoutes } from "./event_routes.ts";
import { createUi } from "../ui/app.tsx";
import { createServiceRoutes } from "./service_routes.ts";
import { clusterHealth, type ClusterView, listManagers } from "./follower_app.ts";

/** Concurrent log streams one token may hold open. */
export const MAX_LOG_STREAMS_PER_TOKEN = 8;

/** What a reader sees of a task's environment: names, not values (they hold secrets). */
export function maskEnv(task: Task): Task {
  if (!task.Env?.length) return task;
  return { ...task, Env: maskedEnv(task.Env) };
}

/**
 * Routes that need no token: health (which tells nothing secret), the join routes, and
 * the dashboard, which signs its users in itself (ui/session.ts).
 */
function open(method: string, path: string): boolean {
  return (method === "GET" && (path === "/health" || path === "/join/ca")) ||
    (method === "POST" && path === "/join") || path === "/ui" || path.startsWith("/ui/");
}

function bodyLimit(method: string, path: string): number | undefined {
  if (method === "PATCH") return 16 * 1024;
  if (method !== "POST") return undefined;
  if (/^\/nodes\/[^/]+\/tasks$/.test(path)) return MAX_REPORT_BYTES + 16 * 1024;
  if (path === "/nodes" || path.startsWith("/tokens") || path === "/join") return 16 * 1024;
  return undefined;
}

/**
 * `shutdown` ends open log streams, which `server.shutdown()` would otherwise wait for.
 * With `security`, every route but `GET /health` and the join takes a token (the
 * simulation and in-process tests leave it out). `cluster` tells where this manager
 * stands among several (`/health`, `/managers`); without it, it is the only one.
 */
export function createManagerApp(
  { manager, shutdown, security, cluster }: {
    manager: Manager;
    shutdown?: AbortSignal;
    security?: { tokens: Tokens; authority: Authority };
    cluster?: ClusterView;
  },
): Hono {
  const routes = new Hono();
  const streams = new Map<string, number>();
  const reader = (c: Context) => principalOf(c)?.Role === "reader";

  routes.post("/tasks", async (c) => {
    const event = parseSubmission(await readJson(c));
    if (event.Task.Service) {
      throw new CubeError(
        400,
        `Invalid task: Service: a service's replicas are made by the service (POST /services)`,
      );
    }
    const task = await manager.submit(event);
    return c.json(task, 201);
  });

  routes.get("/tasks", (c) => {
    // The book keeps tasks in submission order, which is the order they were loaded and added.
    const tasks = manager.tasks.list();
    return c.json(reader(c) ? tasks.map(maskEnv) : tasks);
  });

  routes.get("/tasks/:id", (c) => {
    const task = manager.tasks.require(parseTaskId(c.req.param("id")));
    return c.json(reader(c) ? maskEnv(task) : task);
  });

  routes.get("/tasks/:id/events", (c) => {
    const story = manager.tasks.history(parseTaskId(c.req.param("id")));
    // The list stays the book's shape; how many events were let go is a header.
    if (story.Earlier > 0) c.header("Cube-Events-Earlier", String(story.Earlier));
    return c.json(story.History);
  });

  routes.get("/tasks/:id/logs", async (c) => {
    const task = manager.tasks.require(parseTaskId(c.req.param("id")));
    if (!task.Node) {
      throw new CubeError(409, `Task ${task.ID} is not placed on a node yet: no logs`);
    }
    const query = logQuery(c);
    const holder = principalOf(c)?.ID ?? "";
    if (query.follow && (streams.get(holder) ?? 0) >= MAX_LOG_STREAMS_PER_TOKEN) {
      throw new CubeError(
        429,
        `This token has ${MAX_LOG_STREAMS_PER_TOKEN} log streams open already: close one first`,
      );
    }
    const stream = await manager.nodes.client(task.Node).logs(
      task.ID,
      query,
      streamSignal(c, shutdown),
    );
    if (!query.follow) {
      return c.body(stream, 200, { "content-type": "text/plain; charset=utf-8" });
    }
    // Counted until the stream ends, however it ends (done, client gone, shutdown).
    streams.set(holder, (streams.get(holder) ?? 0) + 1);
    let counted = true;
    const release = () => {
      if (!counted) return;
      counted = false;
      const left = (streams.get(holder) ?? 1) - 1;
      if (left > 0) streams.set(holder, left);
      else streams.delete(holder);
    };
    const reader = stream.getReader();
    const tracked = new ReadableStream<Uint8Array>({
      async pull(controller) {
        try {
          const { done, value } = await reader.read();
          if (done) {
            release();
            controller.close();
          } else controller.enqueue(value);
        } catch (error) {
          release();
          controller.error(error);
        }
      },
      cancel(reason) {
        release();
        return reader.cancel(reason);
      },
    });
    c.req.raw.signal.addEventListener("abort", release, { once: true });
    return c.body(tracked, 200, { "content-type": "text/plain; charset=utf-8" });
  });

  routes.delete("/tasks/:id", async (c) => {
    await manager.stop(parseTaskId(c.req.param("id")));
    return c.body(null, 204);
  });

  routes.get("/nodes", (c) => c.json(manager.listNodes()));

  routes.post("/nodes", async (c) => {
    const heartbeat = parseHeartbeat(await readJson(c));
    const node = principalOf(c);
    if (node && node.Node !== heartbeat.Name) {
      throw new CubeError(
        403,
        `Node ${node.Node} may heartbeat as itself only, not as ${heartbeat.Name}`,
      );
    }
    if (node && !heartbeat.Api.startsWith("https://")) {
      // Its manager credential would cross the network in the clear.
      throw new CubeError(400, `Invalid Api "${heartbeat.Api}": a joined worker serves https://`);
    }
    await manager.heartbeat(
      heartbeat.Name,
      heartbeat.Api,
      heartbeat.Stats,
      false,
      heartbeat.Labels,
    );
    // When to beat next: less often in a big cluster (seconds).
    const every = manager.nodes.beatEvery(heartbeat.Name) / 1000;
    return c.json({ Name: heartbeat.Name, Status: "ready", HeartbeatInterval: every });
  });

  routes.patch("/nodes/:name", async (c) => {
    const name = parseNodeName(c.req.param("name"));
    const patch = parseNodeUpdate(await readJson(c));
    return c.json(await manager.updateNode(name, patch));
  });

  routes.delete("/nodes/:name", async (c) => {
    const name = parseNodeName(c.req.param("name"));
    // Its credential goes first, so that it cannot heartbeat its way back in.
    const revoked = await security?.tokens.revokeNode(name);
    try {
      await manager.removeNode(name);
    } catch (error) {
      // Joined but never seen: freeing its name was all there was to do.
      if (!(revoked && error instanceof CubeError && error.status === 404)) throw error;
    }
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
    const states = countStates(manager.tasks.values());
    const store = manager.guard.error ?? cluster?.storeError() ?? null;
    return c.json({
      Status: store === null ? "ok" : "degraded",
      Role: "manager",
      ...(cluster ? clusterHealth(cluster) : { Leadership: "leader", Leader: null }),
      Store: store === null ? "ok" : store,
      Scheduler: manager.scheduler.name,
      Tasks: manager.tasks.size,
      States: states,
      Queued: manager.queued,
      Nodes: manager.listNodes().filter((n) => n.Status === "ready").length,
    });
  });

  routes.get("/managers", async (c) => c.json(cluster ? await listManagers(cluster) : []));

  routes.route("/", createServiceRoutes(manager.services, reader));
  routes.route("/", createEventRoutes(manager.events, shutdown));
  if (security) {
    routes.route("/", createSecurityRoutes(security));
    return createApi("manager", routes, {
      guard: requireToken(security.tokens, open),
      bodyLimit,
      metrics: manager.metrics.registry,
    }).route("/ui", createUi({ manager, tokens: security.tokens, shutdown }));
  }
  return createApi("manager", routes, { bodyLimit, metrics: manager.metrics.registry })
    .route("/ui", createUi({ manager, tokens: null, shutdown }));
}
