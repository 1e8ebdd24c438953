/**
 * The control plane. It keeps, for every task, what the user wants (run or stop) and
 * what is true (state, node, container), and converges one to the other:
 *
 * - submit: store Pending → wake the dispatcher → scheduler picks a node → Scheduled →
 *   send to the worker. No fixed sleeps: work is pushed; a short tick is the safety net.
 * - observe: workers push task changes (and the manager polls them as a safety net);
 *   each report is folded in by the rules of `reports.ts`.
 * - heal: a finished task is restarted per its policy, on its node when it ran there,
 *   elsewhere when it could not start there; a node without heartbeats is marked down
 *   and its tasks are placed again; a node that returns has its stale copies stopped.
 * - forget: finished tasks, their history and long-gone nodes after their retention.
 *
 * Every change of a task goes through `TaskBook.change`: the one writer.
 *
 * @module
 */

import { settledOrThrow } from "../lib/async.ts";
import { WakeLoop } from "../lib/wake_loop.ts";
import { type Clock, isoNow, systemClock } from "../lib/clock.ts";
import { CubeError, errorMessage } from "../lib/errors.ts";
import { httpTransport, type Transport } from "../lib/transport.ts";
import type { Scheduler } from "../scheduler/mod.ts";
import { type Database, StoreGuard } from "../store/mod.ts";
import {
  type Availability,
  DEFAULT_RESTART_WINDOW_MS,
  describeTask,
  isActive,
  isTerminal,
  type Node,
  type NodeStats,
  restartDecision,
  type Service,
  State,
  stateName,
  type Task,
  type TaskEvent,
} from "../task/mod.ts";
import { collect } from "./collector.ts";
import * as moves from "./moves.ts";
import { type HeartbeatOutcome, NodeRegistry } from "./nodes.ts";
import { Dispatcher } from "./dispatcher.ts";
import { EventLog } from "./event_log.ts";
import { ManagerMetrics } from "./metrics.ts";
import { Sender } from "./sender.ts";
import { Services } from "./services.ts";
import { NodeLoads } from "./policy.ts";
import { NodeWatch } from "./node_watch.ts";
import { foldReport } from "./reports.ts";
import { TaskBook } from "./task_book.ts";

export interface ManagerOptions {
  db: Database;
  scheduler: Scheduler;
  /** Static workers (`host:port`), polled by the manager as in the book. */
  workers?: string[];
  /** How often static workers are polled and liveness is checked, in ms. */
  heartbeatIntervalMs?: number;
  /** A node silent this long is marked down and its tasks are placed again, in ms. */
  nodeTimeoutMs?: number;
  /**
   * The most heartbeats joined nodes send together per second: a bigger cluster is told to
   * beat less often, and a node's timeout stretches with its interval (Nomad's
   * `max_heartbeats_per_second`).
   */
  maxHeartbeatsPerSecond?: number;
  /** Safety-net poll of every node's tasks, in ms. */
  syncIntervalMs?: number;
  /** First restart delay; doubles with each counted restart, capped at `maxBackoffMs`. */
  restartBackoffMs?: number;
  maxBackoffMs?: number;
  /** A task that ran this long before it ended starts its restart count afresh, in ms. */
  restartWindowMs?: number;
  /** Finished tasks and their history are forgotten this long after they finished, in ms. */
  taskRetentionMs?: number;
  /** Nodes down this long are forgotten, in ms. */
  nodeRetentionMs?: number;
  /** Time limit of one call to a worker, in ms. */
  workerTimeoutMs?: number;
  clock?: Clock;
  transport?: Transport;
  /** The credential the manager calls node `name` with (joined workers let nobody else in). */
  workerCredential?: (name: string) => Promise<string>;
  /** Asks a static worker waiting to join (`--join-token`, no `--manager`) to join. */
  inviteWorker?: (api: string) => Promise<void>;
  log?: (message: string) => void;
}

