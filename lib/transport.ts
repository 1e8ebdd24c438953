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
