import type { Store, Write } from "../store/mod.ts";
import { type State, stateName } from "../task/mod.ts";

/** One line of a task's story: `GET /tasks/{id}/events`. */
export interface TaskHistoryEvent {
  Timestamp: string;
  State: State;
  StateName: string;
  Node: string;
  Message: string;
}

/**
 * Every state change of every task, with time and reason, in KV. Keys sort by task,
 * then time, so a task's story is one prefix scan.
 */
export class History {
  static readonly STORE = "events";
  #seq = 0;

  constructor(private readonly store: Store<TaskHistoryEvent>) {}

  /** The write that records one event; committed together with the task it describes. */
  entry(taskId: string, state: State, node: string, message: string): Write {
    const now = new Date();
    const key = `${taskId}:${now.getTime().toString().padStart(15, "0")}:${
      (this.#seq++ % 1e6).toString().padStart(6, "0")
    }`;
    const value: TaskHistoryEvent = {
      Timestamp: now.toISOString(),
      State: state,
      StateName: stateName(state),
      Node: node,
      Message: message,
    };
    return { store: History.STORE, key, value };
  }

  async of(taskId: string): Promise<TaskHistoryEvent[]> {
    return (await this.store.list({ prefix: `${taskId}:` })).map((e) => e.value);
  }
}
