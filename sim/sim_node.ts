/**
 * A simulated worker node: the worker's protocol (the same HTTP API, heartbeats with
 * stats, pushed task changes) with tasks that reach Running without Docker. Only the
 * manager is under test when many of these run in one process.
 *
 * Its records go through the worker's own `TaskRecords` (revisions, one writer), in a
 * store the seeded simulation keeps across a simulated crash.
 *
 * @module
 */

import { type Clock, systemClock } from "../lib/clock.ts";
import { CubeError } from "../lib/errors.ts";
import { MemoryDatabase, type Store } from "../store/mod.ts";
import {
  type FailureCause,
  finishedAt,
  isActive,
  State,
  type Stats,
  type Task,
  type TaskEvent,
} from "../task/mod.ts";
import type { AgentHealth, NodeAgent, SubmitResult } from "../worker/agent.ts";
import { TaskRecords } from "../worker/task_records.ts";

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
  /** Where the node keeps its records: kept across a simulated crash, like a KV file. */
  store?: Store<Task>;
  /** Waits for simulated time (the seeded simulation's clock). */
  clock?: Clock;
  /** Makes container IDs (the seeded simulation's come from its generator). */
  containerId?: () => string;
  /** Finished tasks' records are forgotten this long after they finished, in ms (as the worker's). */
  taskRetentionMs?: number;
}

const GiB = 1024 ** 3;

function containerId(): string {
  return (crypto.randomUUID() + crypto.randomUUID()).replaceAll("-", "");
}

export class SimNode implements NodeAgent {
  readonly name: string;
  readonly records: TaskRecords;
  readonly #closing = new AbortController();
  /** Containers "started" per task ID: a benchmark's proof that nothing was started twice. */
  readonly starts = new Map<string, number>();
  readonly #cores: number;
  readonly #memory: number;
  readonly #disk: number;
  readonly #startDelayMs: number;
  readonly #clock: Clock;
  readonly #retentionMs: number;
  readonly #containerId: () => string;
  #collected = 0;

  constructor(options: SimNodeOptions) {
    this.name = options.name;
    this.#cores = options.cores ?? 4;
    this.#memory = options.memory ?? 16 * GiB;
    this.#disk = options.disk ?? 100 * GiB;
    this.#startDelayMs = options.startDelayMs ?? 0;
    this.#clock = options.clock ?? systemClock;
    this.#retentionMs = options.taskRetentionMs ?? 24 * 3_600_000;
    this.#containerId = options.containerId ?? containerId;
    this.records = new TaskRecords(options.store ?? new MemoryDatabase().store<Task>("tasks"));
    this.records.onChange = options.onChange ?? (() => {});
  }

  set onChange(listener: (task: Task) => void) {
    this.records.onChange = listener;
  }

  /** Reads the records back (after a simulated crash) and finishes starts a crash cut short. */
  async recover(): Promise<void> {
    for (const task of await this.records.load()) {
      if (task.State === State.Scheduled) this.#startLater(task.ID);
    }
  }

  /** Cancels pending simulated starts. */
  close(): void {
    this.#closing.abort();
  }

  submit(event: TaskEvent): Promise<SubmitResult> {
    const id = event.Task.ID;
    if (event.State === State.Completed || event.Task.State === State.Completed) {
      return this.stop(id).then((task) => ({ task, created: false }));
    }
    return this.records.accept(event, this.name).then((result) => {
      if (result.created) this.#startLater(id);
      return result;
    });
  }

  #startLater(id: string): void {
    const signal = this.#closing.signal;
    this.#clock.sleep(this.#startDelayMs, signal).then(async () => {
      if (signal.aborted) return;
      await this.records.change(id, (current) => {
        // Whatever placement the record has by now: a later run of the same task adopts
        // the start in progress (as the worker's queued start reads the newest record).
        if (current?.State !== State.Scheduled) return null;
        // An image only one node has (`sim/only-on-<node>`): elsewhere the start fails, as
        // a real worker's does when the image is neither local nor pullable.
        const only = current.Image.match(/^sim\/only-on-(.+)$/)?.[1];
        if (only !== undefined && only !== this.name) {
          return {
            ...current,
            State: State.Failed,
            Error:
              `Cannot start task "${current.Name}": image "${current.Image}" not found locally and the pull failed`,
            FailureCause: "task",
            FinishTime: new Date(this.#clock.now()).toISOString(),
          };
        }
        this.starts.set(id, (this.starts.get(id) ?? 0) + 1);
        return {
          ...current,
          State: State.Running,
          ContainerID: this.#containerId(),
          StartTime: new Date(this.#clock.now()).toISOString(),
        };
      });
    });
  }

  /** A simulated container ends on its own (code 0: Completed; else Failed). */
  exit(
    id: string,
    exitCode: number,
    why = `container exited with code ${exitCode}`,
    cause: FailureCause = "task",
  ): Promise<Task | null> {
    return this.records.change(id, (t) =>
      t?.State === State.Running
        ? {
          ...t,
          State: exitCode === 0 ? State.Completed : State.Failed,
          ExitCode: exitCode,
          Error: exitCode === 0 ? "" : why,
          FailureCause: exitCode === 0 ? "" : cause,
          FinishTime: new Date(this.#clock.now()).toISOString(),
        }
        : null);
  }

  /** Tasks whose simulated container runs here now. */
  running(): Task[] {
    return this.records.list().filter((t) => t.State === State.Running);
  }

  list(): Promise<Task[]> {
    return Promise.resolve(this.records.list());
  }

  get(id: string): Promise<Task | null> {
    return Promise.resolve(this.records.get(id));
  }

  stop(id: string): Promise<Task> {
    return this.records.change(id, (task) => {
      if (!task) throw new CubeError(404, `Task ${id} not found on worker ${this.name}`);
      if (!isActive(task.State)) return null;
      return {
        ...task,
        State: State.Completed,
        FinishTime: new Date(this.#clock.now()).toISOString(),
        ExitCode: 0,
      };
    }) as Promise<Task>;
  }

  logs(id: string): Promise<ReadableStream<Uint8Array>> {
    if (!this.records.get(id)) {
      return Promise.reject(new CubeError(404, `Task ${id} not found on worker ${this.name}`));
    }
    const line = new TextEncoder().encode(`simulated node ${this.name}: no container output\n`);
    return Promise.resolve(ReadableStream.from([line]));
  }

  /** Forgets finished records past their retention, at most once a minute (heartbeats ask). */
  async #collect(): Promise<void> {
    const now = this.#clock.now();
    if (now - this.#collected < 60_000) return;
    this.#collected = now;
    for (const task of this.records.list()) {
      if (isActive(task.State) || now - finishedAt(task) <= this.#retentionMs) continue;
      await this.records.hold(task.ID, async () => {
        const current = this.records.get(task.ID);
        if (current && !isActive(current.State)) await this.records.remove(task.ID);
      });
    }
  }

  async stats(): Promise<Stats> {
    await this.#collect();
    const active = this.records.activeCount;
    const kB = (bytes: number) => Math.round(bytes / 1024);
    return {
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
    };
  }

  health(): Promise<AgentHealth> {
    return Promise.resolve({ Status: "ok", Name: this.name, Docker: "simulated" });
  }
}
