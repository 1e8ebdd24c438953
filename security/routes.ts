/**
 * The manager's security routes: user tokens (admin only, through `requireToken`), the
 * worker join token, and the join itself (which checks the join token on its own).
 *
 * @module
 */

import { Hono } from "hono";
import { readJson } from "../http/app.ts";
import { CubeError } from "../lib/errors.ts";
import { parseNodeName } from "../task/mod.ts";
import type { Authority } from "./authority.ts";
import type { JoinAnswer } from "./join.ts";
import { bearer } from "./middleware.ts";
import { type Role, ROLES, type Tokens } from "./tokens.ts";

/** The most a token may live: ten years, in seconds. */
const MAX_TTL_SECONDS = 10 * 365 * 86_400;

function object(body: unknown, what: string): Record<string, unknown> {
  if (typeof body !== "object" || body === null || Array.isArray(body)) {
    throw new CubeError(400, `Invalid ${what}: expected a JSON object`);
  }
  return body as Record<string, unknown>;
}

function optionalString(body: Record<string, unknown>, field: string, max: number): string {
  const value = body[field];
  if (value === undefined || value === null) return "";
  if (typeof value !== "string" || value.length > max) {
    throw new CubeError(400, `Invalid ${field}: expected a string of at most ${max} characters`);
  }
  return value;
}

function tokenRequest(body: unknown): { role: Role; name: string; ttlMs?: number } {
  const input = object(body, "token request");
  for (const key of Object.keys(input)) {
    if (!["Role", "Name", "Ttl"].includes(key)) {
      throw new CubeError(400, `Invalid token request: unknown field ${key} (Role, Name, Ttl)`);
    }
  }
  const role = input.Role;
  if (typeof role !== "string" || !ROLES.includes(role as Role)) {
    throw new CubeError(
      400,
      `Invalid Role ${JSON.stringify(role ?? null)}: expected admin, operator or reader`,
    );
  }
  const ttl = input.Ttl;
  if (
    ttl !== undefined && ttl !== null &&
    (typeof ttl !== "number" || !(ttl > 0) || ttl > MAX_TTL_SECONDS)
  ) {
    throw new CubeError(400, "Invalid Ttl: expected seconds, more than 0 and at most ten years");
  }
  return {
    role: role as Role,
    name: optionalString(input, "Name", 128),
    ttlMs: typeof ttl === "number" ? ttl * 1000 : undefined,
  };
}

export function createSecurityRoutes(
  { tokens, authority }: { tokens: Tokens; authority: Authority },
): Hono {
  const routes = new Hono();

  routes.get("/tokens", async (c) => c.json(await tokens.list()));

  routes.post("/tokens", async (c) => {
    const request = tokenRequest(await readJson(c));
    const { token, info } = await tokens.create(request.role, {
      name: request.name,
      ttlMs: request.ttlMs,
    });
    return c.json({ ...info, Token: token }, 201);
  });

  routes.get("/tokens/join", (c) => c.json({ Token: authority.joinToken() }));

  routes.post("/tokens/join/rotate", async (c) => c.json({ Token: await authority.rotateJoin() }));

  routes.delete("/tokens/:id", async (c) => {
    const id = c.req.param("id");
    if (!/^[0-9a-f]{12}$/.test(id)) {
      throw new CubeError(400, `Invalid token ID "${id.slice(0, 40)}": expected 12 hex digits`);
    }
    return c.json(await tokens.revoke(id));
  });

  // Public: a joining worker checks it against the digest in its join token.
  routes.get("/join/ca", (c) => c.text(authority.caPem));

  routes.post("/join", async (c) => {
    await authority.checkJoin(bearer(c.req.raw));
    const input = object(await readJson(c), "join request");
    const name = parseNodeName(typeof input.Name === "string" ? input.Name : "");
    if (input.Csr !== undefined && (typeof input.Csr !== "string" || input.Csr.length > 8192)) {
      throw new CubeError(400, "Invalid join request: Csr must be a PEM certificate request");
    }
    // Signed first (a bad request takes no name); the name is taken last, atomically. A
    // node may ask for credentials only (simulated nodes behind one shared listener).
    const certificate = input.Csr ? await authority.signNode(input.Csr, name) : "";
    const { token } = await tokens.createNode(name);
    const answer: JoinAnswer = {
      Name: name,
      Certificate: certificate,
      Credential: token,
      ManagerCredential: await authority.managerCredential(name),
    };
    return c.json(answer, 201);
  });

  return routes;
}
