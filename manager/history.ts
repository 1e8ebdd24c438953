/**
 * A task's story (`GET /tasks/{id}/events`), kept in the task's own record: every change
 * of a task rewrites its record anyway, so the story costs no write of its own. (Kept as
 * lines of their own, a replica's way to Running cost seven writes instead of three, and
 * Deno KV's writes were what a 10,000-replica service waited on.) Like Nomad's task
 * events, the story is bounded: its first event and the latest ones, with a count of those
 * in between, so a task that restarts for months does not grow without end.
 *
 * @module
 */

import type { Clock } from "../lib/clock.ts";
import { type State, stateName, type Task, type TaskHistoryEvent } from "../task/mod.ts";

/** Events a story keeps: its first and the latest `STORY_LIMIT - 1`. */
export const STORY_LIMIT = 20;

/** A task's story as stored: the events kept, and how many were let go. */
export interface Story {
  History: TaskHistoryEvent[];
  /** Events let go between the first and the ones kept. */
  Earlier: number;
}

/** What the task book stores per task. */
export interface TaskRecord extends Story {
  Task: Task;
}

/** Whether a stored value is a record (and not a task stored before stories moved in). */
export function isRecord(value: unknown): value is TaskRecord {
  return typeof value === "object" && value !== null && "Task" in value && "History" in value;
}

export function historyEvent(
  clock: Clock,
  state: State,
  node: string,
  message: string,
): TaskHistoryEvent {
  return {
    Timestamp: new Date(clock.now()).toISOString(),
    State: state,
    StateName: stateName(state),
    Node: node,
    Message: message,
  };
}

/** The story with one more event; the oldest but the first let go past the limit. */
export function told(story: Story | undefined, event: TaskHistoryEvent): Story {
  if (!story) return { History: [event], Earlier: 0 };
  const history = [...story.History, event];
  if (history.length <= STORY_LIMIT) return { History: history, Earlier: story.Earlier };
  history.splice(1, history.length - STORY_LIMIT);
  return { History: history, Earlier: story.Earlier + 1 };
}

/** Where tasks' stories were kept before they moved into the records: one line per event. */
export const OLD_HISTORY_STORE = "events";

/** An old story's lines (keys `id:time:seq`, oldest first) made into a bounded story. */
export function storyFromLines(lines: TaskHistoryEvent[]): Story {
  let story: Story | undefined;
  for (const line of lines) story = told(story, line);
  return story ?? { History: [], Earlier: 0 };
}
