/**
 * Health checks run on the worker, next to the container: the probe reaches the task's
 * published port on this host without crossing the network, keeps working while the
 * manager is unreachable, and costs the manager nothing as the cluster grows. (The book
 * probed from the manager, which needed every task port reachable from it.)
 *
 * @module
 */

import { sleep } from "../lib/async.ts";
import { errorMessage } from "../lib/errors.ts";
import { DEFAULT_HEALTH, State, type Task } from "../task/mod.ts";

/** The URL a task's `HealthCheck` path is probed at, or null when no port is published. */
export function probeUrl(task: Task): string | null {
  const ports = Object.keys(task.HostPorts).filter((p) => task.HostPorts[p]?.length);
  const port = Object.keys(task.ExposedPorts).find((p) => ports.includes(p)) ?? ports[0];
  if (!port) return null;
  const { HostIp, HostPort } = task.HostPorts[port][0];
  const host = HostIp === "" || HostIp === "0.0.0.0"
    ? "127.0.0.1"
    : HostIp === "::"
    ? "[::1]"
    : HostIp.includes(":")
    ? `[${HostIp}]`
    : HostIp;
  return `http://${host}:${HostPort}${task.HealthCheck}`;
}

/** One probe: null when healthy (any 2xx or 3xx), else what went wrong. */
export async function probe(url: string, timeoutMs: number): Promise<string | null> {
  try {
    const response = await fetch(url, {
      redirect: "manual",
      signal: AbortSignal.timeout(timeoutMs),
    });
    await response.body?.cancel();
    return response.status < 400 ? null : `HTTP ${response.status}`;
  } catch (error) {
    return error instanceof DOMException && error.name === "TimeoutError"
      ? `no answer within ${timeoutMs} ms`
      : errorMessage(error);
  }
}

/**
 * Probes every Running task that has a `HealthCheck`, every `Health.Interval` seconds,
 * after a first interval of grace. `FailureThreshold` failures in a row call
 * `onUnhealthy` once; the worker then stops the container and marks the task Failed.
 */
export class HealthMonitor {
  #watches = new Map<
    string,
    { containerId: string; controller: AbortController; done: Promise<void> }
  >();

  constructor(
    private readonly onUnhealthy: (task: Task, reason: string) => void,
    /** Told of every probe's result (the worker's metrics). */
    private readonly onProbe: (ok: boolean) => void = () => {},
    /** Told once per container, when its first probe passes. */
    private readonly onHealthy: (task: Task, message: string) => void = () => {},
  ) {}

  /** Starts, keeps or stops the probe of `task` to match its state. */
  sync(task: Task): void {
    const current = this.#watches.get(task.ID);
    const url = task.State === State.Running && task.HealthCheck ? probeUrl(task) : null;
    if (current && (!url || current.containerId !== task.ContainerID)) {
      current.controller.abort();
      this.#watches.delete(task.ID);
    }
    if (!url || this.#watches.has(task.ID)) return;
    const controller = new AbortController();
    const done = this.#watch(task, url, controller.signal);
    this.#watches.set(task.ID, { containerId: task.ContainerID, controller, done });
  }

  async #watch(task: Task, url: string, signal: AbortSignal): Promise<void> {
    const { Interval, Timeout, FailureThreshold } = { ...DEFAULT_HEALTH, ...task.Health };
    let failures = 0;
    let passed = false;
    while (!signal.aborted) {
      await sleep(Interval * 1000, signal);
      if (signal.aborted) return;
      const problem = await probe(url, Timeout * 1000);
      this.onProbe(problem === null);
      failures = problem ? failures + 1 : 0;
      if (!problem && !passed) {
        passed = true;
        this.onHealthy(task, `health check GET ${task.HealthCheck} passed`);
      }
      if (problem && failures >= FailureThreshold) {
        this.#watches.delete(task.ID);
        this.onUnhealthy(
          task,
          `health check GET ${task.HealthCheck} failed ${failures} times in a row: ${problem}`,
        );
        return;
      }
    }
  }

  async close(): Promise<void> {
    const watches = [...this.#watches.values()];
    this.#watches.clear();
    for (const w of watches) w.controller.abort();
    await Promise.all(watches.map((w) => w.done));
  }
}
