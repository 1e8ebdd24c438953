/**
 * What a node does with a task the manager sends it: the one rule the Docker worker and
 * the simulated node share. A placement runs at most once on a node: a duplicate or a
 * late copy of a send never starts it again.
 *
 * @module
 */

import { isActive, isTerminal, State, type Task, type TaskEvent } from "../task/mod.ts";

export type Admission =
  /** Nothing to do: it runs (or ran) here already. */
  | { kind: "keep" }
  /** Its copy still runs here: that copy becomes the new placement. */
  | { kind: "adopt"; placement: number }
  /** Start it: the record to store as Scheduled. */
  | { kind: "run"; task: Task };

/** `stopping`: a stop of the task is still to be carried out here. */
export function admit(
  existing: Task | null,
  event: TaskEvent,
  node: string,
  stopping = false,
): Admission {
  // A client that does not stamp placements (the book's) sends 0: it may run a task again.
  const incoming = event.Task.Placement || 0;
  const placement = incoming || existing?.Placement || 0;
  if (existing && incoming > 0 && incoming < existing.Placement) return { kind: "keep" };
  if (existing && isActive(existing.State)) {
    // A duplicate of a send that came before a stop must not undo the stop; a newer
    // placement does (the copy runs on as that placement), and so does the book's client.
    if (existing.Placement === placement && (!stopping || incoming > 0)) return { kind: "keep" };
    if (!stopping) return { kind: "adopt", placement };
  }
  if (existing && incoming > 0 && existing.Placement === incoming && isTerminal(existing.State)) {
    return { kind: "keep" };
  }
  return {
    kind: "run",
    task: {
      ...event.Task,
      State: State.Scheduled,
      Node: node,
      ContainerID: "",
      Error: "",
      FailureCause: "",
      Placement: placement,
      Revision: existing?.Revision ?? 0,
      CreateTime: existing?.CreateTime ?? event.Task.CreateTime,
    },
  };
}
