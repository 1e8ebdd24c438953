/**
 * The CLI's way to the manager: fetch with timeouts, the book's error shape turned into
 * one-line messages, and a manager that is not there turned into advice.
 *
 * @module
 */

import { fetchFailure, messageIn } from "../lib/errors.ts";
import type { Node, Task, TaskHistoryEvent } from "../task/mod.ts";

export const DEFAULT_MANAGER = "http://localhost:5555";

/** A failure the CLI reports as one line and a non-zero exit. */
export class CliError extends Error {
  override name = "CliError";
}

export class ManagerClient {
  readonly url: string;

  constructor(url: string) {
    this.url = url.replace(/\/$/, "");
  }

  async #fetch(path: string, init: RequestInit = {}): Promise<Response> {
    try {
      return await fetch(`${this.url}${path}`, {
        ...init,
        signal: init.signal ?? AbortSignal.timeout(10_000),
      });
    } catch (error) {
      const reason = fetchFailure(error, 10_000);
      throw new CliError(
        `cannot reach the manager at ${this.url}: ${reason} — is 'cube manager' running?`,
      );
    }
  }

  async #json<T>(path: string, init: RequestInit = {}): Promise<T> {
    const response = await this.#fetch(path, init);
    const text = await response.text();
    if (!response.ok) throw new CliError(messageOf(text, response.status));
    return (text ? JSON.parse(text) : null) as T;
  }

  tasks(): Promise<Task[]> {
    return this.#json<Task[]>("/tasks");
  }

  task(id: string): Promise<Task> {
    return this.#json<Task>(`/tasks/${id}`);
  }

  events(id: string): Promise<TaskHistoryEvent[]> {
    return this.#json<TaskHistoryEvent[]>(`/tasks/${id}/events`);
  }

  nodes(): Promise<Node[]> {
    return this.#json<Node[]>("/nodes");
  }

  submit(body: unknown): Promise<Task> {
    return this.#json<Task>("/tasks", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(body),
    });
  }

  async stop(id: string): Promise<void> {
    await this.#json(`/tasks/${id}`, { method: "DELETE" });
  }

  async logs(
    id: string,
    options: { follow: boolean; tail?: number },
    signal: AbortSignal,
  ): Promise<ReadableStream<Uint8Array>> {
    const params = new URLSearchParams({ follow: String(options.follow) });
    if (options.tail !== undefined) params.set("tail", String(options.tail));
    const response = await this.#fetch(`/tasks/${id}/logs?${params}`, { signal });
    if (!response.ok || !response.body) {
      throw new CliError(messageOf(await response.text(), response.status));
    }
    return response.body;
  }
}

function messageOf(text: string, status: number): string {
  return messageIn(text) ?? `the manager answered ${status}: ${text.slice(0, 200)}`;
}

/**
 * Finds a task by full ID, unique ID prefix, or name (the newest active task of that
 * name wins over finished ones). Says what matched when the reference is ambiguous.
 */
export async function resolveTask(client: ManagerClient, ref: string): Promise<Task> {
  const tasks = await client.tasks();
  const needle = ref.toLowerCase();
  const exact = tasks.find((t) => t.ID === needle);
  if (exact) return exact;
  const byPrefix = tasks.filter((t) => t.ID.startsWith(needle));
  if (byPrefix.length === 1) return byPrefix[0];
  const byName = tasks.filter((t) => t.Name === ref);
  const active = byName.filter((t) => t.State <= 2);
  const named = active.length > 0 ? active : byName;
  if (named.length === 1) return named[0];
  const candidates = byPrefix.length > 1 ? byPrefix : named;
  if (candidates.length > 1) {
    throw new CliError(
      `"${ref}" matches ${candidates.length} tasks (${
        candidates.slice(0, 5).map((t) => t.ID.slice(0, 8)).join(", ")
      }): use a longer ID prefix`,
    );
  }
  throw new CliError(`no task matches "${ref}" (by ID, ID prefix or name); see 'cube status'`);
}
