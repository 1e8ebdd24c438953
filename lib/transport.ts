/**
 * How one cube process calls another. The default is `fetch` with a time limit; the
 * seeded simulation passes its own, which delays, reorders, duplicates and drops calls.
 *
 * @module
 */

export type Transport = (url: string, init: RequestInit, timeoutMs: number) => Promise<Response>;

/** `fetch`, cut off after `timeoutMs` (a `TimeoutError` DOMException; 0: no limit). */
export const httpTransport: Transport = (url, init, timeoutMs) =>
  fetch(url, {
    ...init,
    signal: init.signal ?? (timeoutMs > 0 ? AbortSignal.timeout(timeoutMs) : undefined),
  });

/**
 * An HTTP client that trusts `caPem` (cube's cluster CA). HTTP/1.1 unless `multiplex`:
 * Deno's fetch over HTTP/2, which servers offer over TLS, held every request with a body
 * of 2 KB or more for 44 ms, the delayed-ACK time (a task's report, a batch, a submit:
 * 0.3 ms over HTTP/1.1, and with curl over HTTP/2), and its reused HTTP/2 connections can
 * stall (denoland/deno#21749). A caller that makes many calls to one peer at once (the
 * manager to a worker: a stop per task, ten thousand when a service scales to 0; the
 * simulated fleet: a thousand nodes on one port) multiplexes them over one HTTP/2
 * connection rather than open a connection per call (the manager sends its few batches
 * over HTTP/1.1 all the same: `mixedTransport`). The delay is Nagle's algorithm, which
 * Deno's fetch leaves on (an option to turn it off is proposed in denoland/deno#35581):
 * HTTP/2 writes a request's headers and body apart. Close it when done.
 */
export function trustingClient(caPem: string, { multiplex = false } = {}): Deno.HttpClient {
  return Deno.createHttpClient(
    multiplex ? { caCerts: [caPem] } : { caCerts: [caPem], http2: false },
  );
}

/** Request bodies under this many bytes go over HTTP/2 (`TrustingClients`). */
const SMALL_BODY = 2_000;

/**
 * A caller's two clients of a cube server (the CLI, the test helpers): each request takes
 * the one it waits least on. Reads and small requests share one HTTP/2 connection; Deno's
 * fetch over HTTP/2 holds a request's body of 2 KB or more, so those go over HTTP/1.1.
 * (Deno's server over TLS held answers of a task's size over HTTP/1.1 the same 44 ms, which
 * first made reads go over HTTP/2; cube's servers now end TLS in their guard, without it.)
 * Close it when done.
 */
export class TrustingClients implements Disposable {
  /** HTTP/1.1, a connection per request in flight. */
  readonly single: Deno.HttpClient;
  /** HTTP/2, one connection per peer. */
  readonly multiplexed: Deno.HttpClient;

  constructor(caPem: string) {
    this.single = trustingClient(caPem);
    this.multiplexed = trustingClient(caPem, { multiplex: true });
  }

  /** The client for a request made with `init`. */
  for(init: RequestInit = {}): Deno.HttpClient {
    const { body } = init;
    const small = body == null ||
      (typeof body === "string" && body.length < SMALL_BODY) ||
      (body instanceof Uint8Array && body.byteLength < SMALL_BODY);
    return small ? this.multiplexed : this.single;
  }

  close(): void {
    this.single.close();
    this.multiplexed.close();
  }

  [Symbol.dispose](): void {
    this.close();
  }
}

/**
 * `fetch` through `client` (one connection pool, trusting its CAs), sending
 * `Authorization: Bearer <credential>` unless a call sets its own.
 */
export function clientTransport(client: Deno.HttpClient, credential?: string): Transport {
  return (url, init, timeoutMs) => {
    const headers = new Headers(init.headers);
    if (credential && !headers.has("authorization")) {
      headers.set("authorization", `Bearer ${credential}`);
    }
    return fetch(url, {
      ...init,
      headers,
      client,
      signal: init.signal ?? (timeoutMs > 0 ? AbortSignal.timeout(timeoutMs) : undefined),
    });
  };
}

/** Requests with a body in flight to one peer over HTTP/1.1 at most (`mixedTransport`). */
export const BODIES_IN_FLIGHT = 8;

/**
 * For a caller that calls one peer many times at once (the manager its workers): a
 * request with a body goes over HTTP/1.1 (`clients.single`) while fewer than
 * `BODIES_IN_FLIGHT` are in flight to that peer, so a batch of tasks is not held 44 ms the
 * way HTTP/2 holds it (`trustingClient`); everything else (a stop per task, ten thousand
 * when a service scales to 0, and bodies past the limit) shares the one HTTP/2 connection
 * per peer of `clients.multiplexed`, so the calls never open a connection each.
 */
export function mixedTransport(clients: TrustingClients, credential?: string): Transport {
  const http1 = clientTransport(clients.single, credential);
  const http2 = clientTransport(clients.multiplexed, credential);
  const bodies = new Map<string, number>();
  return async (url, init, timeoutMs) => {
    const peer = new URL(url).origin;
    const n = bodies.get(peer) ?? 0;
    if (init.body == null || n >= BODIES_IN_FLIGHT) return await http2(url, init, timeoutMs);
    bodies.set(peer, n + 1);
    try {
      return await http1(url, init, timeoutMs);
    } finally {
      const left = (bodies.get(peer) ?? 1) - 1;
      if (left > 0) bodies.set(peer, left);
      else bodies.delete(peer);
    }
  };
}
