/**
 * A rolling update's next step, decided from what the replicas are doing now (so that a
 * manager restarted mid-update simply goes on): the service's new version replaces the old
 * one in batches of `Parallelism`; a batch is done when its new replicas have run (and
 * stayed healthy) for `Monitor` seconds; `Delay` passes between batches.
 *
 * - `stop-first`: stop a batch of old replicas; the count logic starts new ones in their
 *   slots. Never fewer than `Replicas − Parallelism` live.
 * - `start-first`: start a new replica beside each old one of the batch (same slot), and
 *   stop the old ones once the new ones are done. Never more than `Replicas + Parallelism`.
 *
 * A replica of the new version that fails is the update failing.
 *
 * @module
 */

import { type Service, slotOf, State, stateName, type Task } from "../task/mod.ts";

export interface RolloutStep {
  /** Old replicas to stop now. */
  stop: Task[];
  /** Slots to start a new replica in now, beside the old one (start-first). */
  start: number[];
  /** Why the update failed, when it did. */
  failed?: string;
  /** The update is over. */
  done?: boolean;
}

const WAIT: RolloutStep = { stop: [], start: [] };

/**
 * Whether a new replica has run long enough to count: the monitor period, or, when it has
 * a health check, as long as that check needs to fail it, if longer (a failing check
 * fails the replica, which fails the update).
 */
export function settled(task: Task, monitorMs: number, now: number): boolean {
  const health = task.HealthCheck
    ? (task.Health.Interval * task.Health.FailureThreshold + task.Health.Timeout) * 1000
    : 0;
  return task.State === State.Running &&
    now - Date.parse(task.StartTime) >= Math.max(monitorMs, health);
}

export function nextStep(
  service: Service,
  live: readonly Task[],
  /** Replicas of the current version that failed. */
  failures: readonly Task[],
  now: number,
  /** When the last batch began (0: none yet in this manager's life). */
  lastBatchAt: number,
): RolloutStep {
  const config = service.Spec.UpdateConfig;
  if (failures.length > 0) {
    const first = failures[0];
    return {
      ...WAIT,
      failed: `${first.Name} ${stateName(first.State)}${first.Error ? `: ${first.Error}` : ""}`,
    };
  }
  const monitorMs = config.Monitor * 1000;
  const old = live.filter((t) => t.Version !== service.Version)
    .sort((a, b) => slotOf(a) - slotOf(b));
  const fresh = live.filter((t) => t.Version === service.Version);
  const inFlight = fresh.filter((t) => !settled(t, monitorMs, now));
  if (config.Order === "start-first") {
    // Old replicas whose slot has a new one that is done: their turn to go.
    const done = new Set(fresh.filter((t) => settled(t, monitorMs, now)).map(slotOf));
    const replaced = old.filter((t) => done.has(slotOf(t)));
    if (replaced.length > 0) return { ...WAIT, stop: replaced };
  }
  if (inFlight.length > 0) return WAIT;
  // Replicas missing (a batch just stopped, a node lost): the count logic starts them first.
  if (live.length < service.Spec.Replicas) return WAIT;
  if (old.length === 0) {
    return fresh.length >= service.Spec.Replicas ? { ...WAIT, done: true } : WAIT;
  }
  if (now - lastBatchAt < config.Delay * 1000) return WAIT;
  const batch = old.slice(0, config.Parallelism);
  return config.Order === "start-first"
    ? { ...WAIT, start: batch.map(slotOf) }
    : { ...WAIT, stop: batch };
}

/**
 * Replicas on draining nodes move before they stop: a new replica starts in the same slot
 * elsewhere, and the old one stops once the new one runs; at most `Parallelism` of a
 * service move at once, so the service never drops below its replica count.
 */
export function drainStep(
  service: Service,
  live: readonly Task[],
  draining: (node: string) => boolean,
): RolloutStep {
  const leaving = live.filter((t) => t.Node && draining(t.Node));
  if (leaving.length === 0) return WAIT;
  const staying = live.filter((t) => !t.Node || !draining(t.Node));
  const moved = new Set(staying.filter((t) => t.State === State.Running).map(slotOf));
  const stop = leaving.filter((t) => moved.has(slotOf(t)));
  const starting = new Set(staying.filter((t) => t.State !== State.Running).map(slotOf));
  const waiting = leaving.filter((t) => !moved.has(slotOf(t)) && !starting.has(slotOf(t)));
  const room = Math.max(0, service.Spec.UpdateConfig.Parallelism - starting.size);
  return { stop, start: waiting.slice(0, room).map(slotOf) };
}
