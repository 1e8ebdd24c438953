/**
 * The node agent: keeps the tasks sent to it running as containers, records every fact
 * in its store, and recovers from its own crash by adopting its labelled containers.
 *
 * Durability: an acknowledged request is first written as an *intent* (the desired
 * state of the task); the intent is deleted only once carried out. A worker killed at
 * any point replays the intents it finds on start, so nothing acknowledged is lost, and
 * it adopts running containers instead of starting them again, so nothing is doubled.
 *
 * @module
 */

import { sleep } from "../lib/async.ts";
import { CubeError, errorMessage } from "../http/errors.ts";
import type { Database, Store } from "../store/mod.ts";
import {
  describeTask,
  isActive,
  isTerminal,
  State,
  type Task,
  type TaskEvent,
  transition,
} from "../task/mod.ts";
import type { ContainerState, DockerRuntime } from "./docker_runtime.ts";
import type { AgentHealth, NodeAgent, SubmitResult } from "./agent.ts";
import { HealthMonitor } from "./health.ts";
import { KeyedQueue } from "./keyed_queue.ts";
import { type Stats, StatsCollector } from "./stats.ts";

export interface WorkerOptions {
  /** This node's name; labels its containers, so it must be stable across restarts. */
  name: string;
  db: Database;
  runtime: DockerRuntime;
  /** Container starts and stops in flight at once. */
  concurrency?: number;
  /** Seconds a container gets to exit after SIGTERM before SIGKILL. */
  stopGraceSeconds?: number;
  /** Safety-net poll of container states (Docker events are the fast path), in ms. */
  reconcileIntervalMs?: number;
  /**
   * What this node offers the scheduler, when not all of the machine (like Nomad's
   * `cpu_total_compute`/`memory_total_mb`): cores and bytes.
   */
  capacity?: { cpu?: number; memory?: number; disk?: number };
  /** Called after every change of a task's record. */
  onChange?: (task: Task) => void;
  log?: (message: string) => void;
}

function exitReason(state: ContainerState): string {
  if (state.oomKilled) return `container was killed: out of memory (exit code ${state.exitCode})`;
  const signal = state.exitCode > 128 ? ` (killed by signal ${state.exitCode - 128})` : "";
  return `container exited with code ${state.exitCode}${signal}`;
}

export class Worker implements NodeAgent {
  readonly name: string;
  readonly runtime: DockerRuntime;
  readonly #tasks: Store<Task>;
  readonly #intents: Store<TaskEvent>;
  readonly #queue: KeyedQueue;
  readonly #stopGraceSeconds: number;
  readonly #reconcileIntervalMs: number;
  readonly #stats = new StatsCollector();
  readonly #closing = new AbortController();
  readonly #loops: Promise<void>[] = [];
  readonly #log: (message: string) => void;
  readonly #health: HealthMonitor;
  readonly #capacity: { cpu?: number; memory?: number; disk?: number };
  #recovered = false;
  onChange: (task: Task) => void;

