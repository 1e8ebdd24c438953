/**
 * Who is calling: Hono middleware that lets a request through only with a valid bearer
 * token whose role allows it (the manager), or only with the manager's credential (a
 * joined worker). Refusals are 401 (no valid token) or 403 (not allowed), in the book's
 * error shape, and happen before any body is read: a refused request changes nothing.
 *
 * @module
 */

import type { Context, MiddlewareHandler } from "hono";
import { CubeError } from "../lib/errors.ts";
import { authorize, constantTimeEqual, type TokenInfo, type Tokens } from "./tokens.ts";

/** The token of `Authorization: Bearer <token>`, if any. */
export function bearer(request: Request): string | undefined {
  const header = request.headers.get("authorization");
  const match = header?.match(/^Bearer\s+(\S+)\s*$/i);
  return match?.[1];
}

/** The path without the `/v1` prefix: both spellings are the same route. */
export function routePath(c: Context): string {
  return c.req.path.replace(/^\/v1(?=\/|$)/, "") || "/";
}

const PRINCIPAL = "cube.principal";

/** The token a request was let in with (its record, never the token). */
export function principalOf(c: Context): TokenInfo | undefined {
  return c.get(PRINCIPAL as never) as TokenInfo | undefined;
}

/**
 * Requires a token allowed to do what the request does, except on the routes `open`
 * says need none (`GET /health`, the join routes, which check their own token).
 */
export function requireToken(
  tokens: Tokens,
  open: (method: string, path: string) => boolean,
): MiddlewareHandler {
  return async (c, next) => {
    const path = routePath(c);
    if (open(c.req.method, path)) return await next();
    const principal = await tokens.verify(bearer(c.req.raw));
    authorize(principal, c.req.method, path);
    c.set(PRINCIPAL as never, principal as never);
    await next();
  };
}

/**
 * A joined worker: every route but `GET /health` and `GET /metrics` (counts and
 * latencies, for a Prometheus that holds no cube credential) takes the manager's credential.
 */
export function requireManager(credential: string): MiddlewareHandler {
  return async (c, next) => {
    const open = routePath(c) === "/health" || routePath(c) === "/metrics";
    if (c.req.method === "GET" && open) return await next();
    const token = bearer(c.req.raw);
    if (!token || !constantTimeEqual(token, credential)) {
      throw new CubeError(
        401,
        "This worker takes calls from its manager only: send the manager's credential",
      );
    }
    await next();
  };
}
