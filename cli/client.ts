/**
 * The CLI's way to the manager: fetch with timeouts, the book's error shape turned into
 * one-line messages, and a manager that is not there turned into advice.
 *
 * @module
 */

import { sleep } from "../lib/async.ts";
import { fetchFailure, messageIn } from "../lib/errors.ts";
import { ndjson } from "../lib/ndjson.ts";
import { urlList } from "../lib/url_list.ts";
import type { TokenInfo } from "../security/mod.ts";
import type {
  ClusterEvent,
  ManagerPresence,
  Node,
  ServiceDetail,
  ServiceView,
  Task,
  TaskHistoryEvent,
} from "../task/mod.ts";
import { TrustingClients } from "../lib/transport.ts";

/** A failure the CLI reports as one line and a non-zero exit. */
export class CliError extends Error {
  override name = "CliError";
}

/** How long a call keeps trying other managers while they elect a leader, in ms. */
const FAILOVER_MS = 10_000;
const FAILOVER_PAUSE_MS = 250;

/** A token as the manager lists it; `Token` only in the answer that created it. */
export type TokenListing = TokenInfo & { Token?: string };

/**
 * The manager's API for the CLI. One HTTP client (trusting the cluster CA when given)
 * keeps its connection alive across calls; `close()` it, or use `await using`.
 */
export class ManagerClient implements Disposable {
  readonly #urls: string[];
  readonly #token?: string;
  readonly #clients?: TrustingClients;
  #at = 0;

