/**
 * The line of tasks waiting for a node, and the round that places them: up to
 * `DISPATCH_ROUND` at a time, in submission order, each through select → score → pick
 * (a service's replicas spread first), each stored Scheduled before it is sent. A task
 * that could not run on a node (it could not start there, the node died, the send failed)
 * avoids that node until it runs, unless no other node is left.
 *
 * A service's new replicas join the line before they are stored (`submit`): each is
 * stored once it is placed, in one write that holds both its submission and its
 * placement (or, when no node can take it, Pending with why). Storing each Pending
 * first was a third of the writes a 10,000-replica service cost the store and the
 * manager. Nothing acknowledged waits unstored: the service's spec is stored, and its
 * reconciler makes whatever replicas a crash lost again.
 *
 * @module
 */

import { settledOrThrow } from "../lib/async.ts";
import { type Clock, isoNow } from "../lib/clock.ts";
import { fits, place, type Placement, type Scheduler } from "../scheduler/mod.ts";
import { isTerminal, type Node, State, type Task } from "../task/mod.ts";
import * as moves from "./moves.ts";
import type { ManagerMetrics } from "./metrics.ts";
import type { Sender } from "./sender.ts";
import { SCORED_PER_REPLICA, spreadAmong, SpreadIndex } from "./spread.ts";
import type { Mutation, TaskBook } from "./task_book.ts";

/**
 * Placements per dispatch round: each round is one store commit and then its sends, so a
 * burst of thousands of submissions reaches the workers in waves, not all at once.
 */
export const DISPATCH_ROUND = 256;

export interface DispatcherOptions {
  tasks: TaskBook;
  scheduler: Scheduler;
  sender: Sender;
  clock: Clock;
  /** The nodes with their allocations as of now. */
  nodes: () => Node[];
  /** The label a service spreads its replicas over ("" for nodes). */
  spreadLabel: (service: string) => string;
  metrics: ManagerMetrics;
}

/** A task in line that is not stored yet, and who waits for it to be. */
interface Unstored {
  task: Task;
  /** Checked before it is stored: a replica of a service removed meanwhile is not. */
  wanted: () => boolean;
  resolve: (stored: Task | undefined) => void;
  reject: (error: unknown) => void;
}

export class Dispatcher {
  /** Pending tasks in submission order. */
  readonly #pending = new Set<string>();
  /** Nodes a task must avoid until it runs. */
  readonly #avoid = new Map<string, Set<string>>();
  /** When each task in line joined it (clock ms): for the placement latency. */
  readonly #since = new Map<string, number>();
  /** Tasks in line that are stored only once placed (`submit`). */
  readonly #unstored = new Map<string, Unstored>();
  /** Where the next replica's sample of nodes to score starts (spread.ts). */
  #sampleStart = 0;

  constructor(private readonly opts: DispatcherOptions) {}

  get pending(): number {
    return this.#pending.size;
  }

  get avoiding(): number {
    return this.#avoid.size;
  }

