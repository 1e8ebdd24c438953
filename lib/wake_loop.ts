/**
 * A background loop that runs a step every `intervalMs`, or at once when woken (a wake
 * during a step runs the next one straight after it), until its signal aborts. A failing
 * step is logged once per distinct failure, not once per turn: a store outage would
 * otherwise flood the log. The manager's dispatcher and its services' reconcile run on it.
 *
 * @module
 */

import type { Clock } from "./clock.ts";
import { errorMessage } from "./errors.ts";

export class WakeLoop {
  #wake: (() => void) | null = null;
  #woken = false;

  constructor(private readonly clock: Clock, private readonly intervalMs: number) {}

  /** Runs the next step now (or right after the one under way). */
  wake(): void {
    this.#woken = true;
    this.#wake?.();
  }

  async run(
    signal: AbortSignal,
    step: () => Promise<void>,
    onFailure: (message: string) => void,
  ): Promise<void> {
    let failure = "";
    while (!signal.aborted) {
      if (!this.#woken) {
        const nap = new AbortController();
        this.#wake = () => nap.abort();
        await this.clock.sleep(this.intervalMs, AbortSignal.any([signal, nap.signal]));
      }
      this.#wake = null;
      this.#woken = false;
      if (signal.aborted) break;
      try {
        await step();
        failure = "";
      } catch (error) {
        const message = errorMessage(error);
        if (message !== failure) onFailure(message);
        failure = message;
      }
    }
  }
}
