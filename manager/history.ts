import type { Clock } from "../lib/clock.ts";
import type { Store, Write } from "../store/mod.ts";
import { type State, stateName, type TaskHistoryEvent } from "../task/mod.ts";

/**
 * Every state change of every task, with time and reason, in KV. Keys sort by task,
 * then time, so a task's story is one prefix scan (and one prefix to forget).
 */
export class History {
  static readonly STORE = "events";
  #seq = 0;

  constructor(private readonly store: Store<TaskHistoryEvent>, private readonly clock: Clock) {}

  /** The write that records one event; committed together with the task it describes. */
  entry(taskId: string, state: State, node: string, message: string): Write {
    const now = this.clock.now();
    const key = `${taskId}:${now.toString().padStart(15, "0")}:${
      (this.#seq++ % 1e6).toString().padStart(6, "0")
    }`;
    const value: TaskHistoryEvent = {
      Timestamp: new Date(now).toISOString(),
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

  /** The deletions that forget a task's story. */
  async forget(taskId: string): Promise<Write[]> {
    return (await this.store.list({ prefix: `${taskId}:` })).map((e) => ({
      store: History.STORE,
      key: e.key,
      delete: true as const,
    }));
  }
}