  constructor(options: WorkerOptions) {
    this.name = options.name;
    this.runtime = options.runtime;
    this.#tasks = options.db.store<Task>("tasks");
    this.#intents = options.db.store<TaskEvent>("intents");
    this.#queue = new KeyedQueue(options.concurrency ?? 8);
    this.#stopGraceSeconds = options.stopGraceSeconds ?? 10;
    this.#reconcileIntervalMs = options.reconcileIntervalMs ?? 5_000;
    this.onChange = options.onChange ?? (() => {});
    this.#capacity = options.capacity ?? {};
    this.#log = options.log ?? ((m) => console.log(`[worker ${this.name}] ${m}`));
    this.#health = new HealthMonitor((task, reason) => {
      this.#queue.run(task.ID, () => this.#failUnhealthy(task.ID, task.ContainerID, reason))
        .catch((error) => this.#log(`task ${task.ID}: ${errorMessage(error)}`));
    });
  }

  /** Recovers from the store and Docker, then starts watching containers. */
  async start(): Promise<void> {
    try {
      await this.#recover();
      this.#recovered = true;
    } catch (error) {
      // The engine may be down: serve anyway; the reconcile loop recovers later.
      this.#log(`recovery postponed: ${errorMessage(error)}`);
    }
    this.#loops.push(this.#watchEvents(), this.#reconcileLoop());
  }

  async close(): Promise<void> {
    this.#closing.abort();
    await Promise.all(this.#loops);
    await this.#health.close();
    await this.#queue.idle();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  // --- the API's verbs ----------------------------------------------------------------

  async get(id: string): Promise<Task | null> {
    return (await this.#tasks.get(id))?.value ?? null;
  }

  async list(): Promise<Task[]> {
    return (await this.#tasks.list()).map((e) => e.value);
  }

  async stats(): Promise<Stats> {
    const tasks = await this.list();
    const stats = await this.#stats.read(tasks.filter((t) => isActive(t.State)).length);
    const { cpu, memory, disk } = this.#capacity;
    if (cpu) stats.CpuCores = cpu;
    if (memory) {
      stats.MemoryAvailableBytes = Math.round(
        memory * (stats.MemoryAvailableBytes / stats.MemoryTotalBytes),
      );
      stats.MemoryTotalBytes = memory;
    }
    if (disk) {
      stats.DiskFreeBytes = Math.min(stats.DiskFreeBytes, disk);
      stats.DiskTotalBytes = disk;
    }
    return stats;
  }

  /**
   * Accepts a `TaskEvent`. A desired state of Completed (on the event or its task) stops
   * the task; anything else runs it. Returns as soon as the intent is stored.
   */
  async submit(event: TaskEvent): Promise<SubmitResult> {
    const id = event.Task.ID;
    if (event.State === State.Completed || event.Task.State === State.Completed) {
      return { task: await this.stop(id), created: false };
    }
    const existing = await this.get(id);
    const intent = await this.#intents.get(id);
    if (existing && isActive(existing.State) && intent?.value.State !== State.Completed) {
      return { task: existing, created: false };
    }
    const incoming: Task = { ...event.Task, Node: this.name, ContainerID: "", Error: "" };
    const task = existing
      ? transition(existing, State.Scheduled, { ...incoming, CreateTime: existing.CreateTime })
      : transition({ ...incoming, State: State.Pending }, State.Scheduled);
    await this.#tasks.put(id, task);
    await this.#intents.put(id, { ...event, State: State.Running, Task: task });
    this.#enqueue(id);
    this.onChange(task);
    return { task, created: true };
  }

  /** Stops a task (grace period, then removal); 404 when this worker never had it. */
  async stop(id: string): Promise<Task> {
    const task = await this.get(id);
    if (!task) throw new CubeError(404, `Task ${id} not found on worker ${this.name}`);
    await this.#intents.put(id, {
      ID: crypto.randomUUID(),
      State: State.Completed,
      Timestamp: new Date().toISOString(),
      Task: task,
    });
    this.#enqueue(id);
    return task;
  }

  /** The task's container output; see `DockerRuntime.logs`. */
  async logs(
    id: string,
    options: { follow: boolean; tail?: number; signal: AbortSignal },
  ): Promise<ReadableStream<Uint8Array>> {
    const task = await this.get(id);
    if (!task) throw new CubeError(404, `Task ${id} not found on worker ${this.name}`);
    if (!task.ContainerID) {
      throw new CubeError(409, `Task ${describeTask(task)} has no container yet: no logs`);
    }
    return this.runtime.logs(task.ContainerID, options);
  }

  /** Answers `GET /health`: degraded, with the engine's error, when Docker does not answer. */
  async health(): Promise<AgentHealth> {
    try {
      await this.runtime.ping();
      return { Status: "ok", Name: this.name, Docker: "ok" };
    } catch (error) {
      return { Status: "degraded", Name: this.name, Docker: errorMessage(error) };
    }
  }

  /** Resolves once every queued start and stop has been carried out (for tests and shutdown). */
  idle(): Promise<void> {
    return this.#queue.idle();
  }

  // --- carrying out intents -------------------------------------------------------------

  #enqueue(id: string): void {
    this.#queue.run(id, () => this.#apply(id)).catch((error) =>
      this.#log(`task ${id}: ${errorMessage(error)}`)
    );
  }

  async #save(task: Task): Promise<Task> {
    await this.#tasks.put(task.ID, task);
    if (!this.#closing.signal.aborted) this.#health.sync(task);
    this.onChange(task);
    return task;
  }

  /** A task that failed its health checks: stop its container and mark it Failed. */
  async #failUnhealthy(id: string, containerId: string, reason: string): Promise<void> {
    const task = await this.get(id);
    if (!task || task.State !== State.Running || task.ContainerID !== containerId) return;
    this.#log(`task ${describeTask(task)}: ${reason}; stopping it`);
    await this.runtime.stop(containerId, this.#stopGraceSeconds);
    await this.#save(transition(task, State.Failed, {
      Error: reason,
      ExitCode: null,
      FinishTime: new Date().toISOString(),
    }));
  }

  async #apply(id: string): Promise<void> {
    const intent = await this.#intents.get(id);
    if (!intent) return;
    const task = await this.get(id);
    if (task) {
      if (intent.value.State === State.Completed) await this.#stopNow(task);
      else await this.#startNow(task);
    }
    await this.#intents.deleteIf(id, intent.version);
  }

  async #startNow(task: Task): Promise<void> {
    const leftovers = await this.runtime.list(this.name, task.ID);
    const running = leftovers.find((c) => c.running && !isTerminal(task.State));
    if (running && task.State === State.Scheduled) {
      // Started before a crash but not recorded: adopt it rather than start a second one.
      const state = await this.runtime.inspect(running.id);
      if (state?.running) {
        this.#log(`adopted the running container of task ${describeTask(task)}`);
        await this.#save(transition(task, State.Running, {
          ContainerID: state.id,
          ContainerName: state.name,
          HostPorts: state.hostPorts,
          StartTime: state.startedAt,
        }));
        return;
      }
    }
    for (const old of leftovers) await this.runtime.remove(old.id);
    if (task.State !== State.Scheduled) return;
    try {
      const started = await this.runtime.start(task, this.name);
      for (const warning of started.warnings) this.#log(`task ${describeTask(task)}: ${warning}`);
      await this.#save(transition(task, State.Running, {
        ContainerID: started.containerId,
        ContainerName: started.name,
        HostPorts: started.hostPorts,
        StartTime: started.startTime,
        ExitCode: null,
        Error: "",
      }));
      this.#log(`task ${describeTask(task)} running in ${started.containerId.slice(0, 12)}`);
    } catch (error) {
      const reason = errorMessage(error);
      this.#log(`task ${describeTask(task)} failed to start: ${reason}`);
      await this.#save(transition(task, State.Failed, {
        Error: reason,
        FinishTime: new Date().toISOString(),
      }));
    }
  }

  async #stopNow(task: Task): Promise<void> {
    const containers = await this.runtime.list(this.name, task.ID);
    for (const c of containers) await this.runtime.stop(c.id, this.#stopGraceSeconds);
    if (isTerminal(task.State)) return; // a finished task keeps its state; its container is gone
    await this.#save(transition(task, State.Completed, {
      FinishTime: new Date().toISOString(),
    }));
    this.#log(`task ${describeTask(task)} stopped`);
  }

  /** Folds what Docker says about a Running task's container into its record. */
  async #observe(id: string): Promise<void> {
    const task = await this.get(id);
    if (!task || task.State !== State.Running || (await this.#intents.get(id))) return;
    const state = await this.runtime.inspect(task.ContainerID);
    if (state?.running) return;
    if (!state) {
      await this.#save(transition(task, State.Failed, {
        Error: `container ${task.ContainerID.slice(0, 12)} disappeared (removed outside cube)`,
        FinishTime: new Date().toISOString(),
      }));
    } else {
      await this.#save(transition(task, state.exitCode === 0 ? State.Completed : State.Failed, {
        ExitCode: state.exitCode,
        Error: state.exitCode === 0 ? "" : exitReason(state),
        FinishTime: state.finishedAt,
      }));
    }
    this.#log(`task ${describeTask(task)}: container stopped on its own`);
  }

  // --- recovery and watching --------------------------------------------------------------

  async #recover(): Promise<void> {
    const containers = await this.runtime.list(this.name);
    const known = new Map<string, Task>();
    for (const { value: task } of await this.#tasks.list()) known.set(task.ID, task);
    const intents = new Set((await this.#intents.list()).map((e) => e.key));

    for (const task of known.values()) {
      if (intents.has(task.ID) || task.State === State.Scheduled || task.State === State.Pending) {
        if (!intents.has(task.ID)) {
          await this.#intents.put(task.ID, {
            ID: crypto.randomUUID(),
            State: State.Running,
            Timestamp: new Date().toISOString(),
            Task: task,
          });
        }
        this.#enqueue(task.ID);
      } else if (task.State === State.Running) {
        const mine = containers.find((c) => c.id === task.ContainerID);
        if (mine?.running) {
          this.#log(`adopted task ${describeTask(task)} (container ${mine.id.slice(0, 12)})`);
          this.#health.sync(task);
        } else this.#queue.run(task.ID, () => this.#observe(task.ID));
      }
    }
    for (const container of containers) {
      const task = known.get(container.taskId);
      if (!task || (isTerminal(task.State) && container.running)) {
        // Ours by label but not wanted: a stale copy. Removing it keeps tasks single.
        this.#log(
          `removing stale container ${container.id.slice(0, 12)} (task ${container.taskId})`,
        );
        await this.runtime.remove(container.id);
      }
    }
  }

  async #watchEvents(): Promise<void> {
    const signal = this.#closing.signal;
    while (!signal.aborted) {
      try {
        for await (const event of this.runtime.events(this.name, signal)) {
          if (["die", "destroy", "oom", "stop", "kill"].includes(event.action) && event.taskId) {
            this.#queue.run(event.taskId, () => this.#observe(event.taskId)).catch((error) =>
              this.#log(`watching task ${event.taskId}: ${errorMessage(error)}`)
            );
          }
        }
      } catch (error) {
        if (!signal.aborted) this.#log(`Docker event stream lost: ${errorMessage(error)}`);
      }
      await sleep(1_000, signal);
    }
  }

  async #reconcileLoop(): Promise<void> {
    const signal = this.#closing.signal;
    while (!signal.aborted) {
      await sleep(this.#reconcileIntervalMs, signal);
      if (signal.aborted) break;
      try {
        if (!this.#recovered) {
          await this.#recover();
          this.#recovered = true;
        }
        for (const task of await this.list()) {
          if (task.State === State.Running) {
            await this.#queue.run(task.ID, () => this.#observe(task.ID));
          }
        }
      } catch (error) {
        this.#log(`reconcile failed: ${errorMessage(error)}`);
      }
    }
  }
}
