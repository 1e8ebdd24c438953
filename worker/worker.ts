/**
 * The node agent: keeps the tasks sent to it running as containers, records every fact
 * through its one writer (`TaskRecords`), and recovers from its own crash by adopting
 * its labelled containers.
 *
 * Durability: an acknowledged request is first written as an *intent* (the desired
 * state of the task); the intent is deleted only once carried out. A worker killed at
 * any point replays the intents it finds on start, so nothing acknowledged is lost, and
 * it keeps or adopts running containers instead of starting them again, so nothing is
 * doubled and nothing healthy is removed.
 *
 * @module
 */

import { sleep } from "../lib/async.ts";
import { CubeError, errorMessage } from "../lib/errors.ts";
import { type Database, type Store, StoreGuard } from "../store/mod.ts";
import {
  describeTask,
  type FailureCause,
  finishedAt,
  isTerminal,
  isZeroTime,
  State,
  type Task,
  type TaskEvent,
} from "../task/mod.ts";
import type { ContainerState, DockerRuntime } from "./docker_runtime.ts";
import type { AgentHealth, NodeAgent, SubmitResult } from "./agent.ts";
import { WorkerMetrics } from "./metrics.ts";
import { HealthMonitor } from "./health.ts";
import { KeyedQueue, Slots } from "./keyed_queue.ts";
import { type Stats, StatsCollector } from "./stats.ts";
import { TaskRecords } from "./task_records.ts";

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
  /** Finished tasks' records and containers are removed this long after they finished, in ms. */
  taskRetentionMs?: number;
  /**
   * What this node offers the scheduler, when not all of the machine (like Nomad's
   * `cpu_total_compute`/`memory_total_mb`): cores and bytes.
   */
  capacity?: { cpu?: number; memory?: number; disk?: number };
  /** Called after every change of a task's record. */
  onChange?: (task: Task) => void;
  log?: (message: string) => void;
}

/** A container that ended this close to a loss of the Docker engine ended because of it. */
const ENGINE_LOSS_MARGIN_MS = 30_000;

function exitReason(state: ContainerState): string {
  if (state.oomKilled) return `container was killed: out of memory (exit code ${state.exitCode})`;
  const signal = state.exitCode > 128 ? ` (killed by signal ${state.exitCode - 128})` : "";
  return `container exited with code ${state.exitCode}${signal}`;
}

export class Worker implements NodeAgent {
  readonly name: string;
  readonly runtime: DockerRuntime;
  readonly records: TaskRecords;
  readonly guard: StoreGuard;
  readonly #intents: Store<TaskEvent>;
  readonly #queue: KeyedQueue;
  readonly #stopGraceSeconds: number;
  readonly #reconcileIntervalMs: number;
  readonly #retentionMs: number;
  readonly #stats = new StatsCollector();
  readonly #closing = new AbortController();
  readonly #loops: Promise<void>[] = [];
  readonly #log: (message: string) => void;
  readonly #health: HealthMonitor;
  readonly #starts: Slots;
  readonly #stops: Slots;
  /** What `GET /metrics` shows. */
  readonly metrics = new WorkerMetrics();
  readonly #capacity: { cpu?: number; memory?: number; disk?: number };
  #recovered = false;
  /** When the Docker engine's event stream was last lost (an engine restart kills containers). */
  #engineLostAt: number | null = null;
  #onChange: (task: Task) => void;
  readonly #watchers = new Set<(task: Task) => void>();
  /** Tasks admitted in this process whose start has not been tried yet. */
  readonly #fresh = new Set<string>();