  /** `manager` is one URL, or several separated by commas (managers sharing etcd). */
  constructor(connection: string | { manager: string; token?: string; caPem?: string }) {
    const { manager, token, caPem } = typeof connection === "string"
      ? { manager: connection, token: undefined, caPem: undefined }
      : connection;
    this.#urls = urlList(manager);
    if (this.#urls.length === 0) throw new CliError(`invalid manager URL "${manager}"`);
    this.#token = token;
    this.#clients = caPem ? new TrustingClients(caPem) : undefined;
  }

  /** The manager the last call went to. */
  get url(): string {
    return this.#urls[this.#at];
  }

  close(): void {
    this.#clients?.close();
  }

  [Symbol.dispose](): void {
    this.close();
  }

  /**
   * One call, to the manager that answered last, then to the others: a manager that
   * cannot be reached, or answers 503 (no leader yet, or it just stepped down: nothing
   * was done), is passed over, for up to `FAILOVER_MS` while managers elect a leader.
   * A call that may have reached a manager is not sent twice, unless it only reads.
   */
  async #fetch(path: string, init: RequestInit = {}): Promise<Response> {
    const headers = new Headers(init.headers);
    if (this.#token) headers.set("authorization", `Bearer ${this.#token}`);
    const reads = (init.method ?? "GET") === "GET";
    const until = Date.now() + (this.#urls.length > 1 ? FAILOVER_MS : 0);
    // What a manager that answered said last: worth more than "connection refused" from
    // a dead one, when all of them have been tried.
    let answered: { url: string; message: string } | null = null;
    for (let attempt = 0;; attempt++) {
      const last = attempt >= this.#urls.length - 1 && Date.now() >= until;
      let response: Response;
      try {
        response = await fetch(`${this.url}${path}`, {
          ...init,
          headers,
          client: this.#clients?.for(init),
          signal: init.signal ?? AbortSignal.timeout(10_000),
        });
      } catch (error) {
        const reason = fetchFailure(error, 10_000);
        const unsent = /refused|not found/.test(reason);
        if (!last && (reads || unsent) && !init.signal?.aborted) {
          await this.#next(attempt);
          continue;
        }
        // Said only when this last try was surely not delivered: else it may have landed.
        if (answered && unsent) {
          throw new CliError(
            `no manager could take the call; ${answered.url} said: ${answered.message}`,
          );
        }
        const hint = /refused|not found|no answer/.test(reason)
          ? " — is 'cube manager' running?"
          : "";
        throw new CliError(`cannot reach the manager at ${this.url}: ${reason}${hint}`);
      }
      if (response.status === 503 && !last) {
        answered = { url: this.url, message: messageOf(await response.text(), 503) };
        await this.#next(attempt);
        continue;
      }
      if (response.status === 401) {
        const message = messageOf(await response.text(), 401);
        throw new CliError(
          `the manager at ${this.url} refused ${
            this.#token ? "the token" : "a call without a token"
          }: ${message} (log in with 'cube login ${this.url} --token T', or pass --token)`,
        );
      }
      return response;
    }
  }

  /** The next manager; after a round of all of them, a short pause. */
  async #next(attempt: number): Promise<void> {
    this.#at = (this.#at + 1) % this.#urls.length;
    if ((attempt + 1) % this.#urls.length === 0) await sleep(FAILOVER_PAUSE_MS);
  }

  async #json<T>(path: string, init: RequestInit = {}): Promise<T> {
    const response = await this.#fetch(path, init);
    const text = await response.text();
    if (!response.ok) throw new CliError(messageOf(text, response.status));
    return (text ? JSON.parse(text) : null) as T;
  }

  services(): Promise<ServiceView[]> {
    return this.#json<ServiceView[]>("/services");
  }

  service(name: string): Promise<ServiceDetail> {
    return this.#json(`/services/${encodeURIComponent(name)}`);
  }

  createService(spec: Record<string, unknown>): Promise<ServiceView> {
    return this.#json<ServiceView>("/services", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(spec),
    });
  }

  updateService(name: string, spec: Record<string, unknown>): Promise<ServiceView> {
    return this.#json<ServiceView>(`/services/${encodeURIComponent(name)}`, {
      method: "PUT",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(spec),
    });
  }

  serviceAction(name: string, action: "rollback" | "restart"): Promise<ServiceView> {
    return this.#json<ServiceView>(`/services/${encodeURIComponent(name)}/${action}`, {
      method: "POST",
    });
  }

  scaleService(name: string, replicas: number): Promise<ServiceView> {
    return this.#json<ServiceView>(`/services/${encodeURIComponent(name)}/scale`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ Replicas: replicas }),
    });
  }

  async removeService(name: string): Promise<void> {
    await this.#json(`/services/${encodeURIComponent(name)}`, { method: "DELETE" });
  }

  updateNode(
    name: string,
    patch: { Availability?: string; Labels?: Record<string, string> },
  ): Promise<Node> {
    return this.#json<Node>(`/nodes/${encodeURIComponent(name)}`, {
      method: "PATCH",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(patch),
    });
  }

  tokens(): Promise<TokenListing[]> {
    return this.#json<TokenListing[]>("/tokens");
  }

  createToken(request: { Role: string; Name?: string; Ttl?: number }): Promise<TokenListing> {
    return this.#json<TokenListing>("/tokens", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(request),
    });
  }

  revokeToken(id: string): Promise<TokenListing> {
    return this.#json<TokenListing>(`/tokens/${encodeURIComponent(id)}`, { method: "DELETE" });
  }

  async joinToken(rotate: boolean): Promise<string> {
    const answer = rotate
      ? await this.#json<{ Token: string }>("/tokens/join/rotate", { method: "POST" })
      : await this.#json<{ Token: string }>("/tokens/join");
    return answer.Token;
  }

  tasks(): Promise<Task[]> {
    return this.#json<Task[]>("/tasks");
  }

  task(id: string): Promise<Task> {
    return this.#json<Task>(`/tasks/${id}`);
  }

  /** A task's story: the events kept, and how many were let go between the first and them. */
  async events(id: string): Promise<{ events: TaskHistoryEvent[]; earlier: number }> {
    const response = await this.#fetch(`/tasks/${id}/events`);
    const text = await response.text();
    if (!response.ok) throw new CliError(messageOf(text, response.status));
    const earlier = Number(response.headers.get("cube-events-earlier") ?? 0) || 0;
    return { events: JSON.parse(text), earlier };
  }

  nodes(): Promise<Node[]> {
    return this.#json<Node[]>("/nodes");
  }

  managers(): Promise<ManagerPresence[]> {
    return this.#json<ManagerPresence[]>("/managers");
  }

  /** What the manager at `url` (any of the cluster's) says of itself: "ok", or why not. */
  async healthAt(url: string): Promise<string> {
    try {
      const response = await fetch(`${url}/health`, {
        client: this.#clients?.for(),
        signal: AbortSignal.timeout(2_000),
      });
      const body = await response.json();
      if (!response.ok) return `answers ${response.status}`;
      return body.Status === "ok" ? "ok" : `${body.Status}: ${body.Store}`;
    } catch (error) {
      return `unreachable (${fetchFailure(error, 2_000)})`;
    }
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

  /**
   * The event stream (`GET /events` as NDJSON): each event or notice as it comes, until
   * the stream ends (without `follow`, after what is stored) or `signal` aborts.
   */
  async *eventStream(
    query: Record<string, string>,
    signal: AbortSignal,
  ): AsyncGenerator<ClusterEvent | StreamNotice> {
    const params = new URLSearchParams({ ...query, format: "ndjson" });
    const response = await this.#fetch(`/events?${params}`, { signal });
    if (!response.ok || !response.body) {
      throw new CliError(messageOf(await response.text(), response.status));
    }
    yield* ndjson<ClusterEvent | StreamNotice>(response.body);
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

/** What `GET /events` streams besides events: collected history, or the end of a stream. */
export interface StreamNotice {
  Type: "gone" | "end";
  Message: string;
}

function messageOf(text: string, status: number): string {
  return messageIn(text) ?? `the manager answered ${status}: ${text.slice(0, 200)}`;
}

/**
 * Finds a task by full ID, name (the newest active task of that name wins over finished
 * ones), or unique ID prefix, in that order, as Docker resolves containers: a name like
 * `a` is also the prefix of some IDs, and the name is what the user meant. Says what
 * matched when the reference is ambiguous.
 */
export async function resolveTask(client: ManagerClient, ref: string): Promise<Task> {
  const tasks = await client.tasks();
  const needle = ref.toLowerCase();
  const exact = tasks.find((t) => t.ID === needle);
  if (exact) return exact;
  const byName = tasks.filter((t) => t.Name === ref);
  const active = byName.filter((t) => t.State <= 2);
  const named = active.length > 0 ? active : byName;
  if (named.length === 1) return named[0];
  const byPrefix = tasks.filter((t) => t.ID.startsWith(needle));
  if (named.length === 0 && byPrefix.length === 1) return byPrefix[0];
  const candidates = named.length > 1 ? named : byPrefix;
  if (candidates.length > 1) {
    throw new CliError(
      `"${ref}" matches ${candidates.length} tasks (${
        candidates.slice(0, 5).map((t) => t.ID.slice(0, 8)).join(", ")
      }): use a longer ID prefix`,
    );
  }
  throw new CliError(`no task matches "${ref}" (by ID, ID prefix or name); see 'cube status'`);
}
