/**
 * Scenario 6: what security costs. The same manager code, in this process, twice: as it
 * was before issue 9 (plain HTTP straight into `Deno.serve`, no tokens, nodes on plain
 * HTTP) and as it runs now (HTTPS from the cluster CA, a bearer token checked on every
 * request, the slow-client guard in front, nodes joined with the join token and called
 * over HTTPS with their credential). One load generator, one run, so the ratios compare
 * like with like: API throughput, and submit to Running on simulated nodes.
 *
 * @module
 */

import { createManagerApp, Manager } from "../../manager/mod.ts";
import { listen } from "../../http/serve.ts";
import { startManager } from "../../roles/start.ts";
import { createScheduler } from "../../scheduler/mod.ts";
import { startFleet } from "../../sim/mod.ts";
import { KvDatabase } from "../../store/mod.ts";
import { testManagerSettings } from "../../testing/cluster.ts";
import { tempDir, waitFor } from "../../testing/wait.ts";
import { trustingClient } from "../../lib/transport.ts";
import { ms, ratio, type Section, summarize } from "../report.ts";
import { type Load, load } from "./api.ts";

interface Variant {
  url: string;
  joinToken?: string;
  /** fetch with the variant's trust and token. */
  call(path: string, init?: RequestInit): Promise<Response>;
  close(): Promise<void>;
}

async function openVariant(dir: string): Promise<Variant> {
  const db = await KvDatabase.open(`${dir}/open.kv`);
  const manager = new Manager({
    db,
    scheduler: createScheduler("epvm"),
    heartbeatIntervalMs: 1_000,
    log: () => {},
  });
  await manager.start();
  const server = await listen(createManagerApp({ manager }), { guard: false });
  return {
    url: server.url,
    call: (path, init) => fetch(`${server.url}${path}`, init),
    async close() {
      await server.close();
      await manager.close();
      db.close();
    },
  };
}

async function secureVariant(dir: string): Promise<Variant> {
  const started = await startManager(
    testManagerSettings(dir, { heartbeatInterval: 1, nodeTimeout: 5 }),
  );
  const client = trustingClient(started.caPem);
  const authorization = `Bearer ${started.adminToken}`;
  return {
    url: started.url,
    joinToken: started.joinToken(),
    call: (path, init = {}) => {
      const headers = new Headers(init.headers);
      headers.set("authorization", authorization);
      return fetch(`${started.url}${path}`, { ...init, headers, client });
    },
    async close() {
      client.close();
      await started.close();
    },
  };
}

interface Figures {
  reads: Load;
  writes: Load;
  runningMs: number;
}

async function measure(
  variant: Variant,
  { durationMs, tasks, concurrency }: { durationMs: number; tasks: number; concurrency: number },
): Promise<Figures> {
  await using _fleet = await startFleet({
    count: 10,
    managerUrl: variant.url,
    joinToken: variant.joinToken,
    prefix: "sec",
  });
  await waitFor("10 simulated nodes", async () => {
    const nodes = await (await variant.call("/nodes")).json();
    return nodes.filter((n: { Status: string }) => n.Status === "ready").length === 10;
  });
  const post = (name: string) =>
    variant.call("/tasks", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ Name: name, Image: "cube-test/sleep" }),
    });
  // Submit to Running: `tasks` submissions, 16 in flight, until all run.
  const start = performance.now();
  const ids: string[] = [];
  await load(async (i) => {
    const response = await post(`run-${i}`);
    if (response.ok) ids.push((await response.clone().json()).ID);
    return response;
  }, { concurrency, count: tasks });
  await waitFor(`${tasks} tasks to run`, async () => {
    const { States } = await (await variant.call("/health")).json();
    return States.Running >= tasks;
  }, { timeoutMs: 120_000, intervalMs: 10 });
  const runningMs = performance.now() - start;
  const reads = await load(
    (i) => variant.call(`/tasks/${ids[i % ids.length]}`),
    { concurrency, durationMs },
  );
  const writes = await load((i) => post(`load-${i}`), { concurrency, durationMs });
  return { reads, writes, runningMs };
}

export async function securityCost({ quick }: { quick: boolean }): Promise<Section> {
  const durationMs = quick ? 500 : 5_000;
  const tasks = quick ? 50 : 500;
  const concurrency = 16;
  await using dir = await tempDir();
  const open = await openVariant(dir.path);
  let before: Figures;
  try {
    before = await measure(open, { durationMs, tasks, concurrency });
  } finally {
    await open.close();
  }
  const secure = await secureVariant(dir.path);
  let after: Figures;
  try {
    after = await measure(secure, { durationMs, tasks, concurrency });
  } finally {
    await secure.close();
  }
  const rate = (l: Load) => Math.round(l.requests / l.seconds);
  const row = (label: string, a: Load, b: Load) => [
    label,
    rate(a),
    rate(b),
    ratio(rate(a), rate(b)),
    `${ms(summarize(a.latencies).p50)} → ${ms(summarize(b.latencies).p50)}`,
    a.errors + b.errors,
  ];
  return {
    title:
      `What TLS, tokens and the slow-client guard cost (in-process, ${concurrency} in flight, 10 simulated nodes)`,
    header: ["measure", "plain HTTP, no auth", "HTTPS + token + guard", "cost", "p50", "errors"],
    rows: [
      row("GET /tasks/{id} requests/s", before.reads, after.reads),
      row("POST /tasks requests/s", before.writes, after.writes),
      [
        `${tasks} tasks submit → all Running`,
        ms(before.runningMs),
        ms(after.runningMs),
        ratio(after.runningMs, before.runningMs),
        "",
        0,
      ],
    ],
    notes: [
      "cost: how many times slower; connections are kept alive, so a TLS handshake is paid once per client",
      "the manager, the nodes and the load generator share one process and the 2 cores",
    ],
  };
}
