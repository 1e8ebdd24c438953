/**
 * A worker joining with `--manager`: through the first of several managers that answers,
 * and waiting for one that is not up yet (workers and managers start in any order).
 *
 * @module
 */

import { CubeError } from "../lib/errors.ts";
import { joinCluster, type NodeIdentity } from "../security/mod.ts";
import { managerUrls } from "../worker/manager_link.ts";

/** Joins through the first of the managers (`https://a:5555,https://b:5555`) that answers. */
export async function joinAny(
  managers: string,
  options: Omit<Parameters<typeof joinCluster>[0], "manager">,
): Promise<{ identity: NodeIdentity; manager: string }> {
  let failure: unknown;
  for (const manager of managerUrls(managers)) {
    try {
      return { identity: await joinCluster({ ...options, manager }), manager };
    } catch (error) {
      // Refused is final; unreachable, or no leader there, is worth another manager.
      if (!(error instanceof CubeError && error.status >= 500)) throw error;
      failure = error;
    }
  }
  throw failure;
}

/**
 * Joins, waiting for a manager that is not up yet (workers and managers start in any
 * order); a refusal (wrong token or cluster, name taken) fails at once.
 */
export async function joinWhenUp<T>(
  log: (message: string) => void,
  join: () => Promise<T>,
): Promise<T> {
  for (let delay = 500;; delay = Math.min(delay * 2, 10_000)) {
    try {
      return await join();
    } catch (error) {
      if (!(error instanceof CubeError) || error.status !== 502) throw error;
      log(`${error.message}; trying again in ${delay / 1000} s`);
      await new Promise((resolve) => setTimeout(resolve, delay));
    }
  }
}
