/**
 * The worker's metrics (`GET /metrics`): how long container starts take, by phase (the
 * image check or pull, the create, the start), stops, and health probe results.
 *
 * @module
 */

import {
  Counter,
  createRegistry,
  Histogram,
  LATENCY_BUCKETS,
  type Registry,
} from "../http/metrics.ts";

export type StartPhase = "image" | "create" | "start";

export class WorkerMetrics {
  readonly registry: Registry = createRegistry("worker");
  readonly #start = new Histogram({
    name: "cube_container_start_seconds",
    help: "Container starts by phase: image (check or pull), create, start; in seconds.",
    labelNames: ["phase"],
    buckets: LATENCY_BUCKETS,
    registers: [this.registry],
  });
  readonly #stops = new Counter({
    name: "cube_container_stops_total",
    help: "Containers stopped by this worker.",
    registers: [this.registry],
  });
  readonly #probes = new Counter({
    name: "cube_health_probes_total",
    help: "Health probes by result (ok, failed).",
    labelNames: ["result"],
    registers: [this.registry],
  });

  phase(phase: StartPhase, seconds: number): void {
    this.#start.observe({ phase }, seconds);
  }

  stopped(): void {
    this.#stops.inc();
  }

  probed(ok: boolean): void {
    this.#probes.inc({ result: ok ? "ok" : "failed" });
  }
}
