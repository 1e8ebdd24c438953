/**
 * Simulated time: timers fire in order of their due time (ties in the order they were
 * set), and time jumps from one timer to the next once everything runnable has run. A
 * run is a pure function of its seed because nothing else in it waits on real time.
 *
 * @module
 */

import { setImmediate } from "node:timers";
import type { Clock } from "../lib/clock.ts";

interface Timer {
  at: number;
  seq: number;
  fire: () => void;
}

/** Lets every queued promise job run (a macrotask comes after all microtasks). */
export function settle(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

export class SimClock implements Clock {
  #now: number;
  #seq = 0;
  #timers: Timer[] = [];

  constructor(start = Date.UTC(2026, 0, 1)) {
    this.#now = start;
  }

  now(): number {
    return this.#now;
  }

  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      if (signal?.aborted) return resolve();
      const timer: Timer = { at: this.#now + Math.max(0, ms), seq: this.#seq++, fire: done };
      this.#push(timer);
      function done() {
        signal?.removeEventListener("abort", cancel);
        resolve();
      }
      const cancel = () => {
        this.#remove(timer);
        resolve();
      };
      signal?.addEventListener("abort", cancel, { once: true });
    });
  }

  /** Runs everything due up to `until` (ms since the epoch), then sets the time to it. */
  async runUntil(until: number): Promise<void> {
    await settle();
    while (this.#timers.length > 0 && this.#timers[0].at <= until) {
      const timer = this.#shift();
      this.#now = Math.max(this.#now, timer.at);
      timer.fire();
      await settle();
    }
    this.#now = Math.max(this.#now, until);
    await settle();
  }

  /** Runs for `ms` of simulated time. */
  run(ms: number): Promise<void> {
    return this.runUntil(this.#now + ms);
  }

  // A binary heap ordered by (at, seq).
  #less(a: Timer, b: Timer): boolean {
    return a.at < b.at || (a.at === b.at && a.seq < b.seq);
  }

  #push(timer: Timer): void {
    const heap = this.#timers;
    heap.push(timer);
    let i = heap.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.#less(heap[i], heap[parent])) break;
      [heap[i], heap[parent]] = [heap[parent], heap[i]];
      i = parent;
    }
  }

  #shift(): Timer {
    const heap = this.#timers;
    const top = heap[0];
    const last = heap.pop()!;
    if (heap.length > 0) {
      heap[0] = last;
      this.#siftDown(0);
    }
    return top;
  }

  #siftDown(i: number): void {
    const heap = this.#timers;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < heap.length && this.#less(heap[l], heap[m])) m = l;
      if (r < heap.length && this.#less(heap[r], heap[m])) m = r;
      if (m === i) return;
      [heap[i], heap[m]] = [heap[m], heap[i]];
      i = m;
    }
  }

  #remove(timer: Timer): void {
    const i = this.#timers.indexOf(timer);
    if (i === -1) return;
    const last = this.#timers.pop()!;
    if (i < this.#timers.length) {
      this.#timers[i] = last;
      // Restore the heap both ways from i.
      let j = i;
      while (j > 0 && this.#less(this.#timers[j], this.#timers[(j - 1) >> 1])) {
        const p = (j - 1) >> 1;
        [this.#timers[j], this.#timers[p]] = [this.#timers[p], this.#timers[j]];
        j = p;
      }
      this.#siftDown(j);
    }
  }
}
