/**
 * A simulated worker node: the worker's protocol (the same HTTP API, heartbeats with
 * stats, pushed task changes) with tasks that reach Running without Docker. Only the
 * manager is under test when many of these run in one process.
 *
 * State is kept in memory on purpose: a simulated node stands in for a machine, and the
 * benchmarks restart the manager, never the simulator.
 *
 * @module
 */

import { CubeError } from "../http/errors.ts";
import { isActive, State, type Stats, type Task, type TaskEvent, transition } from "../task/mod.ts";
import type { AgentHealth, NodeAgent, SubmitResult } from "../worker/agent.ts";

export interface SimNodeOptions {
  name: string;
  /** Capacity the node reports: cores and bytes. */
  cores?: number;
  memory?: number;
  disk?: number;
  /** How long a simulated container takes to start, in ms (0: on the next tick). */
  startDelayMs?: number;
  /** Called after every change of a task's record (the manager link pushes it). */
  onChange?: (task: Task) => void;
}

const GiB = 1024 ** 3;

function containerId(): string {
  return (crypto.randomUUID() + crypto.randomUUID()).replaceAll("-", "");
}

export class SimNode implements NodeAgent {
  readonly name: string;
  readonly #tasks = new Map<string, Task>();
  readonly #timers = new Set<ReturnType<typeof setTimeout>>();
  /** Containers "started" per task ID: a benchmark's proof that nothing was started twice. */
  readonly starts = new Map<string, number>();
  readonly #cores: number;
  readonly #memory: number;
  readonly #disk: number;
  readonly #startDelayMs: number;
  onChange: (task: Task) => void;

  constructor(options: SimNodeOptions) {
    this.name = options.name;
    this.#cores = options.cores ?? 4;
    this.#memory = options.memory ?? 16 * GiB;
    this.#disk = options.disk ?? 100 * GiB;
    this.#startDelayMs = options.startDelayMs ?? 0;
    this.onChange = options.onChange ?? (() => {});
  }

  /** Cancels pending simulated starts. */
  close(): void {
    for (const timer of this.#timers) clearTimeout(timer);
    this.#timers.clear();
  }

  submit(event: TaskEvent): Promise<SubmitResult> {
    const id = event.Task.ID;
    if (event.State === State.Completed || event.Task.State === State.Completed) {
      return this.stop(id).then((task) => ({ task, created: false }));
    }
    const existing = this.#tasks.get(id);
    if (existing && isActive(existing.State)) {
      return Promise.resolve({ task: existing, created: false });
    }
    const incoming: Task = { ...event.Task, Node: this.name, ContainerID: "", Error: "" };
    const task = existing
      ? transition(existing, State.Scheduled, { ...incoming, CreateTime: existing.CreateTime })
      : transition({ ...incoming, State: State.Pending }, State.Scheduled);
    this.#save(task);
    const timer = setTimeout(() => {
      this.#timers.delete(timer);
      const current = this.#tasks.get(id);
      if (current?.State !== State.Scheduled) return;
      this.starts.set(id, (this.starts.get(id) ?? 0) + 1);
      this.#save(transition(current, State.Running, {
        ContainerID: containerId(),
        StartTime: new Date().toISOString(),
      }));
    }, this.#startDelayMs);
    this.#timers.add(timer);
    return Promise.resolve({ task, created: true });
  }

  list(): Promise<Task[]> {
    return Promise.resolve([...this.#tasks.values()]);
  }

  get(id: string): Promise<Task | null> {
    return Promise.resolve(this.#tasks.get(id) ?? null);
  }

  stop(id: string): Promise<Task> {
    const task = this.#tasks.get(id);
    if (!task) {
      return Promise.reject(new CubeError(404, `Task ${id} not found on worker ${this.name}`));
    }
    if (!isActive(task.State)) return Promise.resolve(task);
    return Promise.resolve(this.#save(transition(task, State.Completed, {
      FinishTime: new Date().toISOString(),
      ExitCode: 0,
    })));
  }

  logs(id: string): Promise<ReadableStream<Uint8Array>> {
    if (!this.#tasks.has(id)) {
      return Promise.reject(new CubeError(404, `Task ${id} not found on worker ${this.name}`));
    }
    const line = new TextEncoder().encode(`simulated node ${this.name}: no container output\n`);
    return Promise.resolve(ReadableStream.from([line]));
  }

  stats(): Promise<Stats> {
    const active = [...this.#tasks.values()].filter((t) => isActive(t.State)).length;
    const kB = (bytes: number) => Math.round(bytes / 1024);
    return Promise.resolve({
      MemStats: {
        mem_total: kB(this.#memory),
        mem_free: kB(this.#memory),
        mem_available: kB(this.#memory),
        buffers: 0,
        cached: 0,
        swap_total: 0,
        swap_free: 0,
      },
      DiskStats: { all: this.#disk, used: 0, free: this.#disk, freeInodes: 0 },
      CpuStats: {
        id: "cpu",
        user: 0,
        nice: 0,
        system: 0,
        idle: 0,
        iowait: 0,
        irq: 0,
        softirq: 0,
        steal: 0,
        guest: 0,
        guest_nice: 0,
      },
      LoadStats: {
        last1min: 0,
        last5min: 0,
        last15min: 0,
        process_running: 0,
        process_total: 0,
        last_pid: 0,
      },
      TaskCount: active,
      CpuCores: this.#cores,
      CpuUsage: 0,
      CpuUsageIntervalMs: 0,
      MemoryTotalBytes: this.#memory,
      MemoryAvailableBytes: this.#memory,
      DiskTotalBytes: this.#disk,
      DiskFreeBytes: this.#disk,
    });
  }

  health(): Promise<AgentHealth> {
    return Promise.resolve({ Status: "ok", Name: this.name, Docker: "simulated" });
  }

  #save(task: Task): Task {
    this.#tasks.set(task.ID, task);
    this.onChange(task);
    return task;
  }
}
