/**
 * Scenario 1: submit to Running, against the floor. N tasks of a small local image with a
 * pinned tag go through cube until all are Running in the manager's view; then the same N
 * containers are created and started straight through the Docker Engine API with the same
 * concurrency (three workers with eight starts in flight each: 24). The ratio is what
 * cube costs over bare Docker. cube runs as users run it: `cube manager` and three
 * `cube worker` processes with default settings, joined with the join token (HTTPS,
 * tokens) or, in the book's static mode, listed with `--workers` (open HTTP on loopback).
 *
 * @module
 */

import Docker from "dockerode";
import {
  docker as engine,
  removeContainersOf,
  SLEEP_IMAGE,
  uniqueName,
} from "../../testing/docker.ts";
import { type CubeProcess, spawnCube } from "../../testing/process.ts";
import { freePort, tempDir, trustedFetch, waitFor } from "../../testing/wait.ts";
import { errorMessage } from "../../lib/errors.ts";
import { ndjson } from "../../lib/ndjson.ts";
import { type ClusterEvent, State } from "../../task/mod.ts";
import { ms, pool, ratio, type Section, summarize, verdict } from "../report.ts";
import { cpuUsage, readCpuStat } from "../../worker/stats.ts";
import { type ManagerProcess, startManagerProcess, submitTask } from "./common.ts";

const WORKERS = 3;
const PER_WORKER = 8;
const CONCURRENCY = WORKERS * PER_WORKER;
/** A pinned tag: with the default pull policy a local copy of it is used as it is. */
const IMAGE = `${SLEEP_IMAGE}:bench`;
/** Rounds of the three paths at N = 20 to 50, and above. */
const REPEATS = 7;
const REPEATS_LARGE = 3;

type Mode = "joined" | "static";
type Path = "docker" | Mode;
const PATHS: Path[] = ["docker", "joined", "static"];

interface Run {
  totalMs: number;
  latencies: number[];
}

/** A manager and three workers as processes, with default settings but ports and dirs. */
async function startCube(mode: Mode, dir: string) {
  const prefix = uniqueName("b");
  const names = Array.from({ length: WORKERS }, (_, i) => `${prefix}-${i + 1}`);
  const ports = names.map(() => freePort());
  const workers: CubeProcess[] = [];
  const worker = (name: string, port: number, extra: string[]) =>
    spawnCube([
      "worker",
      "--name",
      name,
      "-H",
      "127.0.0.1",
      "-p",
      String(port),
      "--dir",
      `${dir}/${name}`,
      "--publish-ip",
      "127.0.0.1",
      ...extra,
    ]);
  let manager: ManagerProcess;
  if (mode === "static") {
    // The book's way: open workers on loopback, listed by the manager.
    names.forEach((name, i) => workers.push(worker(name, ports[i], [])));
    manager = await startManagerProcess(`${dir}/manager`, {}, [
      "--workers",
      ports.map((p) => `http://127.0.0.1:${p}`).join(","),
    ]);
  } else {
    const joined = manager = await startManagerProcess(`${dir}/manager`);
    names.forEach((name, i) =>
      workers.push(
        worker(name, ports[i], ["--manager", joined.url, "--join-token", joined.joinToken]),
      )
    );
  }
  const stop = async () => {
    await Promise.all(workers.map((w) => w.kill()));
    await manager[Symbol.asyncDispose]();
    await Promise.all(names.map((name) => removeContainersOf(name)));
  };
  try {
    await waitFor(`${WORKERS} nodes ready`, async () => {
      const health = await (await trustedFetch(`${manager.url}/health`)).json();
      return health.Nodes === WORKERS;
    }, { timeoutMs: 60_000 });
  } catch (error) {
    // What the workers said is the only clue to one that never became ready.
    const said = workers.map((w, i) => `${names[i]}: ${w.output().trim().slice(-600)}`);
    await stop();
    throw new Error(`${errorMessage(error)}\n${said.join("\n")}`);
  }
  return { url: manager.url, [Symbol.asyncDispose]: stop };
}

/** The run with the median total (of an odd count: the middle one). */
function medianRun(runs: Run[]): Run {
  return [...runs].sort((a, b) => a.totalMs - b.totalMs)[Math.floor(runs.length / 2)];
}

async function throughCube(n: number, mode: Mode): Promise<Run> {
  await using dir = await tempDir();
  await using cluster = await startCube(mode, dir.path);
  const submitted = new Map<string, number>();
  // Convergence is watched as a user watches it, through the manager's event stream (from
  // its first event: no race with the first submit), not by polling: a /health every 10 ms
  // cost the bench process and the manager more CPU than the manager's own work on the
  // tasks, on the two cores the engine needs. A Failed task ends the run at once.
  const abort = new AbortController();
  const stream = await trustedFetch(`${cluster.url}/events?since=0&type=task&format=ndjson`, {
    signal: abort.signal,
  });
  if (!stream.ok || !stream.body) throw new Error(`GET /events: ${stream.status}`);
  const start = performance.now();
  const submitting = pool(Array.from({ length: n }, (_, i) => i), CONCURRENCY, async (i) => {
    const id = crypto.randomUUID();
    submitted.set(id, Date.now());
    await submitTask(cluster.url, { ID: id, Name: `bench-${i}`, Image: IMAGE });
  });
  const timeout = setTimeout(() => abort.abort(), 120_000);
  try {
    const running = new Set<string>();
    for await (const event of ndjson<ClusterEvent>(stream.body)) {
      if (event.State === State.Failed) {
        throw new Error(`task ${event.Task} failed: ${event.Message}`);
      }
      if (event.Action === "Running" && event.Task && submitted.has(event.Task)) {
        running.add(event.Task);
      }
      if (running.size >= n) break;
    }
    if (running.size < n) throw new Error(`${n - running.size} tasks never ran`);
  } finally {
    clearTimeout(timeout);
    abort.abort();
  }
  const totalMs = performance.now() - start;
  await submitting;
  // Each task's latency: from its submit to the manager recording it Running (its history).
  const latencies = await pool([...submitted], 8, async ([id, at]) => {
    const events = await (await trustedFetch(`${cluster.url}/tasks/${id}/events`)).json();
    const running = events.find((e: { State: number }) => e.State === State.Running);
    return Date.parse(running.Timestamp) - at;
  });
  return { totalMs, latencies };
}

