/**
 * Time as cube reads it. Everything that waits or stamps a time takes a `Clock`, so the
 * seeded simulation can run days of cluster time in seconds, deterministically.
 *
 * @module
 */

import { sleep } from "./async.ts";

export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
  /** Resolves after `ms`, or at once when `signal` aborts; leaves no timer behind. */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

/** The machine's clock. */
export const systemClock: Clock = { now: () => Date.now(), sleep };

/** `clock.now()` as RFC 3339. */
export function isoNow(clock: Clock): string {
  return new Date(clock.now()).toISOString();
}
