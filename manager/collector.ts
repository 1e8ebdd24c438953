/**
 * Garbage collection, in the spirit of Nomad's job GC: finished tasks (Completed, or
 * Failed with no restart due) and their history are forgotten a retention period after
 * they finished, and nodes down longer than theirs are forgotten (static ones excepted:
 * they are configured).
 *
 * @module
 */

import { finishedAt, isActive, isTerminal, restartDecision, type Task } from "../task/mod.ts";
import type { NodeRegistry } from "./nodes.ts";
import type { Desired, TaskBook } from "./task_book.ts";

export interface CollectorOptions {
  taskRetentionMs: number;
  nodeRetentionMs: number;
  restartWindowMs: number;
  log: (message: string) => void;
}

/**
 * Forgets what is past its retention at `now`; `restartDue` says which tasks wait for a
 * restart (never forgotten). Returns the IDs of the tasks forgotten.
 */
export async function collect(
  tasks: TaskBook,
  nodes: NodeRegistry,
  now: number,
  restartDue: (id: string) => boolean,
  options: CollectorOptions,
): Promise<string[]> {
  const done = (t: Task, desired: Desired) =>
    isTerminal(t.State) && !restartDue(t.ID) &&
    (desired === "stop" || !restartDecision(t, options.restartWindowMs).restart) &&
    now - finishedAt(t) > options.taskRetentionMs;
  const forgotten: string[] = [];
  for (const task of [...tasks.values()]) {
    if (done(task, tasks.desired(task.ID)) && await tasks.remove(task.ID, done)) {
      forgotten.push(task.ID);
    }
  }
  if (forgotten.length > 0) options.log(`forgot ${forgotten.length} finished tasks`);
  for (const node of nodes.forgettable(options.nodeRetentionMs)) {
    if ([...tasks.onNode(node.Name)].some((t) => isActive(t.State))) continue;
    await nodes.forget(node.Name);
    options.log(`forgot node ${node.Name}: down since ${node.LastHeartbeat || "it was added"}`);
  }
  return forgotten;
}
