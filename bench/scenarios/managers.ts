/**
 * Scenario 8: several managers on etcd. (a) Failover: three manager processes with default
 * settings on a 3-member etcd (scripts/etcd.sh), ten simulated nodes; the leader is killed
 * with -9 again and again (and started again as a follower): the time until another
 * manager accepts a submission, and until that task is Running. (b) The same manager
 * process on Deno KV and on etcd: submissions per second and submit-to-Running for N
 * tasks on simulated nodes. (c) The 10,000-replica service of scenario 7 with etcd as
 * the store.
 *
 * @module
 */

import { startFleet } from "../../sim/mod.ts";
import { startEtcd } from "../../testing/etcd.ts";
import { type Managers, startManagers } from "../../testing/managers.ts";
import { tempDir, trustedFetch, waitFor } from "../../testing/wait.ts";
import { mib, ms, ratio, type Section, summarize, verdict } from "../report.ts";
import { load } from "./api.ts";
import { isRunning, type ManagerProcess, startManagerProcess, waitForTasks } from "./common.ts";
import { manyReplicas } from "./services.ts";

/** Posts a task to `url`; its ID when accepted, null otherwise (no answer, or a 503). */
async function offer(url: string, name: string): Promise<string | null> {
  try {
    const response = await trustedFetch(`${url}/tasks`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ Name: name, Image: "cube-test/sleep" }),
      signal: AbortSignal.timeout(2_000),
    });
    const body = await response.json();
    return response.status === 201 ? body.ID : null;
  } catch {
    return null;
  }
}

async function failover(kills: number) {
  await using etcd = await startEtcd();
  await using dir = await tempDir();
  await using managers = await startManagers(etcd.url, dir.path, 3, { timings: [] });
  await using _fleet = await startFleet({
    count: 10,
    managerUrl: managers.urls.join(","),
    joinToken: managers.joinToken,
    prefix: "fo",
  });
  const accepted: number[] = [];
  const running: number[] = [];
  for (let k = 0; k < kills; k++) {
    const leader = await managers.leader();
    const others = managers.urls.filter((_, i) => i !== leader);
    const killed = performance.now();
    await managers.processes[leader].kill();
    let id: string | null = null;
    for (let i = 0; id === null; i++) {
      if (performance.now() - killed > 30_000) throw new Error("no manager took over in 30 s");
      id = await offer(others[i % others.length], `failover-${k}`);
      if (id === null) await new Promise((r) => setTimeout(r, 50));
    }
    accepted.push(performance.now() - killed);
    const url = others[0];
    await waitForTasks(url, [id], isRunning, { intervalMs: 20 });
    running.push(performance.now() - killed);
    await managers.restart(leader);
  }
  return { accepted: summarize(accepted), running: summarize(running) };
}

/** A single manager process on etcd, shaped as scenario 7's manager process. */
function onEtcd(store: string) {
  return async (dir: string): Promise<ManagerProcess & { managers: Managers }> => {
    const managers = await startManagers(store, dir, 1, { timings: [] });
    return {
      url: managers.urls[0],
      joinToken: managers.joinToken,
      process: managers.processes[0],
      managers,
      spawn: () => {
        throw new Error("not used");
      },
      [Symbol.asyncDispose]: () => managers[Symbol.asyncDispose](),
    };
  };
}

async function throughput(start: (dir: string) => Promise<ManagerProcess>, tasks: number) {
  await using dir = await tempDir();
  await using manager = await start(dir.path);
  await using _fleet = await startFleet({
    count: 10,
    managerUrl: manager.url,
    joinToken: manager.joinToken,
    prefix: "tp",
  });
  await waitFor("10 nodes", async () => {
    const health = await (await trustedFetch(`${manager.url}/health`)).json();
    return health.Nodes === 10;
  }, { timeoutMs: 30_000 });
  const ids: string[] = Array.from({ length: tasks }, () => crypto.randomUUID());
  const started = performance.now();
  const writes = await load(
    (i) =>
      trustedFetch(`${manager.url}/tasks`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ ID: ids[i], Name: `tp-${i}`, Image: "cube-test/sleep" }),
      }),
    { concurrency: 16, count: tasks },
  );
  if (writes.errors > 0) throw new Error(`${writes.errors} submissions failed`);
  await waitForTasks(manager.url, ids, isRunning, { intervalMs: 20 });
  return {
    perSecond: writes.requests / writes.seconds,
    allRunning: performance.now() - started,
    p50: summarize(writes.latencies).p50,
  };
}

export async function managers(
  { quick, nodes, replicas }: { quick: boolean; nodes: number; replicas: number },
): Promise<Section> {
  const kills = quick ? 2 : 10;
  const fail = await failover(kills);
  const tasks = quick ? 50 : 1_000;
  await using etcd = await startEtcd();
  const kv = await throughput(startManagerProcess, tasks);
  const shared = await throughput(onEtcd(`${etcd.url}-tp`), tasks);
  const many = await manyReplicas(nodes, replicas, onEtcd(`${etcd.url}-many`));
  const full = nodes >= 1000 && replicas >= 10_000;
  return {
    title: `Several managers on etcd: failover over ${kills} kills; etcd against Deno KV`,
    header: ["figure", "value", "target"],
    rows: [
      [
        "kill -9 of the leader → another accepts a task: median / max",
        `${ms(fail.accepted.p50)} / ${ms(fail.accepted.max)}`,
        `≤ 5 s (goal 3 s): ${verdict(fail.accepted.max, 5_000)}`,
      ],
      [
        "kill -9 of the leader → a new task Running: median / max",
        `${ms(fail.running.p50)} / ${ms(fail.running.max)}`,
        "",
      ],
      [
        `POST /tasks per second (16 in flight, ${tasks} tasks): KV / etcd`,
        `${Math.round(kv.perSecond)} / ${Math.round(shared.perSecond)}`,
        `etcd/KV ${ratio(shared.perSecond, kv.perSecond)}`,
      ],
      [
        `${tasks} tasks: first submit → all Running: KV / etcd`,
        `${ms(kv.allRunning)} / ${ms(shared.allRunning)}`,
        `etcd/KV ${ratio(shared.allRunning, kv.allRunning)}`,
      ],
      [
        `${replicas} replicas on ${nodes} simulated nodes, etcd: one request → all Running`,
        ms(many.up),
        full ? `< 5 s: ${verdict(many.up, 5_000)}` : "(quick size)",
      ],
      ["manager RSS then", mib(many.memory.rss), ""],
      [`scaled to 0, then back to ${replicas}`, `${ms(many.down)}, ${ms(many.again)}`, ""],
    ],
    notes: [
      "3-member etcd on loopback (scripts/etcd.sh), managers with default settings (lease TTL 3 s), simulated nodes; all on the same 2 cores",
    ],
  };
}
