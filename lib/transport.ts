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
