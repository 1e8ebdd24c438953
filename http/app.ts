/**
 * HTTP plumbing shared by the manager and the worker: the book's error shape, body
 * limits, JSON parsing, and mounting the same routes at `/` and `/v1/`.
 *
 * @module
 */

import { Hono } from "hono";
import type { Context, MiddlewareHandler } from "hono";
import { bodyLimit } from "hono/body-limit";
import { CubeError, errorMessage, type ErrorStatus } from "../lib/errors.ts";
import { metricsResponse, type Registry, requestMetrics } from "./metrics.ts";

/**
 * Deno KV values are capped at 64 KiB; a task body above this limit could be
 * acknowledged and then fail to persist, so it is refused up front.
 */
export const MAX_BODY_BYTES = 48 * 1024;

/** Longest URL accepted (path and query): more is a 414 before anything else runs. */
export const MAX_URL_BYTES = 8 * 1024;
/** Most header bytes accepted (names and values): more is a 431. */
export const MAX_HEADER_BYTES = 16 * 1024;

export interface ApiOptions {
  /** Runs before any route and before any body is read: authentication. */
  guard?: MiddlewareHandler;
  /** The body limit of a route (path without `/v1`), when not `MAX_BODY_BYTES`. */
  bodyLimit?: (method: string, path: string) => number | undefined;
  /** Counts every request and serves `GET /metrics` (behind `guard`, like any route). */
  metrics?: Registry;
}

export interface ErrorBody {
  HTTPStatusCode: number;
  Message: string;
}

export function errorResponse(c: Context, status: ErrorStatus, message: string): Response {
  return c.json<ErrorBody>({ HTTPStatusCode: status, Message: message }, status);
}

/** Reads a JSON body, turning an empty or malformed one into a 400 that says so. */
export async function readJson(c: Context): Promise<unknown> {
  // The Content-Type is not checked: `curl -d @task.json` sends a form type, and the
  // body is JSON all the same.
  let text: string;
  try {
    text = await c.req.text();
  } catch (error) {
    // The client went away or reset the stream mid-body: its fault, not ours (no 500).
    throw new CubeError(400, `Cannot read the request body: ${errorMessage(error)}`);
  }
  if (text.trim() === "") throw new CubeError(400, "Request body is empty: send a JSON task");
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new CubeError(400, `Request body is not valid JSON: ${errorMessage(error)}`);
  }
}

/**
 * A Hono app whose routes answer both at `/` (the book's paths) and at `/v1/`, with
 * cube's error handling: every failure is `{"HTTPStatusCode", "Message"}`.
 */
export function createApi(name: string, routes: Hono, options: ApiOptions = {}): Hono {
  const app = new Hono();
  if (options.metrics) app.use("*", requestMetrics(options.metrics));
  app.use("*", async (c, next) => {
    const url = c.req.url;
    if (url.length > MAX_URL_BYTES) {
      return errorResponse(c, 414, `Request URL is longer than ${MAX_URL_BYTES / 1024} KiB`);
    }
    let headerBytes = 0;
    c.req.raw.headers.forEach((value, key) => headerBytes += key.length + value.length + 4);
    if (headerBytes > MAX_HEADER_BYTES) {
      return errorResponse(
        c,
        431,
        `Request headers are larger than ${MAX_HEADER_BYTES / 1024} KiB`,
      );
    }
    await next();
  });
  if (options.guard) app.use("*", options.guard);
  const limits = new Map<number, MiddlewareHandler>();
  const limiter = (maxSize: number) => {
    let handler = limits.get(maxSize);
    if (!handler) {
      handler = bodyLimit({
        maxSize,
        onError: (c) =>
          errorResponse(c, 413, `Request body is larger than ${maxSize / 1024} KiB for this route`),
      });
      limits.set(maxSize, handler);
    }
    return handler;
  };
  app.use("*", (c, next) => {
    const path = c.req.path.replace(/^\/v1(?=\/|$)/, "") || "/";
    return limiter(options.bodyLimit?.(c.req.method, path) ?? MAX_BODY_BYTES)(c, next);
  });
  const metrics = options.metrics;
  if (metrics) {
    for (const path of ["/metrics", "/v1/metrics"]) {
      app.get(path, (c) => metricsResponse(c, metrics));
    }
  }
  app.route("/v1", routes);
  app.route("/", routes);
  app.notFound((c) =>
    errorResponse(c, 404, `No route for ${c.req.method} ${new URL(c.req.url).pathname}`)
  );
  app.onError((error, c) => {
    if (error instanceof CubeError) return errorResponse(c, error.status, error.message);
    console.error(`[${name}] ${c.req.method} ${c.req.url} failed:`, error);
    return errorResponse(c, 500, `Internal error: ${errorMessage(error)}`);
  });
  return app;
}

/** `?follow=1&tail=50` of a logs route, checked. */
export function logQuery(c: Context): { follow: boolean; tail?: number } {
  const follow = ["1", "true", "yes"].includes(c.req.query("follow") ?? "");
  const tailText = c.req.query("tail");
  if (tailText === undefined || tailText === "" || tailText === "all") return { follow };
  const tail = Number(tailText);
  if (!Number.isInteger(tail) || tail < 0) {
    throw new CubeError(400, `Invalid tail "${tailText}": expected a whole number of lines`);
  }
  return { follow, tail };
}

/** A streamed plain-text response that ends when the client leaves or `shutdown` aborts. */
export function streamSignal(c: Context, shutdown?: AbortSignal): AbortSignal {
  return shutdown ? AbortSignal.any([c.req.raw.signal, shutdown]) : c.req.raw.signal;
}
