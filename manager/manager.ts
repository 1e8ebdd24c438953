/**
 * The control plane. It keeps, for every task, what the user wants (run or stop) and
 * what is true (state, node, container), and converges one to the other:
 *
 * - submit: store Pending → wake the dispatcher → scheduler picks a node → Scheduled →
 *   send to the worker. No fixed sleeps: work is pushed; a 1 s tick is the safety net.
 * - observe: workers push task changes (and the manager polls them as a safety net);
 *   each report is folded into the task and its history.
 * - heal: a Failed task is restarted with backoff up to its limit, on its node when it
 *   ran there, elsewhere when it could not start there; a node without heartbeats is
 *   marked down and its tasks are placed again; a node that returns has its stale
 *   copies stopped.
 *
 * Everything is written to KV before it is acknowledged; memory holds a mirror for speed.
 *
 * @module
 */

import { sleep } from "../lib/async.ts";
import { CubeError, errorMessage } from "../http/errors.ts";
import { place, type Scheduler } from "../scheduler/mod.ts";
import type { Database } from "../store/mod.ts";
import {
  describeTask,
  isActive,
  isTerminal,
  type Node,
  State,
  stateName,
  type Task,
  type TaskEvent,
  transition,
} from "../task/mod.ts";
import { type HeartbeatOutcome, NodeRegistry } from "./nodes.ts";
import { allocate, REPORTED_FACTS, restartDecision } from "./policy.ts";
import { NodeWatch } from "./node_watch.ts";
import { type Change, TaskBook } from "./task_book.ts";

export interface ManagerOptions {
  db: Database;
  scheduler: Scheduler;
  /** Static workers (`host:port`), polled by the manager as in the book. */
  workers?: string[];
  /** How often static workers are polled and liveness is checked, in ms. */
  heartbeatIntervalMs?: number;
  /** A node silent this long is marked down and its tasks are placed again, in ms. */
  nodeTimeoutMs?: number;
  /** Safety-net poll of every node's tasks, in ms. */
  syncIntervalMs?: number;
  /** First restart delay; doubles with each restart, capped at `maxBackoffMs`. */
  restartBackoffMs?: number;
  maxBackoffMs?: number;
  /** Time limit of one call to a worker, in ms. */
  workerTimeoutMs?: number;
  log?: (message: string) => void;
}

/**
 * Placements per dispatch round: each round is one KV commit and then its sends, so a
 * burst of thousands of submissions reaches the workers in waves, not all at once.
 */
const DISPATCH_ROUND = 256;

type Timings = Required<Omit<ManagerOptions, "db" | "scheduler" | "workers" | "log">>;

export class Manager {
  readonly scheduler: Scheduler;
  readonly nodes: NodeRegistry;
  readonly tasks: TaskBook;
  /** Pending tasks in submission order. */
  readonly #pending = new Set<string>();
  /** Failed tasks waiting for their restart: id → due time (performance.now()). */
  readonly #restarts = new Map<string, number>();
  /** Nodes a task must avoid for now (it could not start there, or the node died). */
  readonly #avoid = new Map<string, Set<string>>();
  readonly #opts: Timings;
  readonly #staticWorkers: string[];
  readonly #closing = new AbortController();
  readonly #loops: Promise<void>[] = [];
  readonly #inflight = new Set<Promise<unknown>>();
  readonly #log: (message: string) => void;
  readonly #watch: NodeWatch;
  #wake: (() => void) | null = null;
  #woken = false;

