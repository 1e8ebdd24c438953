/**
 * `GET /metrics` in the Prometheus text format, for the manager and the worker alike
 * (npm `prom-client`): the process's memory, and every request by route, method and
 * status with its latency. Each role adds its own (manager/metrics.ts, worker/metrics.ts).
 *
 * prom-client's default metrics are left out: under Deno its event-loop monitor reports
 * NaN and it keeps a timer running; the process figures here come from Deno itself.
 *
 * @module
 */

import type { Context, MiddlewareHandler } from "hono";
import client from "prom-client";

export type Registry = client.Registry;
export const { Counter, Gauge, Histogram } = client;

/** Latency buckets, in seconds: from a cached read to a slow image pull. */
export const LATENCY_BUCKETS = [
  0.001,
  0.0025,
  0.005,
  0.01,
  0.025,
  0.05,
  0.1,
  0.25,
  0.5,
  1,
  2.5,
  5,
  10,
  30,
];

const started = Date.now() / 1000;

/** A registry with the process's own figures; `role` labels everything it holds. */
export function createRegistry(role: "manager" | "worker"): Registry {
  const registry = new client.Registry();
  registry.setDefaultLabels({ role });
  new client.Gauge({
    name: "process_resident_memory_bytes",
    help: "Resident memory size in bytes.",
    registers: [registry],
    collect() {
      this.set(Deno.memoryUsage().rss);
    },
  });
  new client.Gauge({
    name: "cube_heap_used_bytes",
    help: "V8 heap in use, in bytes.",
    registers: [registry],
    collect() {
      this.set(Deno.memoryUsage().heapUsed);
    },
  });
  new client.Gauge({
    name: "process_start_time_seconds",
    help: "Start time of the process since unix epoch in seconds.",
    registers: [registry],
    collect() {
      this.set(started);
    },
  });
  return registry;
}

/** The route a request matched, as declared (`/tasks/:id`), without `/v1`. */
function routeOf(c: Context): string {
  const matched = c.req.matchedRoutes.filter((r) => r.method !== "ALL" && r.path !== "/*");
  const path = matched.at(-1)?.path ?? "unmatched";
  return path.replace(/^\/v1(?=\/|$)/, "") || "/";
}

/** Counts and times every request: `cube_http_request_duration_seconds`. */
export function requestMetrics(registry: Registry): MiddlewareHandler {
  const requests = new client.Histogram({
    name: "cube_http_request_duration_seconds",
    help: "HTTP requests by route, method and status, with their latency in seconds.",
    labelNames: ["route", "method", "status"],
    buckets: LATENCY_BUCKETS,
    registers: [registry],
  });
  return async (c, next) => {
    const start = performance.now();
    try {
      await next();
    } finally {
      requests.observe(
        { route: routeOf(c), method: c.req.method, status: String(c.res.status) },
        (performance.now() - start) / 1000,
      );
    }
  };
}

/** The handler of `GET /metrics`. */
export async function metricsResponse(c: Context, registry: Registry): Promise<Response> {
  return c.body(await registry.metrics(), 200, { "content-type": registry.contentType });
}
