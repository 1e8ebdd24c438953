/**
 * The invariants of a seeded run. Some are checked on every change the manager stores
 * (reports never move a task back, nothing running is moved without its node going
 * silent, stopped tasks are never placed again, restarts follow the policy); the rest
 * once the cluster has been healed and has settled (every acknowledged task exists, no
 * task runs twice, nothing is stuck, memory is bounded by live work).
 *
 * @module
 */

import type { Manager } from "../manager/mod.ts";
import { NodeLoads } from "../manager/policy.ts";
import { isActive, isForward, isTerminal, State, stateName, type Task } from "../task/mod.ts";
import type { SimCluster } from "./cluster.ts";
import { TIMINGS } from "./cluster.ts";

export class Checker {
  readonly violations: string[] = [];
  /** Tasks whose submission was acknowledged (201). */
  readonly acknowledged = new Set<string>();
  /** Tasks whose stop was acknowledged (204), and when. */
  readonly stopped = new Map<string, number>();
  /** The last heartbeat each node got through to the manager (simulated ms). */
  readonly heartbeats = new Map<string, number>();
  #hash = 2166136261;
  changes = 0;

  constructor(private readonly now: () => number) {}

  /** A fingerprint of every change in order: the same seed must give the same one. */
  get fingerprint(): string {
    return (this.#hash >>> 0).toString(16).padStart(8, "0");
  }

  #fail(message: string): void {
    if (this.violations.length < 20) this.violations.push(`t=${this.now()}: ${message}`);
  }

