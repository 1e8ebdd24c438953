/**
 * One seeded run: a random schedule of submissions, stops and faults against a
 * simulated cluster, then healing, settling and the checks. The seed decides everything,
 * so a failing seed replays exactly: `deno task simulate --seed S`.
 *
 * @module
 */

import type { Task } from "../task/mod.ts";
import { Checker } from "./checker.ts";
import { SimClock } from "./clock.ts";
import { MANAGER, SimCluster } from "./cluster.ts";
import { SimNetwork } from "./network.ts";
import { Random } from "./random.ts";

export interface RunOptions {
  seed: number;
  /** Actions in the schedule. */
  steps?: number;
  nodes?: number;
  /** Simulated time given to the healed cluster before the checks, in ms. */
  settleMs?: number;
  /** Lines of what happened, for replaying a failure. */
  log?: (line: string) => void;
}

export interface RunResult {
  seed: number;
  violations: string[];
  fingerprint: string;
  /** Simulated time the run covered, in ms. */
  simulatedMs: number;
  submitted: number;
  changes: number;
}

const POLICIES: Task["RestartPolicy"][] = ["", "no", "on-failure", "always", "unless-stopped"];

export async function runSeed(options: RunOptions): Promise<RunResult> {
  const random = new Random(options.seed);
  const clock = new SimClock();
  const start = clock.now();
  const log = options.log ?? (() => {});
  const checker = new Checker(() => clock.now() - start);
  const network = new SimNetwork(clock, random, {
    loss: random.pick([0, 0.01, 0.05, 0.1]),
    duplicate: random.pick([0, 0.02, 0.1]),
    maxDelayMs: random.pick([5, 50, 300]),
  });
  network.onDelivered = (from, to, method, path, status) => {
    if (to === MANAGER && method === "POST" && path === "/nodes" && status === 200) {
      checker.heartbeats.set(from, clock.now() - start);
    }
  };
  const cluster = new SimCluster({
    clock,
    network,
    random,
    nodes: options.nodes ?? random.int(2, 5),
    scheduler: random.pick(["epvm", "roundrobin"]),
    onManager: (manager) => checker.watch(manager),
    log: (line) => log(`${clock.now() - start} ${line}`),
  });
  const onRejection = (event: PromiseRejectionEvent) => {
    event.preventDefault();
    checker.rejection(event.reason);
  };
  globalThis.addEventListener("unhandledrejection", onRejection);
  const client = network.transport("client");
  const call = async (method: string, path: string, body?: unknown) => {
    try {
      const response = await client(`http://${MANAGER}${path}`, {
        method,
        headers: { "content-type": "application/json" },
        body: body === undefined ? undefined : JSON.stringify(body),
      }, 10_000);
      await response.body?.cancel();
      return response.status;
    } catch {
      return 0; // refused or timed out: not acknowledged
    }
  };
  const requests: Promise<unknown>[] = [];
  let submitted = 0;
  try {
    await cluster.start();
    const steps = options.steps ?? 60;
    for (let step = 0; step < steps; step++) {
      await clock.run(random.int(10, 1_500));
      cluster.tickStore();
      const roll = random.next();
      const nodes = [...cluster.workers.keys()];
      const alive = cluster.alive();
      if (roll < 0.32) {
        const task = {
          ID: random.uuid(),
          Name: `t${step}`,
          // Now and then an image that only one node has: the others fail to start it.
          Image: random.chance(0.15) ? `sim/only-on-${random.pick(nodes)}` : "sim",
          RestartPolicy: random.pick(POLICIES),
          MaxRestarts: random.int(0, 3),
        };
        submitted++;
        log(`${clock.now() - start} submit ${task.ID.slice(0, 8)} ${task.RestartPolicy}`);
        requests.push(
          call("POST", "/tasks", task).then((status) => {
            if (status === 201) checker.acknowledged.add(task.ID);
          }),
        );
      } else if (roll < 0.40 && checker.acknowledged.size > 0) {
        const id = random.pick([...checker.acknowledged]);
        log(`${clock.now() - start} stop ${id.slice(0, 8)}`);
        requests.push(
          call("DELETE", `/tasks/${id}`).then((status) => {
            if (status === 204 && !checker.stopped.has(id)) {
              checker.stopped.set(id, clock.now() - start);
            }
          }),
        );
      } else if (roll < 0.55 && alive.length > 0) {
        const node = random.pick(alive);
        const running = node.running();
        if (running.length > 0) {
          const task = random.pick(running);
          const kind = random.pick(["exit0", "exit1", "unhealthy", "engine"] as const);
          log(`${clock.now() - start} ${kind} ${task.ID.slice(0, 8)} on ${node.name}`);
          if (kind === "engine") {
            await node.exit(task.ID, 137, "the Docker engine restarted", "infrastructure");
          } else if (kind === "unhealthy") {
            await node.exit(task.ID, 1, "health check GET /health failed 3 times in a row");
          } else await node.exit(task.ID, kind === "exit0" ? 0 : 1);
        }
      } else if (roll < 0.61) {
        const name = random.pick(nodes);
        if (cluster.workers.get(name)!.node) {
          log(`${clock.now() - start} crash ${name}`);
          cluster.crashWorker(name);
        } else {
          log(`${clock.now() - start} restart ${name}`);
          await cluster.startWorker(name);
        }
      } else if (roll < 0.65) {
        if (cluster.manager && random.chance(0.5)) {
          const ms = random.int(0, 3_000);
          log(`${clock.now() - start} another manager leads; the old one runs on for ${ms} ms`);
          await cluster.failOver(ms);
        } else if (cluster.manager) {
          log(`${clock.now() - start} crash the manager`);
          cluster.crashManager();
        } else {
          log(`${clock.now() - start} restart the manager`);
          await cluster.startManager();
        }
      } else if (roll < 0.69) {
        const ms = random.int(200, 8_000);
        log(`${clock.now() - start} the store fails for ${ms} ms`);
        cluster.failStore(ms);
      } else if (roll < 0.76) {
        const name = random.pick(nodes);
        const ms = random.pick([random.int(300, 4_000), random.int(6_000, 15_000)]);
        log(`${clock.now() - start} partition ${name} for ${ms} ms`);
        network.partition(name, ms);
      } else if (!cluster.manager && random.chance(0.5)) {
        log(`${clock.now() - start} restart the manager`);
        await cluster.startManager();
      }
    }
    log(`${clock.now() - start} heal`);
    await cluster.heal();
    await clock.run(options.settleMs ?? 90_000);
    await Promise.all(requests);
    checker.settled(cluster);
  } catch (error) {
    checker.violations.push(`the run threw: ${error instanceof Error ? error.stack : error}`);
  } finally {
    await cluster.close();
    globalThis.removeEventListener("unhandledrejection", onRejection);
  }
  return {
    seed: options.seed,
    violations: checker.violations,
    fingerprint: checker.fingerprint,
    simulatedMs: clock.now() - start,
    submitted,
    changes: checker.changes,
  };
}
