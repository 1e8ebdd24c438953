/**
 * What a worker's report of a task does to the manager's record of it: the rules that
 * keep reports in order. Pure, so the rules can be read (and tested) in one place.
 *
 * - A report belongs to one placement of the task; one of an older placement, or from a
 *   node the task is not placed on, is stale: it never changes the record, and a stale
 *   copy that still runs on another node is stopped there.
 * - Within a placement, a report older than (or the same as) the newest one taken is
 *   ignored: workers stamp each change with a revision that only increases.
 * - A report only moves a task forward (Scheduled → Running → Completed or Failed).
 *
 * @module
 */

import { isActive, isForward, isTerminal, State, stateName, type Task } from "../task/mod.ts";
import { REPORTED_FACTS } from "./policy.ts";
import type { Desired, Edit } from "./task_book.ts";

export type ReportOutcome =
  /** Nothing to do (why, for a log line, when it is worth one). */
  | { kind: "ignore"; why?: string }
  /** A copy the reporting node should not run: stop it there. */
  | { kind: "stop-copy"; why: string }
  /** The user stopped the task and the node still runs it: ask again. */
  | { kind: "stop" }
  | { kind: "apply"; edit: Edit };

function isStamped(report: Task): boolean {
  return typeof report.Placement === "number" && report.Placement > 0;
}

export function foldReport(
  task: Task | undefined,
  desired: Desired,
  node: string,
  report: Task,
): ReportOutcome {
  const active = isActive(report.State);
  if (!task) {
    return active ? { kind: "stop-copy", why: "the task is unknown here" } : { kind: "ignore" };
  }
  if (node !== task.Node) {
    // The worker says it is the node the task is placed on: one worker known under two
    // names (listed with --workers and joined too). Its copy is the task, not a stale one.
    if (report.Node && report.Node === task.Node) {
      return { kind: "ignore", why: `${node} reports as ${report.Node}` };
    }
    if (!active) return { kind: "ignore" };
    return {
      kind: "stop-copy",
      why: task.Node ? `the task runs on ${task.Node}` : "the task is being placed again",
    };
  }
  if (desired === "stop" && active) {
    // Whatever its placement or revision: the user stopped it and the node still runs
    // it (a node that was down when the stop came holds an old record). Ask again.
    return { kind: "stop" };
  }
  if (isStamped(report)) {
    // Same node, older placement: a late report of the run before a restart in place.
    // Never a stop: the same task ID now names the newer run on that node.
    if (report.Placement !== task.Placement) return { kind: "ignore" };
    if (report.Revision <= task.Revision) return { kind: "ignore" };
  }
  const revision = isStamped(report) ? report.Revision : task.Revision;
  if (desired === "stop") {
    if (isTerminal(task.State)) return { kind: "ignore" };
    return {
      kind: "apply",
      edit: {
        task: {
          ...task,
          State: State.Completed,
          FinishTime: report.FinishTime,
          ContainerID: report.ContainerID,
          Revision: revision,
        },
        message: "stopped",
      },
    };
  }
  if (!isForward(task.State, report.State)) {
    return task.State === report.State ? { kind: "ignore" } : {
      kind: "ignore",
      why: `a report would move it back from ${stateName(task.State)} to ${
        stateName(report.State)
      }`,
    };
  }
  const facts: Partial<Task> = {};
  for (const key of REPORTED_FACTS) {
    if (report[key] !== undefined) (facts as Record<string, unknown>)[key] = report[key];
  }
  const changed = report.State !== task.State ||
    REPORTED_FACTS.some((k) =>
      report[k] !== undefined && JSON.stringify(task[k]) !== JSON.stringify(report[k])
    );
  if (!changed) return { kind: "ignore" };
  const next: Task = { ...task, ...facts, State: report.State, Revision: revision };
  const message = next.State === task.State
    // The same state, with something to tell (an image being pulled, a health check passed).
    ? (next.Progress !== task.Progress ? next.Progress : "")
    : next.State === State.Running
    ? `running on ${node} in ${next.ContainerID.slice(0, 12)}`
    : next.Error || `now ${stateName(next.State)}`;
  return { kind: "apply", edit: { task: next, message } };
}
