/**
 * The manager's own moves, each a `Mutation` for `TaskBook.change`: pure functions of the
 * task's newest version (and what the user wants of it), so a move decided on stale
 * facts finds out and does nothing. Beside `reports.ts`, which says what a worker's
 * report may do, this file says what the manager may do of its own accord.
 *
 * @module
 */

import {
  isActive,
  isTerminal,
  type Node,
  ranFor,
  restartDecision,
  State,
  type Task,
} from "../task/mod.ts";
import type { Desired, Edit, Mutation } from "./task_book.ts";

function finish(task: Task, now: string, message: string, desired?: Desired): Edit {
  return { task: { ...task, State: State.Completed, FinishTime: now }, message, desired };
}

/** Pending → Scheduled on `node`, as the next placement; nothing if it was stopped meanwhile. */
export function place(node: string, scheduler: string): Mutation {
  return (t, desired) =>
    t.State === State.Pending && desired === "run"
      ? {
        task: {
          ...t,
          State: State.Scheduled,
          Node: node,
          Placement: t.Placement + 1,
          Revision: 0,
          Error: "",
          ContainerID: "",
          Progress: "",
        },
        message: `placed on ${node} by ${scheduler}`,
      }
      : null;
}

/** A Pending task no node can take yet says why (once per reason). */
export function waitForNode(reason: string): Mutation {
  return (t) =>
    t.State === State.Pending && t.Error !== reason
      ? { task: { ...t, Error: reason }, message: reason }
      : null;
}

/** A Pending task the user stopped is finished: nothing runs it. */
export function finishStopped(now: string): Mutation {
  return (t, desired) =>
    t.State === State.Pending && desired === "stop"
      ? finish(t, now, "stopped before it was placed")
      : null;
}

/**
 * The user's stop. Says through `send` whether the node must be asked to stop it (it runs
 * on a node that is up); otherwise the task is finished here at once.
 */
export function stop(
  nodeOf: (name: string) => Node | undefined,
  now: string,
  send: () => void,
  reason?: string,
) {
  return ((t, desired) => {
    if (isTerminal(t.State)) return desired === "stop" ? null : { task: t, desired: "stop" };
    const node = t.Node ? nodeOf(t.Node) : undefined;
    if (t.State === State.Pending || !node) {
      return finish(t, now, reason ?? "stopped before it was placed", "stop");
    }
    if (node.Status === "down") {
      return finish(
        t,
        now,
        `stopped while ${node.Name} is down; its copy will be stopped when the node returns`,
        "stop",
      );
    }
    send();
    if (desired === "stop") return null;
    return reason ? { task: t, desired: "stop", message: reason } : { task: t, desired: "stop" };
  }) satisfies Mutation;
}

/**
 * Every send of a placement failed: back in line (avoiding that node), or finished when
 * the user stopped it meanwhile (it never reached the node: nothing runs to stop).
 */
export function unsent(placement: number, node: string, reason: string, now: string): Mutation {
  return (t, desired) => {
    if (t.State !== State.Scheduled || t.Placement !== placement) return null;
    if (desired === "stop") return finish(t, now, `stopped before it reached ${node} (${reason})`);
    return { task: { ...t, State: State.Pending, Node: "", Error: reason }, message: reason };
  };
}

/** A node was lost (or removed): its tasks are placed again, the infrastructure's fault. */
export function lost(node: string, why: string, now: string): Mutation {
  return (t, desired) => {
    if (t.Node !== node || !isActive(t.State)) return null;
    if (desired === "stop") return finish(t, now, `stopped: ${why}`);
    const message = `${why}; rescheduling (infrastructure, not counted)`;
    return {
      task: {
        ...t,
        State: State.Pending,
        Node: "",
        ContainerID: "",
        HostPorts: {},
        Error: message,
        FailureCause: "infrastructure",
      },
      message,
    };
  };
}

/** The node never had the placement and the user stopped it meanwhile. */
export function neverArrived(node: string, now: string): Mutation {
  return (t, desired) =>
    t.State === State.Scheduled && t.Node === node && desired === "stop"
      ? finish(t, now, `stopped: ${node} never had it`)
      : null;
}

/** A finished task that gave up says so, once. */
export function gaveUp(revision: number, reason: string): Mutation {
  return (t) =>
    t.State === State.Failed && t.Revision === revision && !t.Error.endsWith(reason)
      ? { task: { ...t, Error: t.Error ? `${t.Error}; ${reason}` : reason }, message: reason }
      : null;
}

/**
 * A restart per the task's policy: in place (Scheduled, the next placement) when it ran
 * on a node that is up; elsewhere (Pending) when it never started there or the node is
 * gone. The message says which kind of restart it is.
 */
export function restart(nodeOf: (name: string) => Node | undefined, windowMs: number): Mutation {
  return (t, desired) => {
    if (!isTerminal(t.State) || desired !== "run") return null;
    const decision = restartDecision(t, windowMs);
    if (!decision.restart) return null;
    const count = decision.count;
    const after = t.Error || (t.State === State.Completed ? "exit" : "failure");
    const kind = !decision.counted
      ? "infrastructure failure, not counted"
      : count <= t.RestartCount
      ? `count reset: it ran ${Math.round(ranFor(t) / 1000)} s first`
      : "";
    const label = decision.counted ? `restart ${count}/${t.MaxRestarts}` : "restart";
    const why = `after: ${after}${kind ? ` (${kind})` : ""}`;
    const base = {
      ...t,
      RestartCount: count,
      ContainerID: "",
      Error: "",
      FailureCause: "" as const,
      Progress: "",
    };
    if (nodeOf(t.Node)?.Status === "ready" && t.ContainerID !== "") {
      return {
        task: { ...base, State: State.Scheduled, Placement: t.Placement + 1, Revision: 0 },
        message: `${label} on ${t.Node} ${why}`,
      };
    }
    return {
      task: { ...base, State: State.Pending, Node: "" },
      message: `rescheduling (${label}) ${why}`,
    };
  };
}
