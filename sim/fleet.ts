/**
 * Many simulated nodes behind one loopback listener: node `sim-0042` answers at
 * `http://127.0.0.1:PORT/n/sim-0042/...` with the worker's own HTTP API, and heartbeats
 * and pushes task changes to the manager through the worker's own `ManagerLink`. A
 * thousand nodes cost one socket, not a thousand.
 *
 * @module
 */

import { sleep } from "../lib/async.ts";
import { listen } from "../http/serve.ts";
import { createWorkerApp } from "../worker/app.ts";
import { ManagerLink } from "../worker/manager_link.ts";
import { SimNode, type SimNodeOptions } from "./sim_node.ts";

export interface FleetOptions extends Omit<SimNodeOptions, "name" | "onChange"> {
  count: number;
  managerUrl: string;
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
  const server = listen(
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
    { hostname: options.hostname ?? "127.0.0.1" },
  );
  for (let i = 1; i <= options.count; i++) {
    const node = new SimNode({ ...options, name: `${prefix}-${String(i).padStart(width, "0")}` });
    nodes.push(node);
    apps.set(node.name, createWorkerApp({ worker: node }));
    const link = new ManagerLink({
      managerUrl: options.managerUrl,
      advertiseUrl: `${server.url}/n/${node.name}`,
      worker: node,
      heartbeatIntervalMs: intervalMs,
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
  };
  return { url: server.url, nodes, kill, close, [Symbol.asyncDispose]: close };
}