  constructor(options: WorkerOptions) {
    this.name = options.name;
    this.runtime = options.runtime;
    this.guard = new StoreGuard(options.db);
    this.records = new TaskRecords(options.db.store<Task>("tasks"), this.guard);
    this.#intents = options.db.store<TaskEvent>("intents");
    // Per task one job at a time; starts and stops each have their own `concurrency`
    // slots, so stops waiting out their grace period do not hold up starts.
    this.#queue = new KeyedQueue(256);
    this.#starts = new Slots(options.concurrency ?? 8);
    this.#stops = new Slots(options.concurrency ?? 8);
    this.#stopGraceSeconds = options.stopGraceSeconds ?? 10;
    this.#reconcileIntervalMs = options.reconcileIntervalMs ?? 5_000;
    this.#retentionMs = options.taskRetentionMs ?? 24 * 3_600_000;
    this.#onChange = options.onChange ?? (() => {});
    this.#capacity = options.capacity ?? {};
    this.#log = options.log ?? ((m) => console.log(`[worker ${this.name}] ${m}`));
    this.records.onChange = (task) => {
      if (!this.#closing.signal.aborted) this.#health.sync(task);
      this.#onChange(task);
      for (const listener of this.#watchers) listener(task);
    };
    this.#health = new HealthMonitor(
      (task, reason) => {
        this.#queue.run(task.ID, () => this.#failUnhealthy(task.ID, task.ContainerID, reason))
          .catch((error) => this.#log(`task ${task.ID}: ${errorMessage(error)}`));
      },
      (ok) => this.metrics.probed(ok),
      (task, message) => this.#progress(task.ID, State.Running, message, task.ContainerID),
    );
    this.runtime.onPhase = (phase, seconds) => this.metrics.phase(phase, seconds);
    this.runtime.onStopped = () => this.metrics.stopped();
  }

  /** Tells `listener` of every change of a task's record (`GET /events`). */
  watch(listener: (task: Task) => void): () => void {
    this.#watchers.add(listener);
    return () => this.#watchers.delete(listener);
  }

  /** Called after every change of a task's record (the manager link pushes it). */
  set onChange(listener: (task: Task) => void) {
    this.#onChange = listener;
  }

  /** Loads its records, recovers its containers, then starts watching them. */
  async start(): Promise<void> {
    await this.records.load();
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

  get(id: string): Promise<Task | null> {
    return Promise.resolve(this.records.get(id));
  }

  list(): Promise<Task[]> {
    return Promise.resolve(this.records.list());
  }

  async stats(): Promise<Stats> {
    const stats = await this.#stats.read(this.records.activeCount);
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
   * the task; anything else runs it. Returns as soon as the record and intent are stored.
   */
  submit(event: TaskEvent): Promise<SubmitResult> {
    const id = event.Task.ID;
    if (event.State === State.Completed || event.Task.State === State.Completed) {
      return this.stop(id).then((task) => ({ task, created: false }));
    }
    return this.records.accept(event, this.name, {
      stopping: async () => (await this.#intents.get(id))?.value.State === State.Completed,
      // The intent first: a record without one would wait for a start nobody does.
      beforeRun: (task) => this.#saveIntent(id, { ...event, State: State.Running, Task: task }),
    }).then((result) => {
      if (result.created) {
        this.#fresh.add(id);
        this.#enqueue(id);
      }
      return result;
    });
  }

  /** Stops a task (grace period, then removal); 404 when this worker never had it. */
  stop(id: string): Promise<Task> {
    return this.records.hold(id, async () => {
      const task = this.records.get(id);
      if (!task) throw new CubeError(404, `Task ${id} not found on worker ${this.name}`);
      await this.#saveIntent(id, {
        ID: crypto.randomUUID(),
        State: State.Completed,
        Timestamp: new Date().toISOString(),
        Task: task,
      });
      this.#enqueue(id);
      return task;
    });
  }

  /** Stores what was asked of a task before it is acknowledged; 503 when the store fails. */
  #saveIntent(id: string, intent: TaskEvent): Promise<string> {
    return this.guard.run(`save the intent of task ${id}`, () => this.#intents.put(id, intent));
  }

  /** The task's container output; see `DockerRuntime.logs`. */
  async logs(
    id: string,
    options: { follow: boolean; tail?: number; signal: AbortSignal },
  ): Promise<ReadableStream<Uint8Array>> {
    const task = this.records.get(id);
    if (!task) throw new CubeError(404, `Task ${id} not found on worker ${this.name}`);
    if (!task.ContainerID) {
      throw new CubeError(409, `Task ${describeTask(task)} has no container yet: no logs`);
    }
    return await this.runtime.logs(task.ContainerID, options);
  }

  /**
   * Answers `GET /health`: degraded, with the reason, when Docker does not answer or the
   * store fails.
   */
  async health(): Promise<AgentHealth> {
    await this.guard.probe(Date.now());
    const store = this.guard.error ?? "ok";
    try {
      await this.runtime.ping();
      return {
        Status: store === "ok" ? "ok" : "degraded",
        Name: this.name,
        Docker: "ok",
        Store: store,
      };
    } catch (error) {
      return { Status: "degraded", Name: this.name, Docker: errorMessage(error), Store: store };
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

  /** Whether a container that ended at `finishTime` ended because the engine went away. */
  #cause(finishTime: string): FailureCause {
    if (this.#engineLostAt === null || isZeroTime(finishTime)) return "task";
    return Math.abs(Date.parse(finishTime) - this.#engineLostAt) < ENGINE_LOSS_MARGIN_MS
      ? "infrastructure"
      : "task";
  }

  /** A task that failed its health checks: stop its container and mark it Failed. */
  async #failUnhealthy(id: string, containerId: string, reason: string): Promise<void> {
    const task = this.records.get(id);
    if (!task || task.State !== State.Running || task.ContainerID !== containerId) return;
    this.#log(`task ${describeTask(task)}: ${reason}; stopping it`);
    await this.runtime.stop(containerId, this.#stopGraceSeconds);
    await this.records.change(
      id,
      (t) =>
        t?.State === State.Running && t.ContainerID === containerId
          ? {
            ...t,
            State: State.Failed,
            Error: reason,
            ExitCode: null,
            FailureCause: "task",
            FinishTime: new Date().toISOString(),
          }
          : null,
    );
  }

  async #apply(id: string): Promise<void> {
    const fresh = this.#fresh.delete(id);
    const intent = await this.#intents.get(id);
    if (!intent) return;
    const task = this.records.get(id);
    if (task) {
      if (intent.value.State === State.Completed) await this.#stops.run(() => this.#stopNow(task));
      else await this.#startNow(task, fresh);
    }
    await this.#intents.deleteIf(id, intent.version);
  }

  /**
   * `fresh`: admitted in this process and tried for the first time, so it has no
   * container yet; only a replay (after a crash, or a retry) looks for one first.
   */
  async #startNow(task: Task, fresh = false): Promise<void> {
    // A replay's look at the engine takes a start slot too: a worker restarted with 200
    // tasks to replay must not list them all at once.
    const containers = fresh && task.State === State.Scheduled
      ? []
      : await this.#starts.run(() => this.runtime.list(this.name, task.ID));
    if (task.State === State.Running) {
      // Replayed after a crash that came after the start was recorded: its container is
      // the task. Keep it; only true leftovers go.
      const own = containers.find((c) => c.id === task.ContainerID && c.running);
      if (own) {
        for (const old of containers) if (old.id !== own.id) await this.runtime.remove(old.id);
        return;
      }
      await this.#observe(task.ID, true);
      return;
    }
    if (task.State !== State.Scheduled) return;
    const running = containers.find((c) => c.running);
    if (running) {
      // Started before a crash but not recorded: adopt it rather than start a second one.
      const state = await this.runtime.inspect(running.id);
      if (state?.running) {
        for (const old of containers) if (old.id !== state.id) await this.runtime.remove(old.id);
        this.#log(`adopted the running container of task ${describeTask(task)}`);
        await this.#markRunning(task.ID, {
          ContainerID: state.id,
          ContainerName: state.name,
          HostPorts: state.hostPorts,
          StartTime: state.startedAt,
        });
        return;
      }
    }
    for (const old of containers) await this.runtime.remove(old.id);
    try {
      const started = await this.runtime.start(
        task,
        this.name,
        (message) => this.#progress(task.ID, State.Scheduled, message),
        (job) => this.#starts.run(job),
      );
      for (const warning of started.warnings) this.#log(`task ${describeTask(task)}: ${warning}`);
      await this.#markRunning(task.ID, {
        ContainerID: started.containerId,
        ContainerName: started.name,
        HostPorts: started.hostPorts,
        StartTime: started.startTime,
        ExitCode: null,
        Error: "",
        // What the start had to tell (a pull that failed, the local copy used), or nothing.
        Progress: started.warnings.join("; "),
      });
      this.#log(`task ${describeTask(task)} running in ${started.containerId.slice(0, 12)}`);
    } catch (error) {
      const reason = errorMessage(error);
      this.#log(`task ${describeTask(task)} failed to start: ${reason}`);
      await this.records.change(task.ID, (t) =>
        t?.State === State.Scheduled
          ? {
            ...t,
            State: State.Failed,
            Error: reason,
            FailureCause: "task",
            FinishTime: new Date().toISOString(),
          }
          : null);
    }
  }

