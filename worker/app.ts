/**
 * The worker's HTTP API: the book's routes (also under `/v1/`) plus `GET /health`.
 *
 * @module
 */

import { Hono } from "hono";
import { createApi, logQuery, readJson, streamSignal } from "../http/app.ts";
import { CubeError } from "../lib/errors.ts";
import { parseTaskEvent, parseTaskId } from "../task/mod.ts";
import { requireManager } from "../security/mod.ts";
import type { NodeAgent } from "./agent.ts";
import type { Registry } from "../http/metrics.ts";

/** Tasks in one batch from the manager. */
const MAX_BATCH = 256;

/**
 * `shutdown` ends open log streams, which `server.shutdown()` would otherwise wait for.
 * A joined worker passes `managerCredential`: then every route but `GET /health` takes
 * it, and nobody but its manager gets in. Without it the API is the book's, open.
 */
export function createWorkerApp(
  { worker, shutdown, managerCredential, metrics }: {
    worker: NodeAgent;
    shutdown?: AbortSignal;
    managerCredential?: string;
    /** `GET /metrics` (a real worker's; simulated nodes have none). */
    metrics?: Registry;
  },
): Hono {
  const routes = new Hono();

  routes.post("/tasks", async (c) => {
    const body = await readJson(c);
    if (Array.isArray(body)) {
      // The manager's batch: an answer per task, in order; one bad task spoils nothing.
      if (body.length > MAX_BATCH) {
        throw new CubeError(400, `A batch holds at most ${MAX_BATCH} tasks, not ${body.length}`);
      }
      return c.json(
        await Promise.all(body.map(async (item) => {
          try {
            const { task, created } = await worker.submit(parseTaskEvent(item));
            return { Status: created ? 201 : 200, Task: task };
          } catch (error) {
            if (!(error instanceof CubeError)) throw error;
            return { Status: error.status, Message: error.message };
          }
        })),
      );
    }
    const event = parseTaskEvent(body);
    const { task, created } = await worker.submit(event);
    return c.json(task, created ? 201 : 200);
  });

  routes.get("/tasks", async (c) => c.json(await worker.list()));

  routes.get("/tasks/:id", async (c) => {
    const id = parseTaskId(c.req.param("id"));
    const task = await worker.get(id);
    if (!task) throw new CubeError(404, `Task ${id} not found on worker ${worker.name}`);
    return c.json(task);
  });

  routes.delete("/tasks/:id", async (c) => {
    await worker.stop(parseTaskId(c.req.param("id")));
    return c.body(null, 204);
  });

  routes.get("/tasks/:id/logs", async (c) => {
    const id = parseTaskId(c.req.param("id"));
    const stream = await worker.logs(id, { ...logQuery(c), signal: streamSignal(c, shutdown) });
    return c.body(stream, 200, { "content-type": "text/plain; charset=utf-8" });
  });

  routes.get("/stats", async (c) => c.json(await worker.stats()));

  // The worker's task changes as they happen, one record per line (an empty line every
  // 15 s while quiet): a manager that lists this worker follows it instead of polling.
  routes.get("/events", (c) => {
    if (!worker.watch) throw new CubeError(404, `Worker ${worker.name} has no event stream`);
    const signal = streamSignal(c, shutdown);
    const encoder = new TextEncoder();
    let stop = () => {};
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        const unwatch = worker.watch!((task) => {
          try {
            controller.enqueue(encoder.encode(`${JSON.stringify(task)}\n`));
          } catch { /* closed meanwhile */ }
        });
        const keepAlive = setInterval(() => {
          try {
            controller.enqueue(encoder.encode("\n"));
          } catch { /* closed meanwhile */ }
        }, 15_000);
        stop = () => {
          unwatch();
          clearInterval(keepAlive);
          try {
            controller.close();
          } catch { /* closed already */ }
        };
        if (signal.aborted) stop();
        else signal.addEventListener("abort", stop, { once: true });
      },
      cancel() {
        stop();
      },
    });
    return c.body(body, 200, { "content-type": "application/x-ndjson" });
  });

  routes.get("/health", async (c) => c.json(await worker.health()));

  return createApi(`worker ${worker.name}`, routes, {
    guard: managerCredential ? requireManager(managerCredential) : undefined,
    metrics,
  });
}
