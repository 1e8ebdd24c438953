/**
 * Task states as numbers on the wire, exactly as the book's `task.State` iota.
 *
 * @module
 */

export enum State {
  Pending = 0,
  Scheduled = 1,
  Running = 2,
  Completed = 3,
  Failed = 4,
}

export const STATE_NAMES: Readonly<Record<State, string>> = {
  [State.Pending]: "Pending",
  [State.Scheduled]: "Scheduled",
  [State.Running]: "Running",
  [State.Completed]: "Completed",
  [State.Failed]: "Failed",
};

/**
 * Allowed transitions. The book's table is kept (Pending -> Scheduled, Scheduled ->
 * Running/Failed, Running -> Completed/Failed) and extended where cube needs it:
 * - a task can be stopped before it ever runs (Pending/Scheduled -> Completed);
 * - restarts and rescheduling put a finished or lost task back in line
 *   (Failed/Completed/Running -> Scheduled or Pending, Scheduled -> Pending);
 * - an adopted task can be found already Running (Pending -> Running);
 * - a task that can never be placed fails (Pending -> Failed).
 * Every self-transition is allowed: it records new facts (ports, error) in place.
 */
const TRANSITIONS: Readonly<Record<State, readonly State[]>> = {
  [State.Pending]: [State.Pending, State.Scheduled, State.Running, State.Completed, State.Failed],
  [State.Scheduled]: [
    State.Scheduled,
    State.Pending,
    State.Running,
    State.Completed,
    State.Failed,
  ],
  [State.Running]: [State.Running, State.Pending, State.Scheduled, State.Completed, State.Failed],
  [State.Completed]: [State.Completed, State.Scheduled, State.Pending],
  [State.Failed]: [State.Failed, State.Scheduled, State.Pending],
};

export function isValidTransition(from: State, to: State): boolean {
  return TRANSITIONS[from]?.includes(to) ?? false;
}

/** States in which a task holds (or is about to hold) a container. */
export function isActive(state: State): boolean {
  return state === State.Scheduled || state === State.Running;
}

/** States a task only leaves when someone starts it again. */
export function isTerminal(state: State): boolean {
  return state === State.Completed || state === State.Failed;
}

/** How far along its life a task is: a worker's reports only ever move a task forward. */
const PROGRESS: Readonly<Record<State, number>> = {
  [State.Pending]: 0,
  [State.Scheduled]: 1,
  [State.Running]: 2,
  [State.Completed]: 3,
  [State.Failed]: 3,
};

/**
 * Whether a worker's report may move a task from `from` to `to`: onward (Scheduled →
 * Running → Completed or Failed), or to the same live state with new facts. Never back,
 * never out of a finished state: restarts and moves are the manager's, not a report's.
 */
export function isForward(from: State, to: State): boolean {
  if (PROGRESS[to] > PROGRESS[from]) return true;
  return from === to && !isTerminal(from);
}

export function stateName(state: State): string {
  return STATE_NAMES[state] ?? `Unknown(${state})`;
}

/** How many tasks are in each state, every state named (zero when none). */
export function countStates(tasks: Iterable<{ State: State }>): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const name of Object.values(STATE_NAMES)) counts[name] = 0;
  for (const task of tasks) {
    counts[stateName(task.State)] = (counts[stateName(task.State)] ?? 0) + 1;
  }
  return counts;
}
