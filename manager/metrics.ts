/**
 * The manager's metrics (`GET /metrics`): tasks by state, services desired and running,
 * nodes by status, the dispatch queue; placements with their latency (from joining the
 * line to being stored Scheduled) and failures by reason; restarts by cause, reschedules,
 * nodes lost; store commit latency and size. HTTP and process figures come with every
 * registry (http/metrics.ts).
 *
 * @module
 */

import {
  Counter,
  createRegistry,
  Gauge,
  Histogram,
  LATENCY_BUCKETS,
  type Registry,
} from "../http/metrics.ts";
import { countStates, type Node, type ServiceView, type Task } from "../task/mod.ts";

/** What the gauges read at each scrape. */
export interface MetricsSource {
  tasks(): Iterable<Task>;
  nodes(): Node[];
  services(): ServiceView[];
  queued(): number;
}

/** The kinds a placement failure is counted by (its reason names nodes and numbers). */
export function failureKinds(reason: string): string[] {
  if (/no worker nodes/.test(reason)) return ["no_nodes"];
  const kinds = [];
  if (/constraint/.test(reason)) kinds.push("constraint");
  for (const resource of ["CPU", "memory", "disk"]) {
    if (reason.includes(`short of ${resource}`)) kinds.push(resource.toLowerCase());
  }
  if (/paused|draining|is down/.test(reason)) kinds.push("unavailable");
  return kinds.length ? kinds : ["other"];
}

export class ManagerMetrics {
  readonly registry: Registry = createRegistry("manager");
  readonly #placements = new Histogram({
    name: "cube_placement_latency_seconds",
    help: "Placements: from a task joining the line to it being stored Scheduled, in seconds.",
    buckets: LATENCY_BUCKETS,
    registers: [this.registry],
  });
  readonly #failures = new Counter({
    name: "cube_placement_failures_total",
    help: "Tasks no node could take, by reason (counted when a task's reason changes).",
    labelNames: ["reason"],
    registers: [this.registry],
  });
  readonly #restarts = new Counter({
    name: "cube_restarts_total",
    help: "Restarts by cause: the task's own failure, or the infrastructure's.",
    labelNames: ["cause"],
    registers: [this.registry],
  });
  readonly #reschedules = new Counter({
    name: "cube_reschedules_total",
    help: "Tasks placed again because their node was lost or removed.",
    registers: [this.registry],
  });
  readonly #nodeDowns = new Counter({
    name: "cube_node_down_total",
    help: "Times a node was marked down.",
    registers: [this.registry],
  });
  readonly #commits = new Histogram({
    name: "cube_store_commit_seconds",
    help: "Task store commits (group commits), in seconds.",
    buckets: LATENCY_BUCKETS,
    registers: [this.registry],
  });
  readonly #commitSizes = new Histogram({
    name: "cube_store_commit_changes",
    help: "Task changes per store commit.",
    buckets: [1, 2, 5, 10, 25, 50, 100],
    registers: [this.registry],
  });

  constructor(source: MetricsSource) {
    new Gauge({
      name: "cube_tasks",
      help: "Tasks by state.",
      labelNames: ["state"],
      registers: [this.registry],
      collect() {
        for (const [state, n] of Object.entries(countStates(source.tasks()))) {
          this.set({ state }, n);
        }
      },
    });
    new Gauge({
      name: "cube_nodes",
      help: "Nodes by status (ready, down) and availability (active, pause, drain).",
      labelNames: ["status", "availability"],
      registers: [this.registry],
      collect() {
        this.reset();
        const counts = new Map<string, number>();
        for (const node of source.nodes()) {
          const key = `${node.Status}\n${node.Availability ?? "active"}`;
          counts.set(key, (counts.get(key) ?? 0) + 1);
        }
        for (const [key, n] of counts) {
          const [status, availability] = key.split("\n");
          this.set({ status, availability }, n);
        }
      },
    });
    new Gauge({
      name: "cube_service_replicas",
      help: "Each service's replicas: desired, and running.",
      labelNames: ["service", "kind"],
      registers: [this.registry],
      collect() {
        this.reset();
        for (const service of source.services()) {
          this.set({ service: service.Name, kind: "desired" }, service.Desired);
          this.set({ service: service.Name, kind: "running" }, service.Running);
        }
      },
    });
    new Gauge({
      name: "cube_dispatch_queue_depth",
      help: "Tasks waiting for a node.",
      registers: [this.registry],
      collect() {
        this.set(source.queued());
      },
    });
  }

  placed(waitedSeconds: number): void {
    this.#placements.observe(waitedSeconds);
  }

  placementFailed(reason: string): void {
    for (const kind of failureKinds(reason)) this.#failures.inc({ reason: kind });
  }

  restarted(cause: "task" | "infrastructure"): void {
    this.#restarts.inc({ cause });
  }

  rescheduled(): void {
    this.#reschedules.inc();
  }

  nodeDown(): void {
    this.#nodeDowns.inc();
  }

  committed(seconds: number, changes: number): void {
    this.#commits.observe(seconds);
    this.#commitSizes.observe(changes);
  }
}
