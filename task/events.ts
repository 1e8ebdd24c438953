/**
 * The cluster's event stream (`GET /events`): every change of a task, a service or a
 * node, numbered in order. A client resumes after the last index it saw.
 *
 * @module
 */

import type { State } from "./state.ts";

export const EVENT_TYPES = ["task", "service", "node"] as const;
export type EventType = typeof EVENT_TYPES[number];

export interface ClusterEvent {
  /** Increasing, never reused: what `Last-Event-ID` and `?since=` take. */
  Index: number;
  Timestamp: string;
  Type: EventType;
  /**
   * What happened: for a task its new state's name (`Running`) or `changed`; for a
   * service `created`, `scaled`, `updating`, `completed`, `rolled back`, `paused`,
   * `removed`; for a node `joined`, `down`, `back`, `active`, `pause`, `drain`, `forgotten`.
   */
  Action: string;
  Message: string;
  /** The task's ID (task events). */
  Task?: string;
  /** The task's or the service's name. */
  Name?: string;
  Service?: string;
  Node?: string;
  State?: State;
}

/** What a stream is narrowed to: each given field must match. */
export interface EventFilter {
  task?: string;
  service?: string;
  node?: string;
  types?: EventType[];
}

export function matchesFilter(event: ClusterEvent, filter: EventFilter): boolean {
  if (filter.types && !filter.types.includes(event.Type)) return false;
  if (filter.task && event.Task !== filter.task && event.Name !== filter.task) return false;
  if (filter.service && event.Service !== filter.service) return false;
  if (filter.node && event.Node !== filter.node) return false;
  return true;
}
