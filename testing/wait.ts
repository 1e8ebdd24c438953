import { TrustingClients } from "../lib/transport.ts";

/** Polls `probe` until it returns a value other than undefined/false, or fails with `what`. */
export async function waitFor<T>(
  what: string,
  probe: () => Promise<T | undefined | false> | T | undefined | false,
  { timeoutMs = 15_000, intervalMs = 50 } = {},
): Promise<T> {
  const deadline = performance.now() + timeoutMs;
  let last: unknown;
  while (performance.now() < deadline) {
    try {
      const value = await probe();
      if (value !== undefined && value !== false) return value as T;
    } catch (error) {
      last = error;
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
  throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${last}` : ""}`);
}

/** The median time of nine sequential calls (after one that opens the connection). */
export async function medianMs(call: () => Promise<void>): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i < 10; i++) {
    const started = performance.now();
    await call();
    if (i > 0) times.push(performance.now() - started);
  }
  return times.sort((a, b) => a - b)[4];
}

const handedOut = new Set<number>();

/**
 * A TCP port that was free a moment ago, below Linux's ephemeral range (32768–60999): a
 * port from that range can be taken by any outgoing connection meanwhile, even one to
 * itself (a worker reconnecting to a restarting manager on that very port got it, and
 * the manager could not listen again). Never the same one twice in a process: ports asked
 * for together (a manager's and its workers') are all still free when asked for.
 */
export function freePort(): number {
  for (let attempt = 0; attempt < 100; attempt++) {
    const port = 20_000 + Math.floor(Math.random() * 12_000);
    if (handedOut.has(port)) continue;
    try {
      Deno.listen({ hostname: "127.0.0.1", port }).close();
      handedOut.add(port);
      return port;
    } catch {
      // taken: another one
    }
  }
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

/** A temporary directory removed on dispose. */
export async function tempDir(): Promise<{ path: string } & AsyncDisposable> {
  const path = await Deno.makeTempDir({ prefix: "cube-test-" });
  return {
    path,
    [Symbol.asyncDispose]: () => Deno.remove(path, { recursive: true }).catch(() => {}),
  };
}

/** Managers the tests call over TLS: origin → their CA's client and a token. */
const trusted = new Map<string, { clients: TrustingClients; token?: string }>();

/**
 * Makes `request` trust `caPem` for `url`'s origin and send `token` there, until
 * disposed (which closes the HTTP client).
 */
export function trust(url: string, options: { caPem: string; token?: string }): Disposable {
  const origin = new URL(url).origin;
  const clients = new TrustingClients(options.caPem);
  trusted.get(origin)?.clients.close();
  trusted.set(origin, { clients, token: options.token });
  return {
    [Symbol.dispose]() {
      if (trusted.get(origin)?.clients === clients) trusted.delete(origin);
      clients.close();
    },
  };
}

/** `fetch`, trusting the CA of a `trust`ed origin and sending its token (unless set). */
export function trustedFetch(url: string, init: RequestInit = {}): Promise<Response> {
  const known = trusted.get(new URL(url).origin);
  if (!known) return fetch(url, init);
  const headers = new Headers(init.headers);
  if (known.token && !headers.has("authorization")) {
    headers.set("authorization", `Bearer ${known.token}`);
  }
  return fetch(url, { ...init, headers, client: known.clients.for(init) });
}

/**
 * Sends JSON and returns status and parsed body (always consuming the body). The body
 * is `any` on purpose: tests assert on the wire JSON field by field. A trusted origin
 * (see `trust`) gets its token unless `token` says otherwise (`null`: none).
 */
export async function request(
  url: string,
  init: {
    method?: string;
    body?: unknown;
    rawBody?: string;
    token?: string | null;
    headers?: Record<string, string>;
    signal?: AbortSignal;
  } = {},
  // deno-lint-ignore no-explicit-any
): Promise<{ status: number; body: any }> {
  const known = trusted.get(new URL(url).origin);
  const token = init.token === undefined ? known?.token : init.token;
  const sent = init.rawBody ?? (init.body !== undefined ? JSON.stringify(init.body) : undefined);
  const response = await fetch(url, {
    method: init.method ?? (sent !== undefined ? "POST" : "GET"),
    headers: {
      "content-type": "application/json",
      ...(token ? { authorization: `Bearer ${token}` } : {}),
      ...init.headers,
    },
    body: sent,
    client: known?.clients.for({ body: sent }),
    signal: init.signal,
  });
  const text = await response.text();
  let body: unknown = text;
  try {
    body = text ? JSON.parse(text) : null;
  } catch { /* not JSON: keep the text */ }
  return { status: response.status, body };
}
