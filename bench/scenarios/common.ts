/**
 * What several scenarios share: a manager started as a real process on a free loopback
 * port with its KV file in a temp dir, task submission, and waiting on the manager's view.
 *
 * @module
 */

import {
  type CubeProcess,
  spawnCube,
  trustManagerDir,
  waitForHealth,
} from "../../testing/process.ts";
import { freePort, trustedFetch, waitFor } from "../../testing/wait.ts";
import { State, type Task } from "../../task/mod.ts";
import { pool } from "../report.ts";

export interface ManagerProcess extends AsyncDisposable {
  url: string;
  /** The worker join token. */
  joinToken: string;
  process: CubeProcess;
  /** Starts it again (after a kill) on the same port and store, without waiting. */
  spawn(): void;
}

/** `cube manager` as its own process, so its memory and restarts are its own. */
export async function startManagerProcess(
  dir: string,
  env: Record<string, string> = {},
  extra: string[] = [],
): Promise<ManagerProcess> {
  const port = freePort();
  const url = `https://127.0.0.1:${port}`;
  const args = ["manager", "-H", "127.0.0.1", "-p", String(port), "--dir", dir, ...extra];
  const process = spawnCube(args, env);
  // Bench calls go through `trustedFetch`: the cluster CA and the admin token.
  const trusted = await trustManagerDir(url, dir, process);
  const handle: ManagerProcess = {
    url,
    joinToken: "",
    process,
    spawn() {
      handle.process = spawnCube(args, env);
    },
    [Symbol.asyncDispose]: async () => {
      await handle.process.kill();
      trusted[Symbol.dispose]();
    },
  };
  await waitForHealth(url, handle.process);
  handle.joinToken = (await (await trustedFetch(`${url}/tokens/join`)).json()).Token;
  return handle;
}

export async function submitTask(url: string, task: Record<string, unknown>): Promise<Task> {
  const response = await trustedFetch(`${url}/tasks`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(task),
  });
  const body = await response.json();
  if (response.status !== 201) throw new Error(`submit: ${response.status} ${body.Message}`);
  return body;
}

/** Submits `tasks` with `concurrency` requests in flight; returns each submit's start time. */
export function submitAll(
  url: string,
  tasks: Record<string, unknown>[],
  concurrency: number,
): Promise<number[]> {
  return pool(tasks, concurrency, async (task) => {
    const at = performance.now();
    await submitTask(url, task);
    return at;
  });
}

export async function listTasks(url: string): Promise<Task[]> {
  const response = await trustedFetch(`${url}/tasks`);
  if (!response.ok) throw new Error(`GET /tasks: ${response.status} ${await response.text()}`);
  return await response.json();
}

/**
 * Polls `GET /tasks` until `done` holds for every task in `ids`; returns the time it did.
 * A manager that does not answer yet (starting up) is asked again; on timeout the error
 * names the states last seen.
 */
export function waitForTasks(
  url: string,
  ids: Iterable<string>,
  done: (task: Task) => boolean,
  { timeoutMs = 120_000, intervalMs = 25 } = {},
): Promise<number> {
  const wanted = new Set(ids);
  return waitFor(`${wanted.size} tasks`, async () => {
    const tasks = (await listTasks(url)).filter((t) => wanted.has(t.ID));
    if (tasks.length === wanted.size && tasks.every(done)) return performance.now();
    const counts: Record<string, number> = {};
    for (const t of tasks) counts[State[t.State]] = (counts[State[t.State]] ?? 0) + 1;
    throw new Error(`states seen: ${JSON.stringify(counts)}`);
  }, { timeoutMs, intervalMs });
}

export const isRunning = (task: Task) => task.State === State.Running;