  /** Puts a task in line; `avoid`: a node it must not go back to. */
  add(id: string, avoid?: string): void {
    if (avoid) {
      let set = this.#avoid.get(id);
      if (!set) this.#avoid.set(id, set = new Set());
      set.add(avoid);
    }
    this.#pending.add(id);
    if (!this.#since.has(id)) this.#since.set(id, this.opts.clock.now());
  }

  /**
   * Puts a new task in line without storing it first; it is stored once placed, or
   * Pending when no node can take it. Resolves with it as stored, or undefined when it
   * is no longer `wanted` by then; rejects when the store refused it (it left the line).
   */
  submit(task: Task, wanted: () => boolean): Promise<Task | undefined> {
    return new Promise((resolve, reject) => {
      this.#unstored.set(task.ID, { task, wanted, resolve, reject });
      this.add(task.ID);
    });
  }

  /** The task runs: it may go anywhere next time. */
  ran(id: string): void {
    this.#avoid.delete(id);
  }

  /** The task is stopped or forgotten. */
  forget(id: string): void {
    this.#pending.delete(id);
    this.#avoid.delete(id);
    this.#since.delete(id);
  }

  /** One round; resolves true when it was full (more may be waiting right behind it). */
  async round(): Promise<boolean> {
    const { tasks, clock, scheduler, sender } = this.opts;
    if (this.#pending.size === 0) return false;
    const nodes = this.opts.nodes();
    const changes: Promise<unknown>[] = [];
    let placed = 0;
    // Replicas per node of each service placed this round: counted once, kept up to date.
    const spread = new Map<string, Map<string, number>>();
    const replicasOf = (service: string) => {
      let counts = spread.get(service);
      if (!counts) {
        spread.set(service, counts = new Map());
        for (const t of tasks.values()) {
          if (t.Service !== service || !t.Node || isTerminal(t.State)) continue;
          if (tasks.desired(t.ID) !== "run") continue;
          counts.set(t.Node, (counts.get(t.Node) ?? 0) + 1);
        }
      }
      return counts;
    };
    const indexes = new Map<string, SpreadIndex>();
    const indexOf = (service: string) => {
      let index = indexes.get(service);
      if (!index) indexes.set(service, index = new SpreadIndex(nodes, replicasOf(service)));
      return index;
    };
    for (const id of [...this.#pending]) {
      if (placed >= DISPATCH_ROUND) break;
      const unstored = this.#unstored.get(id);
      if (unstored && !unstored.wanted()) {
        this.forget(id);
        this.#unstored.delete(id);
        unstored.resolve(undefined);
        continue;
      }
      const task = unstored?.task ?? tasks.get(id);
      if (!task || task.State !== State.Pending || tasks.desired(id) !== "run") {
        this.#pending.delete(id);
        this.#since.delete(id);
        if (task?.State === State.Pending) {
          changes.push(tasks.change(id, moves.finishStopped(isoNow(clock))));
        }
        continue;
      }
      const avoid = this.#avoid.get(id);
      let candidates = avoid ? nodes.filter((n) => !avoid.has(n.Name)) : nodes;
      if (avoid && candidates.every((n) => n.Status !== "ready")) {
        // Every other node is gone too: trying an avoided node beats waiting forever.
        this.#avoid.delete(id);
        candidates = nodes;
      }
      const label = task.Service ? this.opts.spreadLabel(task.Service) : "";
      let placement: Placement | null = null;
      if (task.Service && !label) {
        // A few nodes of the fewest-replicas level, not a pass over all (spread.ts); when
        // they give nothing, the full pass below says why.
        const fit = fits(task);
        const avoiding = this.#avoid.get(id);
        const sample = indexOf(task.Service).sample(
          (n) => !avoiding?.has(n.Name) && fit(n),
          this.#sampleStart++,
          SCORED_PER_REPLICA,
        );
        if (sample.length) placement = place(scheduler, task, sample);
      }
      if (!placement?.node) {
        const prefer = task.Service
          ? (feasible: Node[]) =>
            spreadAmong(
              feasible,
              replicasOf(task.Service),
              label,
              nodes,
              this.#sampleStart++,
              SCORED_PER_REPLICA,
            )
          : undefined;
        placement = place(scheduler, task, candidates, prefer);
      }
      if (!placement.node) {
        const reason = `waiting for a node: ${placement.reason}`;
        if (unstored) {
          // Stored Pending with why; it stays in line as any stored task does.
          this.opts.metrics.placementFailed(placement.reason);
          changes.push(this.#store(unstored, moves.waitForNode(reason)));
        } else if (task.Error !== reason) {
          this.opts.metrics.placementFailed(placement.reason);
          changes.push(tasks.change(id, moves.waitForNode(reason)));
        }
        continue;
      }
      const node = placement.node;
      this.#pending.delete(id);
      placed++;
      // Count it against the node at once so the rest of this round sees it.
      node.CpuAllocated += task.Cpu;
      node.MemoryAllocated += task.Memory;
      node.DiskAllocated += task.Disk;
      node.TaskCount++;
      if (task.Service) {
        const counts = replicasOf(task.Service);
        counts.set(node.Name, (counts.get(node.Name) ?? 0) + 1);
        indexes.get(task.Service)?.placed(node);
      }
      // Asked for in one turn, the round's changes share one commit; each is applied to
      // the task's newest version, so a stop that came first wins.
      const placing = unstored
        ? this.#store(unstored, moves.place(node.Name, scheduler.name))
        : tasks.change(id, moves.place(node.Name, scheduler.name));
      changes.push(placing.then((stored) => {
        const since = this.#since.get(id);
        this.#since.delete(id);
        if (stored?.State === State.Scheduled && stored.Node === node.Name) {
          if (since !== undefined) this.opts.metrics.placed((clock.now() - since) / 1000);
          sender.queue(stored);
        }
      }, (error) => {
        // Not stored (the store failed): it stays Pending and is tried again; one never
        // stored is left to whoever submitted it.
        if (tasks.get(id)?.State === State.Pending) this.#pending.add(id);
        throw error;
      }));
    }
    await settledOrThrow(changes).finally(() => {
      // A full round has more behind it: its placements wait for them (outbox.ts).
      if (placed < DISPATCH_ROUND) sender.flush();
    });
    return placed >= DISPATCH_ROUND;
  }

  /**
   * Stores a task from `submit` as `move` leaves it, with its submission before it in
   * the same write. Refused by the store, it leaves the line and its submitter hears why.
   */
  #store(unstored: Unstored, move: Mutation): Promise<Task | undefined> {
    const { task } = unstored;
    this.#unstored.delete(task.ID);
    const edit = move(task, "run")!;
    return this.opts.tasks.create(edit.task, edit.message ?? "", {
      task,
      message: "submitted",
    }).then((stored) => {
      unstored.resolve(stored);
      return stored;
    }, (error) => {
      this.forget(task.ID);
      unstored.reject(error);
      throw error;
    });
  }
}
