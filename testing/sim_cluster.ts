/**
 * A simulated cluster for in-process tests: the real manager and simulated workers on a
 * simulated network (no faults unless a test makes them) and a simulated clock, so a
 * test can let minutes or days pass in milliseconds.
 *
 * @module
 */

import { Checker } from "../simulation/checker.ts";
import { SimClock } from "../simulation/clock.ts";
import { MANAGER, SimCluster, type SimClusterOptions } from "../simulation/cluster.ts";
import { type NetworkFaults, SimNetwork } from "../simulation/network.ts";
import { Random } from "../simulation/random.ts";

export interface TestSimCluster extends AsyncDisposable {
  clock: SimClock;
  network: SimNetwork;
  cluster: SimCluster;
  checker: Checker;
  random: Random;
  /** What the manager and the nodes logged. */
  logs: string[];
  /** A call to the manager's API through the simulated network; time passes until it answers. */
  // deno-lint-ignore no-explicit-any
  call(method: string, path: string, body?: unknown): Promise<{ status: number; body: any }>;
  /** Lets simulated time pass. */
  run(ms: number): Promise<void>;
}

export async function startSimCluster(
  options: {
    nodes?: number;
    seed?: number;
    faults?: Partial<NetworkFaults>;
    manager?: SimClusterOptions["manager"];
  } = {},
): Promise<TestSimCluster> {
  const clock = new SimClock();
  const random = new Random(options.seed ?? 1);
  const network = new SimNetwork(clock, random, {
    loss: 0,
    duplicate: 0,
    maxDelayMs: 5,
    ...options.faults,
  });
  const checker = new Checker(() => clock.now());
  network.onDelivered = (from, to, method, path, status) => {
    if (to === MANAGER && method === "POST" && path === "/nodes" && status === 200) {
      checker.heartbeats.set(from, clock.now());
    }
  };
  const logs: string[] = [];
  const cluster = new SimCluster({
    clock,
    network,
    random,
    nodes: options.nodes ?? 2,
    manager: options.manager,
    onManager: (manager) => checker.watch(manager),
    log: (line) => logs.push(line),
  });
  await cluster.start();
  await clock.run(2_000);
  const client = network.transport("client");
  return {
    clock,
    network,
    cluster,
    checker,
    random,
    logs,
    async call(method, path, body) {
      let done = false;
      const pending = client(`http://${MANAGER}${path}`, {
        method,
        headers: { "content-type": "application/json" },
        body: body === undefined ? undefined : JSON.stringify(body),
      }, 10_000).finally(() => done = true);
      // The answer comes through simulated time: let it pass until it does.
      while (!done) await clock.run(5);
      const response = await pending;
      const text = await response.text();
      return { status: response.status, body: text ? JSON.parse(text) : null };
    },
    run: (ms) => clock.run(ms),
    [Symbol.asyncDispose]: () => cluster.close(),
  };
}
