/**
 * Schedulers: the book's select → score → pick interface, round-robin and E-PVM.
 *
 * @module
 */

import { CubeError } from "../lib/errors.ts";
import { Epvm, type EpvmOptions } from "./epvm.ts";
import { RoundRobin } from "./round_robin.ts";
import type { Scheduler } from "./scheduler.ts";

export * from "./scheduler.ts";
export {
  DEFAULT_CPU_REQUEST,
  DEFAULT_MEMORY_REQUEST,
  Epvm,
  type EpvmOptions,
  LIEB,
  marginalCost,
  utilisation,
} from "./epvm.ts";
export { RoundRobin } from "./round_robin.ts";

export const SCHEDULERS = ["epvm", "roundrobin"] as const;
export type SchedulerName = typeof SCHEDULERS[number];

export function createScheduler(name: string, options: EpvmOptions = {}): Scheduler {
  switch (name) {
    case "epvm":
      return new Epvm(options);
    case "roundrobin":
    case "round-robin":
      return new RoundRobin();
    default:
      throw new CubeError(
        400,
        `Unknown scheduler "${name}" (expected one of: ${SCHEDULERS.join(", ")})`,
      );
  }
}
