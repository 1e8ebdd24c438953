/**
 * A static worker with a join token and no manager yet (the book's `--workers` mode): it
 * listens on its port with a throwaway certificate and answers two routes only, until the
 * manager that lists it invites it to join:
 *
 * - `GET /health`: `{"Status": "waiting to join", "Name": ...}`;
 * - `POST /join` `{"Manager": "https://..."}`: it joins that manager as any worker does,
 *   checking it against the digest in its join token, so a fake invitation gets nothing.
 *
 * Then the server closes and the worker serves its real API on the same port.
 *
 * @module
 */

import { Hono } from "hono";
import { createApi, readJson } from "../http/app.ts";
import { listen } from "../http/serve.ts";
import { CubeError, errorMessage } from "../lib/errors.ts";
import { createCa, issueServerCert, type NodeIdentity } from "../security/mod.ts";

export async function waitingToJoin(options: {
  hostname: string;
  port: number;
  name: string;
  names: readonly string[];
  log: (message: string) => void;
  /** Joins the manager at the URL given; the identity it got. */
  join: (manager: string) => Promise<NodeIdentity>;
  /** Called once, after the invitation was answered. */
  joined: (identity: NodeIdentity) => Promise<void>;
}): Promise<{ port: number; url: string; close(): Promise<void> }> {
  // Nobody can verify this certificate, and nothing secret goes over it.
  const throwaway = await issueServerCert(await createCa(), options.name, options.names);
  let joining: Promise<NodeIdentity> | null = null;
  const routes = new Hono();
  routes.get("/health", (c) => c.json({ Status: "waiting to join", Name: options.name }));
  routes.post("/join", async (c) => {
    const body = await readJson(c) as { Manager?: unknown };
    const manager = body?.Manager;
    if (typeof manager !== "string" || !/^https:\/\/\S+$/.test(manager)) {
      throw new CubeError(400, 'Invalid invitation: expected {"Manager": "https://HOST:PORT"}');
    }
    if (joining) throw new CubeError(409, "Joining a manager already");
    options.log(`invited by ${manager}: joining it`);
    joining = options.join(manager);
    let identity: NodeIdentity;
    try {
      identity = await joining;
    } catch (error) {
      joining = null;
      options.log(`could not join ${manager}: ${errorMessage(error)}`);
      throw error instanceof CubeError ? error : new CubeError(502, errorMessage(error));
    }
    // After this answer has gone: closing this server waits for it.
    setTimeout(() => {
      options.joined(identity).catch((error) =>
        options.log(`could not serve after joining: ${errorMessage(error)}`)
      );
    }, 0);
    return c.json({ Name: options.name, Status: "joined" });
  });
  const server = await listen(
    createApi(`worker ${options.name}`, routes, {
      bodyLimit: () => 4 * 1024,
    }),
    {
      hostname: options.hostname,
      port: options.port,
      tls: throwaway,
    },
  );
  return { port: server.port, url: server.url, close: () => server.close() };
}