  constructor(options: ManagerOptions) {
    this.scheduler = options.scheduler;
    this.#opts = {
      heartbeatIntervalMs: options.heartbeatIntervalMs ?? 1_000,
      nodeTimeoutMs: options.nodeTimeoutMs ?? 5_000,
      syncIntervalMs: options.syncIntervalMs ?? 10_000,
      restartBackoffMs: options.restartBackoffMs ?? 250,
      maxBackoffMs: options.maxBackoffMs ?? 30_000,
      workerTimeoutMs: options.workerTimeoutMs ?? 5_000,
    };
    this.#staticWorkers = options.workers ?? [];
    this.tasks = new TaskBook(options.db);
    this.nodes = new NodeRegistry(options.db.store<Node>("nodes"), this.#opts.workerTimeoutMs);
    this.#log = options.log ?? ((m) => console.log(`[manager] ${m}`));
    this.#watch = new NodeWatch(this.nodes, {
      heartbeat: (name, api, stats, isStatic) => this.heartbeat(name, api, stats, isStatic),
      report: (node, task) => this.report(node, task),
      nodeDown: (node, reason) => this.#nodeDown(node, reason),
      log: this.#log,
    }, this.#opts);
  }

  /** Loads everything from KV, resumes unfinished work, starts the loops. */
  async start(): Promise<void> {
    await this.nodes.load(this.#staticWorkers);
    for (const task of await this.tasks.load()) {
      const desired = this.tasks.desired(task.ID) ?? "run";
      if (desired === "stop" && isActive(task.State)) this.#sendStop(task);
      else if (desired === "run" && task.State === State.Pending) this.#pending.add(task.ID);
      else if (desired === "run" && task.State === State.Scheduled) this.#sendRun(task);
      else if (desired === "run" && task.State === State.Failed && restartDecision(task).restart) {
        this.#restarts.set(task.ID, performance.now());
      }
    }
    this.#loops.push(this.#dispatchLoop(), this.#watch.run(this.#closing.signal));
    this.wake();
  }

  async close(): Promise<void> {
    this.#closing.abort();
    this.wake();
    await Promise.all(this.#loops);
    while (this.#inflight.size > 0) await Promise.allSettled([...this.#inflight]);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  /** Wakes the dispatcher now. */
  wake(): void {
    this.#woken = true;
    this.#wake?.();
  }

  // --- reading -------------------------------------------------------------------------

  /** Nodes with their allocations and task counts computed from the tasks placed there. */
  listNodes(): Node[] {
    return allocate(this.nodes.list(), this.tasks.values());
  }

  // --- the API's verbs -------------------------------------------------------------------

  /** Accepts a task to run. 409 when the ID exists: never a second copy. */
  async submit(event: TaskEvent): Promise<Task> {
    const existing = this.tasks.get(event.Task.ID);
    if (existing) {
      throw new CubeError(
        409,
        `Task ${existing.ID} already exists (${stateName(existing.State)}${
          existing.Node ? ` on ${existing.Node}` : ""
        }); stop it with DELETE /tasks/${existing.ID} or submit with a new ID`,
      );
    }
    if (event.State === State.Completed || event.Task.State === State.Completed) {
      throw new CubeError(400, `Task ${event.Task.ID} is unknown: there is nothing to stop`);
    }
    const task: Task = { ...event.Task, State: State.Pending, Node: "", Error: "" };
    await this.tasks.save(task, "submitted", "run");
    this.#pending.add(task.ID);
    this.wake();
    return task;
  }

  /** Stops a task wherever it runs; repeating it is harmless. */
  async stop(id: string): Promise<Task> {
    let task = this.tasks.require(id);
    await this.tasks.setDesired(id, "stop");
    this.#pending.delete(id);
    this.#restarts.delete(id);
    if (isTerminal(task.State)) return task;
    const node = task.Node ? this.nodes.get(task.Node) : undefined;
    if (task.State === State.Pending || !node) {
      task = await this.tasks.save(
        transition(task, State.Completed, { FinishTime: new Date().toISOString() }),
        "stopped before it was placed",
      );
    } else if (node.Status === "down") {
      task = await this.tasks.save(
        transition(task, State.Completed, { FinishTime: new Date().toISOString() }),
        `stopped while ${node.Name} is down; its copy will be stopped when the node returns`,
      );
    } else {
      this.#sendStop(task);
    }
    return task;
  }

  // --- what workers tell us --------------------------------------------------------------

  /** A worker's view of one task, pushed or polled. */
  async report(nodeName: string, reported: Task): Promise<void> {
    const task = this.tasks.get(reported.ID);
    const reportedActive = isActive(reported.State);
    if (!task || task.Node !== nodeName) {
      // A copy this node should not run (the task moved, or is unknown): stop it.
      if (reportedActive) {
        this.#log(`stopping stale copy of ${describeTask(reported)} on ${nodeName}`);
        this.#track(this.nodes.client(nodeName).stop(reported.ID).catch(() => {}));
      }
      return;
    }
    if (reported.RestartCount < task.RestartCount) return; // from before a restart
    const desired = this.tasks.desired(task.ID) ?? "run";
    if (desired === "stop") {
      if (reportedActive) this.#sendStop(task);
      else if (!isTerminal(task.State)) {
        await this.tasks.save(
          transition(task, State.Completed, {
            FinishTime: reported.FinishTime,
            ContainerID: reported.ContainerID,
          }),
          "stopped",
        );
      }
      return;
    }
    if (task.State === State.Pending || (isTerminal(task.State) && task.State === reported.State)) {
      return;
    }
    if (reported.State === State.Scheduled && task.State === State.Scheduled) return;
    const facts: Partial<Task> = {};
    for (const key of REPORTED_FACTS) {
      if (reported[key] !== undefined) (facts as Record<string, unknown>)[key] = reported[key];
    }
    const changed = reported.State !== task.State ||
      REPORTED_FACTS.some((k) =>
        reported[k] !== undefined && JSON.stringify(task[k]) !== JSON.stringify(reported[k])
      );
    if (!changed) return;
    let next: Task;
    try {
      next = transition(task, reported.State, facts);
    } catch (error) {
      this.#log(`ignoring report from ${nodeName}: ${errorMessage(error)}`);
      return;
    }
    const message = next.State === State.Running
      ? `running on ${nodeName} in ${next.ContainerID.slice(0, 12)}`
      : next.Error || `now ${stateName(next.State)}`;
    await this.tasks.save(next, next.State === task.State ? "" : message);
    if (next.State === State.Failed || next.State === State.Completed) this.#planRestart(next);
  }

  /** A heartbeat (joined workers push them; static workers are polled). */
  async heartbeat(
    name: string,
    api: string,
    stats: Parameters<NodeRegistry["heartbeat"]>[2],
    isStatic = false,
  ): Promise<HeartbeatOutcome> {
    const outcome = await this.nodes.heartbeat(name, api, stats, isStatic);
    if (outcome === "same") return outcome;
    this.#log(`node ${name} is ${outcome === "new" ? "joined" : "back"} (${api})`);
    this.wake();
    // A node that returns may still run copies of tasks that moved: sync stops them.
    this.#track(this.#watch.sync(name));
    return outcome;
  }

  // --- internals -------------------------------------------------------------------------

  #track<T>(promise: Promise<T>): void {
    this.#inflight.add(promise);
    promise.finally(() => this.#inflight.delete(promise));
  }

  #avoidNode(id: string, node: string): void {
    let set = this.#avoid.get(id);
    if (!set) this.#avoid.set(id, set = new Set());
    set.add(node);
  }

  async #dispatchPending(): Promise<void> {
    if (this.#pending.size === 0) return;
    const nodes = this.listNodes();
    const changes: Change[] = [];
    const placed: Task[] = [];
    for (const id of [...this.#pending]) {
      if (placed.length >= DISPATCH_ROUND) break;
      const task = this.tasks.get(id);
      if (!task || task.State !== State.Pending || this.tasks.desired(id) !== "run") {
        this.#pending.delete(id);
        continue;
      }
      const avoid = this.#avoid.get(id);
      let candidates = avoid ? nodes.filter((n) => !avoid.has(n.Name)) : nodes;
      if (avoid && candidates.every((n) => n.Status !== "ready")) {
        // Every other node is gone too: trying an avoided node beats waiting forever.
        this.#avoid.delete(id);
        candidates = nodes;
      }
      const placement = place(this.scheduler, task, candidates);
      if (!placement.node) {
        const reason = `waiting for a node: ${placement.reason}`;
        if (task.Error !== reason) {
          changes.push({ task: { ...task, Error: reason }, message: reason });
        }
        continue;
      }
      const node = placement.node;
      this.#pending.delete(id);
      const scheduled = transition(task, State.Scheduled, {
        Node: node.Name,
        Error: "",
        ContainerID: "",
      });
      changes.push({
        task: scheduled,
        message: `placed on ${node.Name} by ${this.scheduler.name}`,
      });
      placed.push(scheduled);
      // Count it against the node at once so the rest of this batch sees it.
      node.CpuAllocated += scheduled.Cpu;
      node.MemoryAllocated += scheduled.Memory;
      node.DiskAllocated += scheduled.Disk;
      node.TaskCount++;
    }
    // One commit for the whole round, then the sends: a placement is durable before any
    // worker hears of it.
    let failure: unknown = null;
    try {
      await this.tasks.saveMany(changes);
    } catch (error) {
      failure = error; // some changes may have landed: each placement is checked below
    }
    for (const task of placed) {
      const current = this.tasks.get(task.ID);
      if (current === task) this.#sendRun(task);
      else if (current?.State === State.Pending) this.#pending.add(task.ID); // not stored
    }
    if (failure) throw failure;
    if (placed.length >= DISPATCH_ROUND) this.wake();
  }

  /** Sends a task to its node, retrying briefly; on failure the task goes back in line. */
  #sendRun(task: Task): void {
    this.#track(
      (async () => {
        let lastError: unknown;
        for (let attempt = 0; attempt < 3 && !this.#closing.signal.aborted; attempt++) {
          const current = this.tasks.get(task.ID);
          if (!current || current.State !== State.Scheduled || current.Node !== task.Node) return;
          try {
            await this.nodes.client(task.Node).run(current);
            return;
          } catch (error) {
            lastError = error;
            if (error instanceof CubeError && error.status === 404) break;
            await sleep(200 * 2 ** attempt, this.#closing.signal);
          }
        }
        if (this.#closing.signal.aborted) return;
        const current = this.tasks.get(task.ID);
        if (!current || current.State !== State.Scheduled || current.Node !== task.Node) return;
        const reason = `could not send to ${task.Node}: ${errorMessage(lastError)}`;
        this.#log(`task ${describeTask(task)}: ${reason}`);
        this.#avoidNode(task.ID, task.Node);
        await this.tasks.save(
          transition(current, State.Pending, { Node: "", Error: reason }),
          reason,
        );
        this.#pending.add(task.ID);
        this.wake();
      })().catch((error) => this.#log(`sending task ${task.ID}: ${errorMessage(error)}`)),
    );
  }

  #sendStop(task: Task): void {
    this.#track((async () => {
      for (let attempt = 0; attempt < 3 && !this.#closing.signal.aborted; attempt++) {
        try {
          await this.nodes.client(task.Node).stop(task.ID);
          return;
        } catch {
          await sleep(200 * 2 ** attempt, this.#closing.signal);
        }
      }
      // The node is unreachable: liveness will mark it down and stop() finishes the task.
    })());
  }

  #planRestart(task: Task): void {
    if (this.tasks.desired(task.ID) !== "run") return;
    const decision = restartDecision(task);
    if (!decision.restart) {
      if (decision.reason && task.State === State.Failed) {
        this.#track(
          this.tasks.save({ ...task, Error: `${task.Error}; ${decision.reason}` }, decision.reason),
        );
      }
      return;
    }
    const delay = Math.min(
      this.#opts.maxBackoffMs,
      this.#opts.restartBackoffMs * 2 ** task.RestartCount,
    );
    this.#restarts.set(task.ID, performance.now() + delay);
  }

  async #restartDue(): Promise<void> {
    const now = performance.now();
    for (const [id, due] of this.#restarts) {
      if (due > now) continue;
      this.#restarts.delete(id);
      const task = this.tasks.get(id);
      if (!task || !isTerminal(task.State) || this.tasks.desired(id) !== "run") continue;
      const count = task.RestartCount + 1;
      const node = this.nodes.get(task.Node);
      if (node?.Status === "ready" && task.ContainerID !== "") {
        // It ran there and the node is up: restart in place.
        const restarted = await this.tasks.save(
          transition(task, State.Scheduled, { RestartCount: count, ContainerID: "", Error: "" }),
          `restart ${count}/${task.MaxRestarts} on ${task.Node} after: ${task.Error || "exit"}`,
        );
        this.#sendRun(restarted);
      } else {
        // It never started there (e.g. the image is missing on that node) or the node is
        // gone: place it elsewhere.
        if (task.Node) this.#avoidNode(id, task.Node);
        await this.tasks.save(
          transition(task, State.Pending, { RestartCount: count, Node: "", ContainerID: "" }),
          `rescheduling (restart ${count}/${task.MaxRestarts}) after: ${task.Error}`,
        );
        this.#pending.add(id);
      }
    }
  }

  async #dispatchLoop(): Promise<void> {
    const signal = this.#closing.signal;
    while (!signal.aborted) {
      if (!this.#woken) {
        await new Promise<void>((resolve) => {
          const timer = setTimeout(done, 250);
          function done() {
            clearTimeout(timer);
            resolve();
          }
          this.#wake = done;
        });
      }
      this.#wake = null;
      this.#woken = false;
      if (signal.aborted) break;
      try {
        await this.#restartDue();
        await this.#dispatchPending();
      } catch (error) {
        this.#log(`dispatch failed: ${errorMessage(error)}`);
      }
    }
  }

  async #nodeDown(node: Node, reason: string): Promise<void> {
    await this.nodes.markDown(node.Name, reason);
    this.#log(`node ${node.Name} is down: ${reason}`);
    for (const task of this.tasks.values()) {
      if (task.Node !== node.Name || !isActive(task.State)) continue;
      if (this.tasks.desired(task.ID) === "stop") {
        await this.tasks.save(
          transition(task, State.Completed, { FinishTime: new Date().toISOString() }),
          `stopped: ${node.Name} is down`,
        );
        continue;
      }
      this.#avoidNode(task.ID, node.Name);
      await this.tasks.save(
        transition(task, State.Pending, {
          Node: "",
          ContainerID: "",
          HostPorts: {},
          Error: `node ${node.Name} is down (${reason}); rescheduling`,
        }),
        `node ${node.Name} is down (${reason}); rescheduling`,
      );
      this.#pending.add(task.ID);
    }
    this.wake();
  }
}