  #mix(text: string): void {
    for (let i = 0; i < text.length; i++) {
      this.#hash ^= text.charCodeAt(i);
      this.#hash = Math.imul(this.#hash, 16777619);
    }
  }

  /** Watches a manager's every stored change. */
  watch(manager: Manager): void {
    manager.tasks.observe((before, after, message) => this.#change(before, after, message));
  }

  #change(before: Task | null, after: Task | null, message: string): void {
    this.changes++;
    const task = after ?? before!;
    this.#mix(
      `${this.now()}|${task.ID}|${
        after ? `${after.State}|${after.Node}|${after.Placement}` : "-"
      }|${message}`,
    );
    if (!before || !after) return;
    const id = task.ID.slice(0, 8);
    const moved = after.Placement !== before.Placement || after.Node !== before.Node;
    // No report moved a task backwards: within one placement on one node, only forward.
    if (
      !moved && after.Node !== "" && after.State !== before.State &&
      !isForward(before.State, after.State)
    ) {
      this.#fail(
        `${id} went back from ${stateName(before.State)} to ${stateName(after.State)}: ${message}`,
      );
    }
    // No Running task was moved without a cause: only its node's silence moves it.
    if (before.State === State.Running && moved) {
      const silent = this.now() - (this.heartbeats.get(before.Node) ?? 0);
      if (!/is down|removed with DELETE/.test(message)) {
        this.#fail(`${id} was moved off ${before.Node} while Running: ${message}`);
      } else if (silent < TIMINGS.nodeTimeoutMs) {
        this.#fail(
          `${id} was moved off ${before.Node} after ${silent} ms of silence (< node timeout)`,
        );
      }
    }
    // A stopped task stays stopped.
    const stoppedAt = this.stopped.get(after.ID);
    if (stoppedAt !== undefined && after.Placement > before.Placement) {
      this.#fail(`${id} was placed again after its stop was acknowledged: ${message}`);
    }
    // Restart counts follow the policy.
    if (after.RestartCount > after.MaxRestarts) {
      this.#fail(`${id} has ${after.RestartCount} restarts, more than its ${after.MaxRestarts}`);
    }
    if (after.RestartCount > before.RestartCount) {
      if (after.RestartPolicy === "no") this.#fail(`${id} was restarted with policy "no"`);
      if (
        before.State === State.Completed && after.RestartPolicy !== "always" &&
        after.RestartPolicy !== "unless-stopped"
      ) this.#fail(`${id} was restarted after it completed, with policy "${after.RestartPolicy}"`);
      if (before.FailureCause === "infrastructure") {
        this.#fail(`${id}: an infrastructure failure used up a restart`);
      }
    }
  }

  /** An unhandled rejection anywhere is a violation. */
  rejection(reason: unknown): void {
    this.#fail(`unhandled rejection: ${reason instanceof Error ? reason.stack : reason}`);
  }

  /** The checks on a healed, settled cluster. */
  settled(cluster: SimCluster): void {
    const manager = cluster.manager!;
    for (const id of this.acknowledged) {
      if (!manager.tasks.get(id)) this.#fail(`acknowledged task ${id.slice(0, 8)} is lost`);
    }
    const copies = new Map<string, string[]>();
    for (const node of cluster.alive()) {
      for (const task of node.running()) {
        copies.set(task.ID, [...copies.get(task.ID) ?? [], node.name]);
      }
    }
    for (const [id, nodes] of copies) {
      const task = manager.tasks.get(id);
      if (nodes.length > 1) this.#fail(`${id.slice(0, 8)} runs on ${nodes.join(" and ")}`);
      else if (!task) this.#fail(`${id.slice(0, 8)} runs on ${nodes[0]} but the manager forgot it`);
      else if (task.State !== State.Running || task.Node !== nodes[0]) {
        this.#fail(
          `${id.slice(0, 8)} runs on ${nodes[0]}, but the manager has it ${
            stateName(task.State)
          } on "${task.Node}"`,
        );
      }
    }
    for (const task of manager.tasks.values()) {
      const id = task.ID.slice(0, 8);
      const desired = manager.tasks.desired(task.ID);
      if (this.stopped.has(task.ID) && (!isTerminal(task.State) || desired !== "stop")) {
        this.#fail(`${id} was stopped but is ${stateName(task.State)} (desired ${desired})`);
      }
      if (task.State === State.Running && !copies.get(task.ID)?.includes(task.Node)) {
        this.#fail(`${id} is Running on ${task.Node} in the manager, but not there`);
      }
      if (desired === "run" && (task.State === State.Scheduled || task.State === State.Pending)) {
        this.#fail(`${id} is stuck ${stateName(task.State)}: ${task.Error}`);
      }
    }
    this.#allocations(manager);
    this.#footprint(manager, cluster);
  }

  /** What each node shows as promised (kept as tasks changed) is what its tasks add up to. */
  #allocations(manager: Manager): void {
    const fresh = new NodeLoads();
    for (const task of manager.tasks.values()) fresh.update(null, task);
    const expected = new Map(fresh.allocate(manager.nodes.list()).map((n) => [n.Name, n]));
    for (const node of manager.listNodes()) {
      const want = expected.get(node.Name)!;
      const figures = (n: typeof node) =>
        `${n.TaskCount} tasks, ${n.CpuAllocated} cores, ${n.MemoryAllocated} B, ${n.DiskAllocated} B`;
      if (figures(node) !== figures(want)) {
        this.#fail(
          `node ${node.Name} shows ${figures(node)} allocated; its tasks add up to ${
            figures(want)
          }`,
        );
      }
    }
  }

  #footprint(manager: Manager, cluster: SimCluster): void {
    const tasks = [...manager.tasks.values()];
    const f = manager.footprint();
    const waiting = tasks.filter((t) => !isActive(t.State) || t.State === State.Pending).length;
    const limits: [string, number, number][] = [
      ["pending", f.pending, tasks.filter((t) => t.State === State.Pending).length],
      ["restarts", f.restarts, tasks.filter((t) => isTerminal(t.State)).length],
      ["avoid", f.avoid, waiting],
      ["changing", f.changing, 0],
      ["sending", f.sending, tasks.filter((t) => t.State === State.Scheduled).length],
      ["stopping", f.stopping, tasks.length],
      ["inflight", f.inflight, cluster.workers.size * 4],
    ];
    for (const [what, value, limit] of limits) {
      if (value > limit) this.#fail(`memory: ${what} holds ${value}, live work allows ${limit}`);
    }
  }
}
