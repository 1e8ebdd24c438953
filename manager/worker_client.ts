/**
 * The manager's side of the wire to one worker: the book's routes, each call with a
 * timeout, each failure a `CubeError` that names the worker and what went wrong.
 *
 * @module
 */

import { CubeError, fetchFailure, messageIn } from "../lib/errors.ts";
import { ndjson } from "../lib/ndjson.ts";
import { httpTransport, type Transport } from "../lib/transport.ts";
import { State, type Stats, type Task, type TaskEvent } from "../task/mod.ts";

/** The book's request to run a task: desired state Running, the task as Scheduled. */
export function runEvent(task: Task, now: string): TaskEvent {
  return {
    ID: crypto.randomUUID(),
    State: State.Running,
    Timestamp: now,
    Task: { ...task, State: State.Scheduled },
  };
}

export class WorkerClient {
  #authorization: Promise<string> | null = null;

  constructor(
    readonly name: string,
    readonly api: string,
    readonly timeoutMs = 5_000,
    private readonly transport: Transport = httpTransport,
    private readonly credential?: () => Promise<string>,
  ) {}

  async #headers(json: boolean): Promise<Record<string, string>> {
    const headers: Record<string, string> = json ? { "content-type": "application/json" } : {};
    if (this.credential) {
      this.#authorization ??= this.credential().then((token) => `Bearer ${token}`);
      headers.authorization = await this.#authorization;
    }
    return headers;
  }

  /** `body` is sent as JSON; a string `raw` is sent as it is (JSON already). */
  async #call<T>(method: string, path: string, body?: unknown, raw?: string): Promise<T | null> {
    let response: Response;
    const payload = raw ?? (body === undefined ? undefined : JSON.stringify(body));
    const headers = await this.#headers(payload !== undefined);
    try {
      response = await this.transport(`${this.api}${path}`, {
        method,
        headers,
        body: payload,
      }, this.timeoutMs);
    } catch (error) {
      const reason = fetchFailure(error, this.timeoutMs);
      throw new CubeError(502, `cannot reach worker ${this.name} at ${this.api}: ${reason}`);
    }
    const text = await response.text();
    if (!response.ok) {
      throw new CubeError(
        response.status === 404 ? 404 : 502,
        `worker ${this.name} answered ${response.status} to ${method} ${path}: ${
          messageIn(text) ?? text
        }`,
      );
    }
    return text ? JSON.parse(text) as T : null;
  }

  /** Sends a task to run (the worker answers 200 when it already runs it). */
  async run(task: Task, now = new Date().toISOString()): Promise<Task> {
    return (await this.#call<Task>("POST", "/tasks", runEvent(task, now)))!;
  }

  /**
   * Sends several tasks to run in one request (the worker's `POST /tasks` with an array):
   * whether each was taken, in order. `body` is the JSON array of their `runEvent`s.
   * Throws when the request as a whole failed.
   */
  async runMany(tasks: Task[], body: string): Promise<Array<{ ok: boolean }>> {
    const results = await this.#call<Array<{ Status: number }>>("POST", "/tasks", undefined, body);
    if (!Array.isArray(results) || results.length !== tasks.length) {
      throw new CubeError(502, `worker ${this.name} answered a batch of ${tasks.length} oddly`);
    }
    return results.map((r) => ({ ok: r?.Status === 200 || r?.Status === 201 }));
  }

  /** Asks the worker to stop a task; a task the worker does not know is already stopped. */
  async stop(id: string): Promise<void> {
    try {
      await this.#call("DELETE", `/tasks/${id}`);
    } catch (error) {
      if (!(error instanceof CubeError && error.status === 404)) throw error;
    }
  }

  /** The worker's log stream of a task, passed through as it comes. */
  async logs(
    id: string,
    query: { follow: boolean; tail?: number },
    signal: AbortSignal,
  ): Promise<ReadableStream<Uint8Array>> {
    const params = new URLSearchParams({ follow: String(query.follow) });
    if (query.tail !== undefined) params.set("tail", String(query.tail));
    return (await this.#stream(`/tasks/${id}/logs?${params}`, signal, [404, 409])).body!;
  }

  /**
   * The worker's task changes as they happen (`GET /events`, one task record per line),
   * until `signal` aborts or the stream ends. A 404: a worker without a stream.
   */
  async *events(signal: AbortSignal): AsyncGenerator<Task> {
    const response = await this.#stream("/events", signal, [404]);
    yield* ndjson<Task>(response.body!);
  }

  /**
   * A streamed answer (no time limit but `signal`), with a body; `passed`: error statuses
   * kept as they are. The response itself is returned, not only its body: the caller holds
   * it while it reads (given only the body, the worker's event stream stalled here).
   */
  async #stream(path: string, signal: AbortSignal, passed: number[]): Promise<Response> {
    let response: Response;
    try {
      response = await this.transport(
        `${this.api}${path}`,
        { signal, headers: await this.#headers(false) },
        0,
      );
    } catch (error) {
      throw new CubeError(
        502,
        `cannot reach worker ${this.name} at ${this.api}: ${fetchFailure(error)}`,
      );
    }
    if (!response.ok || !response.body) {
      const text = await response.text();
      const status = passed.includes(response.status) ? response.status as 404 | 409 : 502;
      throw new CubeError(status, messageIn(text) ?? text);
    }
    return response;
  }

  async tasks(): Promise<Task[]> {
    return (await this.#call<Task[]>("GET", "/tasks")) ?? [];
  }

  /** The worker's own name (`GET /health`); null for a worker that does not say it. */
  async ownName(): Promise<string | null> {
    try {
      const health = await this.#call<{ Name?: unknown }>("GET", "/health");
      return typeof health?.Name === "string" && health.Name ? health.Name : null;
    } catch (error) {
      if (error instanceof CubeError && error.status === 404) return null;
      throw error;
    }
  }

  async stats(): Promise<Stats> {
    return (await this.#call<Stats>("GET", "/stats"))!;
  }
}
