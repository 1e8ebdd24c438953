/**
 * The messages between cube's processes besides tasks themselves: a task's history
 * event, a worker's heartbeat, and its reports.
 *
 * @module
 */

import type { NodeStats } from "./node.ts";
import type { State } from "./state.ts";
import type { Task } from "./task.ts";

/** One line of a task's story: `GET /tasks/{id}/events`. */
export interface TaskHistoryEvent {
  Timestamp: string;
  State: State;
  StateName: string;
  Node: string;
  Message: string;
}

/** `POST /nodes`: a worker says it is alive, where it answers, and what it has. */
export interface Heartbeat {
  Name: string;
  Api: string;
  Stats: NodeStats;
  /** The worker's own labels (`cube worker --label k=v`). */
  Labels?: Record<string, string>;
}

/**
 * `POST /nodes/{name}/tasks`: a worker's records of tasks that changed, each stamped with
 * its placement and revision. A batch stays under `MAX_REPORT_BYTES` of JSON.
 */
export type TaskReport = Task[];

/** Below the API's 48 KiB body limit, with room to spare. */
export const MAX_REPORT_BYTES = 32 * 1024;
