/**
 * What a manager that does not lead answers: `GET /health` and `GET /managers` itself,
 * everything else forwarded to the leader as it came (token, body and streams included),
 * so that a client or a worker may talk to any manager. While there is no leader (an
 * election under way, or etcd without quorum) the answer is a 503 that says so: nothing
 * is accepted that could not be stored.
 *
 * @module
 */

import { Hono } from "hono";
import { createApi } from "../http/app.ts";
import { CubeError, errorMessage, fetchFailure } from "../lib/errors.ts";
import type { TrustingClients } from "../lib/transport.ts";
import { requireToken, type Tokens } from "../security/mod.ts";
import type { ManagerPresence } from "../task/mod.ts";

/** Where a manager stands among its peers: what `/health` and `/managers` tell. */
export interface ClusterView {
  /** This manager's URL. */
  url: string;
  /** The leader's URL, or null while there is none. */
  leader(): string | null;
  leading(): boolean;
  /** Why the shared store does not answer, or null. */
  storeError(): string | null;
  managers(): Promise<ManagerPresence[]>;
}

/** The managers, or a 503 that says the store did not answer. */
export async function listManagers(cluster: ClusterView): Promise<ManagerPresence[]> {
  try {
    return await cluster.managers();
  } catch (error) {
    throw new CubeError(503, `Cannot list the managers: the store failed: ${errorMessage(error)}`, {
      cause: error,
    });
  }
}

/** Set on a forwarded request: a manager never forwards one twice (leaders change). */
export const FORWARDED_HEADER = "cube-forwarded-by";
/** How long the leader has to start answering a forwarded request, in ms. */
const FORWARD_HEADERS_TIMEOUT_MS = 30_000;
/** Headers that describe one connection, not the request: never passed on. */
const HOP_BY_HOP = [
  "connection",
  "keep-alive",
  "host",
  "transfer-encoding",
  "upgrade",
  "proxy-connection",
  "te",
  "trailer",
];

/** The view of a manager that is the only one (its store is Deno KV or memory). */
export function soleManager(url: () => string): ClusterView {
  const since = new Date().toISOString();
  return {
    get url() {
      return url();
    },
    leader: () => url(),
    leading: () => true,
    storeError: () => null,
    managers: () => Promise.resolve([{ Url: url(), Leader: true, Since: since }]),
  };
}

/** What `/health` says of leadership, leader or not. */
export function clusterHealth(cluster: ClusterView): Record<string, unknown> {
  const store = cluster.storeError();
  return {
    Leadership: cluster.leading() ? "leader" : "follower",
    Leader: cluster.leader(),
    Store: store === null ? "ok" : store,
  };
}

async function forward(
  request: Request,
  leader: string,
  self: string,
  clients: TrustingClients,
  shutdown: AbortSignal,
): Promise<Response> {
  const url = new URL(request.url);
  const headers = new Headers(request.headers);
  for (const name of HOP_BY_HOP) headers.delete(name);
  headers.set(FORWARDED_HEADER, self);
  const control = new AbortController();
  const timer = setTimeout(
    () => control.abort(new DOMException("no answer", "TimeoutError")),
    FORWARD_HEADERS_TIMEOUT_MS,
  );
  try {
    const response = await fetch(`${leader}${url.pathname}${url.search}`, {
      method: request.method,
      headers,
      body: request.body,
      redirect: "manual",
      client: clients.for({ body: request.body }),
      signal: AbortSignal.any([request.signal, shutdown, control.signal]),
    });
    const answer = new Headers(response.headers);
    for (const name of [...HOP_BY_HOP, "content-length", "content-encoding"]) answer.delete(name);
    return new Response(response.body, { status: response.status, headers: answer });
  } catch (error) {
    throw new CubeError(
      503,
      `The leader at ${leader} does not answer (${
        fetchFailure(error, FORWARD_HEADERS_TIMEOUT_MS)
      }): retry, or ask another manager`,
    );
  } finally {
    clearTimeout(timer);
  }
}

/**
 * A follower's app. `clients` trust the cluster CA (the leader's certificate is signed by
 * it); `tokens` check who may list the managers.
 */
export function createFollowerApp(
  { cluster, tokens, clients, shutdown }: {
    cluster: ClusterView;
    tokens: Tokens;
    clients: TrustingClients;
    shutdown: AbortSignal;
  },
): Hono {
  const routes = new Hono();
  routes.get("/health", (c) =>
    c.json({
      Status: cluster.storeError() === null ? "ok" : "degraded",
      Role: "manager",
      ...clusterHealth(cluster),
    }));
  routes.get("/managers", async (c) => c.json(await listManagers(cluster)));
  routes.all("*", (c) => {
    const leader = cluster.leader();
    if (c.req.header(FORWARDED_HEADER)) {
      throw new CubeError(
        503,
        `This manager does not lead any more (the leader is ${leader ?? "being elected"}): retry`,
      );
    }
    if (leader === null || leader === cluster.url) {
      const why = cluster.storeError();
      throw new CubeError(
        503,
        why === null
          ? "No manager leads at the moment (an election is under way): retry in a few seconds"
          : `No manager leads: the store does not answer (${why}); running tasks keep running`,
      );
    }
    return forward(c.req.raw, leader, cluster.url, clients, shutdown);
  });
  // Only /managers takes a token here; everything forwarded is checked by the leader.
  const guarded = (method: string, path: string) => method === "GET" && path === "/managers";
  return createApi("manager", routes, {
    guard: requireToken(tokens, (method, path) => !guarded(method, path)),
    // Bodies are the leader's to limit.
    bodyLimit: () => Number.MAX_SAFE_INTEGER,
  });
}