/** The dispatcher's safety-net tick; work wakes it at once. */
const DISPATCH_NAP_MS = 250;
const HOUR = 3_600_000;

type Timings = Required<
  Omit<
    ManagerOptions,
    | "db"
    | "scheduler"
    | "workers"
    | "log"
    | "clock"
    | "transport"
    | "workerCredential"
    | "inviteWorker"
  >
>;

export class Manager {
  readonly scheduler: Scheduler;
  readonly nodes: NodeRegistry;
  readonly services: Services;
  /** Every change of a task, a service or a node, in order (`GET /events`). */
  readonly events: EventLog;
  /** What `GET /metrics` shows. */
  readonly metrics: ManagerMetrics;
  readonly tasks: TaskBook;
  readonly guard: StoreGuard;
  readonly clock: Clock;
  /** Finished tasks waiting for their restart: id → due time (clock ms). */
  readonly #restarts = new Map<string, number>();
  readonly #opts: Timings;
  readonly #closing = new AbortController();
  readonly #loops: Promise<void>[] = [];
  readonly #inflight = new Set<Promise<unknown>>();
  readonly #log: (message: string) => void;
  readonly #watch: NodeWatch;
  readonly #sender: Sender;
  readonly #line: Dispatcher;
  /** What each node has been promised, kept as tasks change. */
  readonly #loads = new NodeLoads();
  readonly #static: string[];
  readonly #dispatch: WakeLoop;
  #lastCollect = 0;

