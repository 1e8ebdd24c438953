/**
 * When a finished task runs again, and whether that restart counts against its limit.
 * Pure, so that the manager, the CLI and the simulation's checks agree on it.
 *
 * @module
 */

import { State } from "./state.ts";
import { isZeroTime, type Task } from "./task.ts";

/** A task that ran this long before it failed starts its restart count afresh (Nomad's `interval`). */
export const DEFAULT_RESTART_WINDOW_MS = 10 * 60_000;

export interface RestartDecision {
  restart: boolean;
  /** Whether this restart uses up one of `MaxRestarts` (an infrastructure failure does not). */
  counted: boolean;
  /** `RestartCount` after the restart. */
  count: number;
  /** Why not, when the limit is what stopped it. */
  reason?: string;
}

/** How long the task's last run lasted, in ms; 0 when it never started. */
export function ranFor(task: Pick<Task, "StartTime" | "FinishTime">): number {
  if (isZeroTime(task.StartTime) || isZeroTime(task.FinishTime)) return 0;
  return Math.max(0, Date.parse(task.FinishTime) - Date.parse(task.StartTime));
}

/**
 * `RestartPolicy`: `""` and `"on-failure"` restart a Failed task; `"always"` and
 * `"unless-stopped"` also a Completed one (a container that exited 0 on its own); `"no"`
 * never. Counted restarts stop at `MaxRestarts` (the book's 3 by default); a failure of
 * the infrastructure is restarted without counting; and a task that ran for
 * `windowMs` before it ended starts its count afresh.
 */
export function restartDecision(
  task: Task,
  windowMs = DEFAULT_RESTART_WINDOW_MS,
): RestartDecision {
  const no = { restart: false, counted: false, count: task.RestartCount };
  const policy = task.RestartPolicy;
  if (task.State !== State.Failed && task.State !== State.Completed) return no;
  if (policy === "no") return no;
  if (task.State === State.Completed && policy !== "always" && policy !== "unless-stopped") {
    return no;
  }
  if (task.State === State.Failed && task.FailureCause === "infrastructure") {
    return { restart: true, counted: false, count: task.RestartCount };
  }
  const base = ranFor(task) >= windowMs ? 0 : task.RestartCount;
  if (base >= task.MaxRestarts) {
    return { ...no, reason: `gave up after ${task.RestartCount} restarts` };
  }
  return { restart: true, counted: true, count: base + 1 };
}
