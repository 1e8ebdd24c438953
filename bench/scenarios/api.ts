/**
 * Scenario 5: API throughput. A loopback load generator keeps `concurrency` requests in
 * flight against a manager process for a fixed time: `GET /tasks/{id}` over stored
 * tasks, then `POST /tasks` of new tasks placed onto simulated nodes.
 *
 * @module
 */

import { startFleet } from "../../sim/mod.ts";
import { tempDir, trustedFetch } from "../../testing/wait.ts";
import { ms, type Section, summarize } from "../report.ts";
import { startManagerProcess, submitAll } from "./common.ts";

export interface Load {
  requests: number;
  errors: number;
  seconds: number;
  latencies: number[];
}

/** Keeps `concurrency` calls of `send` in flight for `durationMs`, or for `count` calls. */
export async function load(
  send: (i: number) => Promise<Response>,
  { concurrency, durationMs = Infinity, count = Infinity }: {
    concurrency: number;
    durationMs?: number;
    count?: number;
  },
): Promise<Load> {
  const latencies: number[] = [];
  let errors = 0;
  let i = 0;
  const start = performance.now();
  const end = start + durationMs;
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (performance.now() < end && i < count) {
      const t0 = performance.now();
      const response = await send(i++);
      await response.arrayBuffer();
      if (!response.ok) errors++;
      latencies.push(performance.now() - t0);
    }
  }));
  return {
    requests: latencies.length,
    errors,
    seconds: (performance.now() - start) / 1000,
    latencies,
  };
}

export async function apiThroughput(
  { quick, concurrency = 16 }: { quick: boolean; concurrency?: number },
): Promise<Section> {
  const durationMs = quick ? 500 : 5_000;
  await using dir = await tempDir();
  await using manager = await startManagerProcess(dir.path);
  await using _fleet = await startFleet({
    count: 10,
    managerUrl: manager.url,
    joinToken: manager.joinToken,
    prefix: "api",
  });
  const seed = Array.from({ length: quick ? 100 : 1_000 }, (_, i) => ({
    ID: crypto.randomUUID(),
    Name: `seed-${i}`,
    Image: "cube-test/sleep",
  }));
  await submitAll(manager.url, seed, concurrency);

  const reads = await load(
    (i) => trustedFetch(`${manager.url}/tasks/${seed[i % seed.length].ID}`),
    { concurrency, durationMs },
  );
  const writes = await load(
    (i) =>
      trustedFetch(`${manager.url}/tasks`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ Name: `load-${i}`, Image: "cube-test/sleep" }),
      }),
    { concurrency, durationMs },
  );
  const row = (label: string, l: Load) => {
    const s = summarize(l.latencies);
    return [label, Math.round(l.requests / l.seconds), ms(s.p50), ms(s.p99), l.errors];
  };
  return {
    title: `API throughput (${concurrency} requests in flight, ${durationMs / 1000} s each)`,
    header: ["route", "requests/s", "p50", "p99", "errors"],
    rows: [
      row("GET /tasks/{id}", reads),
      row("POST /tasks (placed on 10 simulated nodes)", writes),
    ],
    notes: [
      "load generator, simulated nodes and manager share the 2 cores; each POST is durable (group commit)",
    ],
  };
}