  /**
   * Tells the manager (through the record) what the task is going through, while it stays
   * in `state`; not awaited by the start it tells of, and never fatal to it.
   */
  #progress(id: string, state: State, message: string, containerId?: string): void {
    this.records.change(
      id,
      (t) =>
        t?.State === state && (!containerId || t.ContainerID === containerId) &&
          t.Progress !== message
          ? { ...t, Progress: message }
          : null,
    ).catch((error) => this.#log(`task ${id}: ${errorMessage(error)}`));
  }

  /** Records the container a Scheduled task now runs in (a start, or an adoption). */
  #markRunning(id: string, facts: Partial<Task>): Promise<Task | null> {
    return this.records.change(
      id,
      (t) => t?.State === State.Scheduled ? { ...t, ...facts, State: State.Running } : null,
    );
  }

  async #stopNow(task: Task): Promise<void> {
    const containers = await this.runtime.list(this.name, task.ID);
    for (const c of containers) await this.runtime.stop(c.id, this.#stopGraceSeconds);
    // A finished task keeps its state; its container is stopped.
    const stopped = await this.records.change(
      task.ID,
      (t) =>
        t && !isTerminal(t.State)
          ? { ...t, State: State.Completed, FinishTime: new Date().toISOString() }
          : null,
    );
    if (stopped && stopped !== task) this.#log(`task ${describeTask(task)} stopped`);
  }

  /** Folds what Docker says about a Running task's container into its record. */
  async #observe(id: string, replaying = false): Promise<void> {
    const task = this.records.get(id);
    if (!task || task.State !== State.Running) return;
    if (!replaying && (await this.#intents.get(id))) return;
    const containerId = task.ContainerID;
    const state = await this.runtime.inspect(containerId);
    if (state?.running) return;
    const now = new Date().toISOString();
    const facts: Partial<Task> = !state
      ? {
        State: State.Failed,
        Error: `container ${containerId.slice(0, 12)} disappeared (removed outside cube)`,
        FailureCause: this.#cause(now),
        FinishTime: now,
      }
      : {
        State: state.exitCode === 0 ? State.Completed : State.Failed,
        ExitCode: state.exitCode,
        Error: state.exitCode === 0 ? "" : exitReason(state),
        FailureCause: state.exitCode === 0 ? "" : this.#cause(state.finishedAt),
        FinishTime: state.finishedAt,
      };
    const changed = await this.records.change(
      id,
      (t) =>
        t?.State === State.Running && t.ContainerID === containerId ? { ...t, ...facts } : null,
    );
    if (changed !== task) this.#log(`task ${describeTask(task)}: container stopped on its own`);
  }

  // --- recovery, watching and forgetting ---------------------------------------------------

  async #recover(): Promise<void> {
    const containers = await this.runtime.list(this.name);
    const known = new Map(this.records.list().map((t) => [t.ID, t]));
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
      if (!signal.aborted) this.#engineLostAt = Date.now();
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
        await this.guard.probe(Date.now());
        await this.#resumeStranded();
        for (const id of this.records.running()) {
          await this.#queue.run(id, () => this.#observe(id));
        }
        await this.#collect();
      } catch (error) {
        this.#log(`reconcile failed: ${errorMessage(error)}`);
      }
    }
  }

  /**
   * A Scheduled record with no start queued and no intent (its intent could not be
   * stored, say) gets both again: nothing acknowledged waits forever.
   */
  async #resumeStranded(): Promise<void> {
    for (const task of this.records.list()) {
      if (task.State !== State.Scheduled || this.#queue.has(task.ID)) continue;
      if (!(await this.#intents.get(task.ID))) {
        await this.#saveIntent(task.ID, {
          ID: crypto.randomUUID(),
          State: State.Running,
          Timestamp: new Date().toISOString(),
          Task: task,
        });
      }
      this.#enqueue(task.ID);
    }
  }

  /** Forgets finished tasks past their retention, with their containers. */
  async #collect(): Promise<void> {
    const now = Date.now();
    for (const task of this.records.list()) {
      if (!isTerminal(task.State)) continue;
      if (now - finishedAt(task) <= this.#retentionMs) continue;
      await this.#queue.run(task.ID, () =>
        this.records.hold(task.ID, async () => {
          const current = this.records.get(task.ID);
          if (!current || !isTerminal(current.State) || await this.#intents.get(task.ID)) return;
          for (const c of await this.runtime.list(this.name, task.ID)) {
            await this.runtime.remove(c.id);
          }
          await this.records.remove(task.ID);
        }));
    }
  }
}
