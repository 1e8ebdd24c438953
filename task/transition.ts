import { CubeError } from "../lib/errors.ts";
import { isValidTransition, type State, stateName } from "./state.ts";
import type { Task } from "./task.ts";

/**
 * Every change of a task's state goes through here: it returns the task in its new
 * state with the given facts merged, or throws a 409 naming the refused move.
 */
export function transition(task: Task, to: State, facts: Partial<Task> = {}): Task {
  if (!isValidTransition(task.State, to)) {
    throw new CubeError(
      409,
      `Task ${task.ID} cannot go from ${stateName(task.State)} to ${stateName(to)}`,
    );
  }
  return { ...task, ...facts, State: to };
}
