/**
 * Keeps a manager or a worker alive and honest when its store fails: a failed write
 * becomes a 503 in the book's error shape (never a crash), `GET /health` says "degraded"
 * with the reason, and the first write that succeeds again clears it.
 *
 * @module
 */

import { CubeError, errorMessage } from "../lib/errors.ts";
import type { Database } from "./store.ts";

export class StoreGuard {
  /** Why the last store call failed; null while the store works. */
  error: string | null = null;

  constructor(private readonly db: Database) {}

  /** Runs a store call; a failure is recorded and thrown as a 503 that says what failed. */
  async run<T>(what: string, call: () => Promise<T>): Promise<T> {
    try {
      const result = await call();
      this.error = null;
      return result;
    } catch (error) {
      if (error instanceof CubeError) throw error;
      this.error = errorMessage(error);
      throw new CubeError(503, `Cannot ${what}: the store failed: ${this.error}`, {
        cause: error,
      });
    }
  }

  /** While degraded, a small write that tells whether the store works again. */
  async probe(now: number): Promise<void> {
    if (this.error === null) return;
    try {
      await this.run("probe the store", () => this.db.store<number>("meta").put("probe", now));
    } catch { /* still degraded: the reason is kept */ }
  }
}
