/**
 * Many simulated nodes behind one loopback listener: node `sim-0042` answers at
 * `https://127.0.0.1:PORT/n/sim-0042/...` with the worker's own HTTP API, and heartbeats
 * and pushes task changes to the manager through the worker's own `ManagerLink`. A
 * thousand nodes cost one socket, not a thousand.
 *
 * Given the cluster's join token, every node joins as a real worker does: it gets its
 * own node credential and lets in only the manager's credential for its name. The
 * listener serves the first node's certificate (they all answer at the same address).
 *
 * @module
 */

import { pool, sleep } from "../lib/async.ts";
import { listen } from "../http/serve.ts";
import { clientTransport, trustingClient } from "../lib/transport.ts";
import { joinCluster, type NodeIdentity, verifiedCa } from "../security/mod.ts";
import { createWorkerApp } from "../worker/app.ts";
import { ManagerLink, managerUrls } from "../worker/manager_link.ts";
import { SimNode, type SimNodeOptions } from "./sim_node.ts";

export interface FleetOptions extends Omit<SimNodeOptions, "name" | "onChange"> {
  count: number;
  /** The manager's URL, or several managers' separated by commas (they join through the first). */
  managerUrl: string;
  /** The cluster's worker join token; without it the nodes serve the book's open API. */
  joinToken?: string;
  /** Node names are `<prefix>-0001`, `<prefix>-0002`, ... */
  prefix?: string;
  heartbeatIntervalMs?: number;
  hostname?: string;
  /** What the nodes' links say (the manager unreachable, back); silent by default. */
  log?: (message: string) => void;
}

export interface Fleet extends AsyncDisposable {
  url: string;
  nodes: SimNode[];
  /** Silences a node, as if its machine died: no heartbeats, no answers. */
  kill(name: string): Promise<void>;
  close(): Promise<void>;
}

export async function startFleet(options: FleetOptions): Promise<Fleet> {
  const prefix = options.prefix ?? "sim";
  const intervalMs = options.heartbeatIntervalMs ?? 1_000;
  const width = String(options.count).length;
  const apps = new Map<string, ReturnType<typeof createWorkerApp>>();
  const nodes: SimNode[] = [];
  const links = new Map<string, ManagerLink>();
  const names = Array.from(
    { length: options.count },
    (_, i) => `${prefix}-${String(i + 1).padStart(width, "0")}`,
  );
  const hostname = options.hostname ?? "127.0.0.1";
  const identities = new Map<string, NodeIdentity>();
  let client: Deno.HttpClient | null = null;
  if (options.joinToken) {
    const first = managerUrls(options.managerUrl)[0];
    const caPem = await verifiedCa(first, options.joinToken);
    const join = (name: string, certificate: boolean) =>
      joinCluster({
        manager: first,
        joinToken: options.joinToken!,
        name,
        names: certificate ? [hostname, "127.0.0.1", "localhost"] : null,
        caPem,
      });
    identities.set(names[0], await join(names[0], true));
    await pool(
      names.slice(1),
      8,
      async (name) => void identities.set(name, await join(name, false)),
    );
    // A thousand nodes' calls, many at once, on one HTTP/2 connection as before.
    client = trustingClient(caPem, { multiplex: true });
  }
  const first = identities.get(names[0]);
  const server = await listen(
    {
      fetch: (request: Request) => {
        const url = new URL(request.url);
        const match = url.pathname.match(/^\/n\/([^/]+)(\/.*)?$/);
        const app = match && apps.get(decodeURIComponent(match[1]));
        if (!app) {
          return Response.json(
            { HTTPStatusCode: 404, Message: `No simulated node at ${url.pathname}` },
            { status: 404 },
          );
        }
        return app.fetch(new Request(new URL(`${match![2] ?? "/"}${url.search}`, url), request));
      },
    },
    {
      hostname,
      tls: first ? { certPem: first.Certificate, keyPem: first.Key } : undefined,
    },
  );
  for (const name of names) {
    const node = new SimNode({ ...options, name });
    const identity = identities.get(name);
    nodes.push(node);
    apps.set(
      node.name,
      createWorkerApp({ worker: node, managerCredential: identity?.ManagerCredential }),
    );
    const link = new ManagerLink({
      managerUrl: options.managerUrl,
      advertiseUrl: `${server.url}/n/${node.name}`,
      worker: node,
      heartbeatIntervalMs: intervalMs,
      transport: identity && client ? clientTransport(client, identity.Credential) : undefined,
      log: options.log ?? (() => {}),
    });
    node.onChange = (task) => link.report(task);
    links.set(node.name, link);
  }
  // Joins are spread over one heartbeat interval, so heartbeats arrive evenly afterwards
  // rather than a thousand at once every second.
  for (const [i, link] of [...links.values()].entries()) {
    link.start();
    if (i % 50 === 49) await sleep(intervalMs * 50 / options.count);
  }

  const kill = async (name: string) => {
    apps.delete(name);
    nodes.find((n) => n.name === name)?.close();
    await links.get(name)?.close();
    links.delete(name);
  };
  const close = async () => {
    for (const node of nodes) node.close();
    await Promise.all([...links.values()].map((link) => link.close()));
    await server.close();
    client?.close();
  };
  return { url: server.url, nodes, kill, close, [Symbol.asyncDispose]: close };
}