  constructor(options: ManagerOptions) {
    this.scheduler = options.scheduler;
    this.clock = options.clock ?? systemClock;
    this.#dispatch = new WakeLoop(this.clock, DISPATCH_NAP_MS);
    this.#opts = {
      heartbeatIntervalMs: options.heartbeatIntervalMs ?? 1_000,
      nodeTimeoutMs: options.nodeTimeoutMs ?? 5_000,
      maxHeartbeatsPerSecond: options.maxHeartbeatsPerSecond ?? 250,
      syncIntervalMs: options.syncIntervalMs ?? 10_000,
      restartBackoffMs: options.restartBackoffMs ?? 250,
      maxBackoffMs: options.maxBackoffMs ?? 30_000,
      restartWindowMs: options.restartWindowMs ?? DEFAULT_RESTART_WINDOW_MS,
      taskRetentionMs: options.taskRetentionMs ?? 24 * HOUR,
      nodeRetentionMs: options.nodeRetentionMs ?? 24 * HOUR,
      workerTimeoutMs: options.workerTimeoutMs ?? 5_000,
    };
    this.guard = new StoreGuard(options.db);
    this.metrics = new ManagerMetrics({
      tasks: () => this.tasks.values(),
      nodes: () => this.listNodes(),
      services: () => this.services.list(),
      queued: () => this.queued,
    });
    this.tasks = new TaskBook(options.db, {
      clock: this.clock,
      guard: this.guard,
      onCommit: (seconds, changes) => this.metrics.committed(seconds, changes),
    });
    this.#log = options.log ?? ((m) => console.log(`[manager] ${m}`));
    this.events = new EventLog(options.db, this.clock, this.#log);
    this.tasks.observe((before, after) => this.#loads.update(before, after));
    this.tasks.observe((before, after, message) => {
      const task = after ?? before!;
      const moved = !before || !after || before.State !== after.State;
      if (!message && !moved) return; // what the task's story leaves out, so does the stream
      this.events.record({
        Type: "task",
        Action: after ? (moved ? stateName(after.State) : "changed") : "forgotten",
        Message: message,
        Task: task.ID,
        Name: task.Name,
        ...(task.Service ? { Service: task.Service } : {}),
        ...(task.Node ? { Node: task.Node } : {}),
        State: task.State,
      });
    });
    this.nodes = new NodeRegistry(options.db.store<Node>("nodes"), {
      clock: this.clock,
      heartbeatIntervalMs: this.#opts.heartbeatIntervalMs,
      maxHeartbeatsPerSecond: this.#opts.maxHeartbeatsPerSecond,
      guard: this.guard,
      transport: options.transport ?? httpTransport,
      callTimeoutMs: this.#opts.workerTimeoutMs,
      credential: options.workerCredential,
    });
    this.services = new Services(this, options.db.store<Service>("services"), this.#log);
    this.#sender = new Sender({
      tasks: this.tasks,
      nodes: this.nodes,
      clock: this.clock,
      signal: this.#closing.signal,
      track: (work) => this.#track(work),
      onUnsent: (task, reason) => this.#unsent(task, reason),
    });
    this.#line = new Dispatcher({
      tasks: this.tasks,
      scheduler: this.scheduler,
      sender: this.#sender,
      clock: this.clock,
      nodes: () => this.listNodes(),
      spreadLabel: (service) => this.services.spreadLabel(service),
      metrics: this.metrics,
    });
    this.#static = options.workers ?? [];
    this.#watch = new NodeWatch(
      this.nodes,
      {
        heartbeat: (name, api, stats, isStatic) => this.heartbeat(name, api, stats, isStatic),
        report: (node, tasks) => this.report(node, tasks, true),
        changed: (node, tasks) => this.report(node, tasks),
        nodeDown: (node, reason) => this.#nodeDown(node, reason),
        tick: () => this.#tick(),
        log: this.#log,
        invite: options.inviteWorker,
      },
      { ...this.#opts, clock: this.clock },
      this.#static,
    );
  }

  /** Loads everything from the store, resumes unfinished work, starts the loops. */
  async start(): Promise<void> {
    await this.events.load();
    await this.nodes.load(this.#static);
    for (const task of await this.tasks.load()) {
      this.#loads.update(null, task);
      const desired = this.tasks.desired(task.ID);
      if (desired === "stop" && isActive(task.State)) this.#sender.stop(task);
      else if (task.State === State.Pending) this.#line.add(task.ID);
      else if (desired === "run" && task.State === State.Scheduled) this.#sender.run(task);
      else if (desired === "run" && isTerminal(task.State)) this.#planRestart(task);
    }
    await this.services.start();
    this.#lastCollect = this.clock.now();
    this.#loops.push(this.#dispatchLoop(), this.#watch.run(this.#closing.signal));
    this.wake();
  }

  async close(): Promise<void> {
    await this.services.close();
    this.#closing.abort();
    this.wake();
    await Promise.all(this.#loops);
    while (this.#inflight.size > 0) await Promise.allSettled([...this.#inflight]);
    await this.events.close();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  /** A task that ran this long before it ended starts its restart count afresh, in ms. */
  get restartWindowMs(): number {
    return this.#opts.restartWindowMs;
  }

  /** Wakes the dispatcher now. */
  wake(): void {
    this.#dispatch.wake();
  }

  // --- reading -------------------------------------------------------------------------

  /** Nodes with their allocations and task counts: what the tasks placed there add up to. */
  listNodes(): Node[] {
    return this.#loads.allocate(this.nodes.list());
  }

  /**
   * Tasks waiting for a node, with a service's replicas not stored yet (they are stored
   * once placed, so `tasks` does not count them until then).
   */
  get queued(): number {
    return this.#line.pending;
  }

  /** What the manager holds in memory besides the records themselves: bounded by live work. */
  footprint(): Record<string, number> {
    return {
      tasks: this.tasks.size,
      nodes: this.nodes.size,
      pending: this.#line.pending,
      restarts: this.#restarts.size,
      avoid: this.#line.avoiding,
      changing: this.tasks.busy,
      sending: this.#sender.sending,
      stopping: this.#sender.stopping,
      inflight: this.#inflight.size,
    };
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
    const task = this.#fresh(event.Task);
    await this.tasks.create(task, "submitted");
    this.#line.add(task.ID);
    this.wake();
    return task;
  }

  /**
   * A service's new replica: stored once placed, in one write with its submission
   * (dispatcher.ts). Resolves with it as stored, or undefined when `wanted` no longer
   * holds by then (its service was removed).
   */
  submitReplica(task: Task, wanted: () => boolean): Promise<Task | undefined> {
    const placing = this.#line.submit(this.#fresh(task), wanted);
    this.wake();
    return placing;
  }

  /** A submitted task as it enters the line. */
  #fresh(task: Task): Task {
    return {
      ...task,
      State: State.Pending,
      Node: "",
      Error: "",
      Placement: 0,
      Revision: 0,
      FailureCause: "",
      Progress: "",
      CreateTime: isoNow(this.clock),
    };
  }

  /** Stops a task wherever it runs; repeating it is harmless. */
  /** Stops a task wherever it runs; `reason` goes into its history. */
  async stop(id: string, reason?: string): Promise<Task> {
    this.tasks.require(id);
    let send = false;
    const task = (await this.tasks.change(
      id,
      moves.stop((name) => this.nodes.get(name), isoNow(this.clock), () => send = true, reason),
    ))!;
    this.#line.forget(id);
    this.#restarts.delete(id);
    if (send) this.#sender.stop(task);
    return task;
  }

  /** Forgets a node at once (`DELETE /nodes/{name}`); its tasks are placed elsewhere first. */
  async removeNode(name: string): Promise<void> {
    const node = this.nodes.get(name);
    if (!node) throw new CubeError(404, `Node ${name} not found`);
    // A node that is up is taken down first (which moves its tasks); one already down had
    // them moved then, but a store outage may have left some: move those now.
    if (node.Status === "ready") await this.#nodeDown(node, "removed with DELETE /nodes");
    else await this.#moveTasksOff(name, "removed with DELETE /nodes");
    await this.nodes.forget(name);
    this.#nodeEvent(name, "forgotten", `node ${name} is forgotten`);
  }

  /**
   * An operator's change to a node: its availability and its labels. A node set to
   * `drain` has its tasks stopped, each with the reason in its history; a service's
   * replicas first move elsewhere (the services' reconcile does it).
   */
  async updateNode(
    name: string,
    patch: { Availability?: Availability; Labels?: Record<string, string> },
  ): Promise<Node> {
    const node = await this.nodes.update(name, patch);
    if (patch.Availability) {
      this.#nodeEvent(name, patch.Availability, `node ${name} is set to ${patch.Availability}`);
    }
    if (node.Availability === "drain") {
      const reason = `stopped: node ${name} is draining`;
      const active = [...this.tasks.onNode(name)].filter((t) =>
        !t.Service && !isTerminal(t.State) && this.tasks.desired(t.ID) === "run"
      );
      await settledOrThrow(active.map((t) => this.stop(t.ID, reason)));
    }
    this.wake();
    this.services.wake();
    return this.listNodes().find((n) => n.Name === name)!;
  }

  // --- what workers tell us --------------------------------------------------------------

  /**
   * A worker's records of tasks, pushed or polled. Resolves once every report is folded
   * in; rejects (a 503 when the store failed) when one could not be, so the worker keeps
   * the batch and sends it again (reports are idempotent).
   */
  async report(nodeName: string, reports: readonly Task[], complete = false): Promise<void> {
    const folded = settledOrThrow(reports.map((r) => this.#reportOne(nodeName, r)));
    if (complete) this.#missing(nodeName, new Map(reports.map((r) => [r.ID, r.Placement ?? 0])));
    await folded;
  }

  /**
   * A node's full list of tasks lacks some the manager placed there (or has an older
   * placement of them): the run never got through (every send lost, and the move back
   * not stored). Send it again: a node takes a placement once however often it hears of it.
   */
  #missing(nodeName: string, listed: Map<string, number>): void {
    for (const task of this.tasks.onNode(nodeName)) {
      if (task.State !== State.Scheduled) continue;
      const placement = listed.get(task.ID);
      // Listed with an older placement is missing too: the node never heard of this one.
      if (placement !== undefined && (placement === 0 || placement >= task.Placement)) continue;
      if (this.tasks.desired(task.ID) === "run") {
        this.#sender.run(task);
      } else {
        this.#track(this.tasks.change(task.ID, moves.neverArrived(nodeName, isoNow(this.clock))));
      }
    }
  }

  async #reportOne(nodeName: string, reported: Task): Promise<void> {
    // Most reports (a safety-net poll of a thousand nodes) change nothing: when the rules
    // say so of the settled mirror, skip the writer altogether.
    const settled = this.tasks.get(reported.ID);
    if (settled && !this.tasks.changing(reported.ID)) {
      const outcome = foldReport(settled, this.tasks.desired(reported.ID), nodeName, reported);
      if (outcome.kind === "ignore" && !outcome.why) return;
    }
    let action: "stop-copy" | "stop" | "applied" | null = null;
    let why = "";
    const task = await this.tasks.change(reported.ID, (current, desired) => {
      const outcome = foldReport(current, desired, nodeName, reported);
      action = outcome.kind === "apply"
        ? "applied"
        : outcome.kind === "ignore"
        ? null
        : outcome.kind;
      if (outcome.kind === "stop-copy") why = outcome.why;
      if (outcome.kind === "ignore" && outcome.why) {
        this.#log(
          `ignoring a report of ${describeTask(reported)} from ${nodeName}: ${outcome.why}`,
        );
      }
      return outcome.kind === "apply" ? outcome.edit : null;
    });
    if (!task && isActive(reported.State)) [action, why] = ["stop-copy", "the task is unknown"];
    if (action === "stop-copy") {
      this.#log(`stopping a stale copy of ${describeTask(reported)} on ${nodeName}: ${why}`);
      this.#sender.stop({ ...reported, Node: nodeName });
    } else if (task && action === "stop") this.#sender.stop(task);
    else if (task && action === "applied") {
      if (task.State === State.Running) this.#line.ran(task.ID);
      if (isTerminal(task.State)) this.#planRestart(task);
    }
  }

  /** A heartbeat (joined workers push them; static workers are polled). */
  async heartbeat(
    name: string,
    api: string,
    stats: NodeStats,
    isStatic = false,
    labels?: Record<string, string>,
  ): Promise<HeartbeatOutcome> {
    const outcome = await this.nodes.heartbeat(name, api, stats, isStatic, labels);
    if (outcome === "same") return outcome;
    const action = outcome === "new" ? "joined" : "back";
    this.#nodeEvent(name, action, `node ${name} is ${action} (${api})`);
    this.wake();
    // A node that returns may still run copies of tasks that moved: sync stops them.
    this.#track(this.#watch.sync(name));
    return outcome;
  }

  // --- internals -------------------------------------------------------------------------

  /** A node's change: in the log and in the event stream. */
  #nodeEvent(node: string, action: string, message: string): void {
    this.#log(message);
    this.events.record({ Type: "node", Action: action, Message: message, Node: node });
  }

  /** Background work: awaited on close, and never an unhandled rejection. */
  #track(promise: Promise<unknown>): void {
    const tracked = promise.catch((error) => this.#log(errorMessage(error)));
    this.#inflight.add(tracked);
    tracked.finally(() => this.#inflight.delete(tracked));
  }

  /** A placement that could not be delivered goes back in line, away from that node. */
  async #unsent(task: Task, reason: string): Promise<void> {
    const moved = await this.tasks.change(
      task.ID,
      moves.unsent(task.Placement, task.Node, reason, isoNow(this.clock)),
    );
    if (moved?.State !== State.Pending) return;
    this.#log(`task ${describeTask(task)}: ${reason}`);
    this.#line.add(task.ID, task.Node);
    this.wake();
  }

  #planRestart(task: Task): void {
    if (this.tasks.desired(task.ID) !== "run") return;
    const decision = restartDecision(task, this.#opts.restartWindowMs);
    if (!decision.restart) {
      const reason = decision.reason;
      if (reason && task.State === State.Failed && !task.Error.endsWith(reason)) {
        this.#track(this.tasks.change(task.ID, moves.gaveUp(task.Revision, reason)));
      }
      return;
    }
    const delay = decision.counted
      ? Math.min(this.#opts.maxBackoffMs, this.#opts.restartBackoffMs * 2 ** (decision.count - 1))
      : this.#opts.restartBackoffMs;
    this.#restarts.set(task.ID, this.clock.now() + delay);
  }

  async #restartDue(): Promise<void> {
    const now = this.clock.now();
    const restarts: Promise<unknown>[] = [];
    for (const [id, due] of this.#restarts) {
      if (due > now) continue;
      this.#restarts.delete(id);
      restarts.push(
        this.#restart(id).catch((error) => {
          // Not stored: try again after the usual delay.
          if (this.tasks.get(id)) this.#restarts.set(id, now + this.#opts.restartBackoffMs);
          throw error;
        }),
      );
    }
    await settledOrThrow(restarts);
  }

  async #restart(id: string): Promise<void> {
    const before = this.tasks.get(id);
    const from = before?.Node ?? "";
    const task = await this.tasks.change(
      id,
      moves.restart((name) => this.nodes.get(name), this.#opts.restartWindowMs),
    );
    if (task && task !== before && !isTerminal(task.State)) {
      this.metrics.restarted(
        before?.FailureCause === "infrastructure" ? "infrastructure" : "task",
      );
    }
    if (task?.State === State.Scheduled) this.#sender.run(task);
    else if (task?.State === State.Pending) {
      // It could not start there: try another node.
      this.#line.add(id, from || undefined);
    }
  }

  #dispatchLoop(): Promise<void> {
    return this.#dispatch.run(this.#closing.signal, async () => {
      await this.#restartDue();
      if (await this.#line.round()) this.wake(); // a full round: more right behind it
    }, (message) => this.#log(`dispatch failed: ${message}`));
  }

  async #nodeDown(node: Node, reason: string): Promise<void> {
    await this.nodes.markDown(node.Name, reason);
    this.#nodeEvent(node.Name, "down", `node ${node.Name} is down: ${reason}`);
    this.metrics.nodeDown();
    await this.#moveTasksOff(node.Name, `node ${node.Name} is down (${reason})`);
  }

  /** Places a lost node's tasks again (stopped ones are finished): the infrastructure's fault. */
  async #moveTasksOff(name: string, why: string): Promise<void> {
    const lost = moves.lost(name, why, isoNow(this.clock));
    const changes = [...this.tasks.onNode(name)].filter((t) => isActive(t.State)).map((t) =>
      this.tasks.change(t.ID, lost).then((moved) => {
        if (moved?.State !== State.Pending) return;
        this.#line.add(moved.ID, name);
        this.metrics.rescheduled();
      })
    );
    try {
      await settledOrThrow(changes);
    } finally {
      this.wake();
    }
  }

  /** Once per heartbeat interval: a store probe while degraded, and garbage collection. */
  async #tick(): Promise<void> {
    await this.guard.probe(this.clock.now());
    const now = this.clock.now();
    const every = Math.min(
      60_000,
      this.#opts.taskRetentionMs / 10,
      this.#opts.nodeRetentionMs / 10,
    );
    if (now - this.#lastCollect < every) return;
    this.#lastCollect = now;
    const forgotten = await collect(this.tasks, this.nodes, now, (id) => this.#restarts.has(id), {
      ...this.#opts,
      log: this.#log,
    });
    for (const id of forgotten) this.#line.forget(id);
    await this.guard.run("collect old events", () => this.events.collect());
  }
}