async function throughDocker(n: number): Promise<Run> {
  const docker = new Docker();
  const label = `cube-bench-${crypto.randomUUID().slice(0, 8)}`;
  const latencies: number[] = [];
  const start = performance.now();
  try {
    // All N are asked for at once, as with cube: each latency runs from the start, so
    // both sides count the time a start waits for a free lane.
    await pool(Array.from({ length: n }, (_, i) => i), CONCURRENCY, async (i) => {
      const container = await docker.createContainer({
        name: `${label}-${i}`,
        Image: IMAGE,
        Labels: { "cube.bench": label },
        HostConfig: { RestartPolicy: { Name: "no" } },
      });
      await container.start();
      latencies.push(performance.now() - start);
    });
    return { totalMs: performance.now() - start, latencies };
  } finally {
    const left = await docker.listContainers({
      all: true,
      filters: { label: [`cube.bench=${label}`] },
    });
    await pool(left, 8, (c) => docker.getContainer(c.Id).remove({ force: true }).catch(() => {}));
  }
}

/**
 * Waits until the machine is quiet (under 10% CPU busy over a quarter second, or 5 s at
 * most) before a run: a run must not pay for the cleanup of the one before it (removed
 * containers, exiting processes), whichever path that was.
 */
async function quiet(): Promise<void> {
  const deadline = performance.now() + 5_000;
  while (performance.now() < deadline) {
    const before = await readCpuStat();
    await new Promise((resolve) => setTimeout(resolve, 250));
    if (cpuUsage(before, await readCpuStat()) < 0.10) return;
  }
}

export async function submitToRunning({ sizes }: { sizes: number[] }): Promise<Section> {
  const rows: (string | number)[][] = [];
  const notes: string[] = [];
  await engine.getImage(SLEEP_IMAGE).tag({ repo: SLEEP_IMAGE, tag: "bench" });
  try {
    for (const n of sizes) {
      // Rounds of the three paths: one run of either side moves by ±10% on two shared
      // cores, the engine's own floor included, and the machine's speed drifts over
      // minutes. So each round runs the three paths back to back, in an order that
      // rotates (none always follows the same one), and cube's ratio is the median of its
      // rounds' ratios to that round's direct run. (`--quick` sizes run once.)
      const rounds = n < 20 ? 1 : n <= 50 ? REPEATS : REPEATS_LARGE;
      const runs: Record<Path, Run[]> = { docker: [], joined: [], static: [] };
      for (let i = 0; i < rounds; i++) {
        for (let k = 0; k < PATHS.length; k++) {
          const path = PATHS[(i + k) % PATHS.length];
          await quiet();
          runs[path].push(path === "docker" ? await throughDocker(n) : await throughCube(n, path));
        }
      }
      const direct = medianRun(runs.docker);
      const row = (path: string, run: Run, cubeOverDirect: number) => {
        const summary = summarize(run.latencies);
        return [
          `${path}, N=${n}`,
          ms(run.totalMs),
          ms(summary.p50),
          ms(summary.p95),
          ms(summary.max),
          ratio(cubeOverDirect, 1),
        ];
      };
      rows.push(row("docker API", direct, 1));
      for (const mode of ["joined", "static"] as const) {
        const ratios = runs[mode].map((run, i) => run.totalMs / runs.docker[i].totalMs);
        // The middle ratio (rounds are odd in number: 1, 3 or 7).
        const paired = summarize(ratios).p50;
        rows.push(row(`cube ${mode}`, medianRun(runs[mode]), paired));
        if (n >= 20) {
          notes.push(
            `N=${n} ${mode}: cube/direct ${ratio(paired, 1)}, target <= 1.10x: ${
              verdict(paired, 1.10)
            } (rounds: ${
              runs[mode].map((r, i) => `${ms(r.totalMs)}/${ms(runs.docker[i].totalMs)}`).join(", ")
            })`,
          );
        }
      }
    }
  } finally {
    await engine.getImage(IMAGE).remove().catch(() => {});
  }
  return {
    title: `Submit to Running vs the Docker API (${CONCURRENCY} starts in flight on each side)`,
    header: ["path", "total", "p50", "p95", "max", "ratio"],
    rows,
    notes: [
      ...notes,
      `${REPEATS} rounds of the three paths at N = 20 to 50, ${REPEATS_LARGE} above, in a rotating order,`,
      "  each after the machine is quiet; each row the path's median run; ratio: the median of",
      "  the rounds' cube/direct ratios (rounds: cube/direct totals, round by round)",
      "cube: a manager and 3 workers as processes with default settings; joined (HTTPS, tokens)",
      "  or static (--workers, open HTTP on loopback); POST /tasks until the manager's event stream",
      "  has told of all Running; per task: submit to Running in the manager's history;",
      `docker: create + start with dockerode, the floor (no image check, no inspect, no state);`,
      `image ${IMAGE}: a pinned tag, used as it is by the default pull policy`,
    ],
  };
}
