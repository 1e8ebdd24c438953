/**
 * Services: keep `Replicas` copies of a task running (Swarm's services, Nomad's jobs with
 * `count`). Their tasks are ordinary tasks that carry the service's name and version.
 *
 * @module
 */

import type { Task } from "./task.ts";

/** The task fields a service's template sets; the rest belong to each replica. */
export const TEMPLATE_FIELDS = [
  "Image",
  "Cmd",
  "Env",
  "Cpu",
  "Memory",
  "Disk",
  "ExposedPorts",
  "PortBindings",
  "HealthCheck",
  "Health",
  "RestartPolicy",
  "MaxRestarts",
] as const;

export type TaskTemplate = Pick<Task, typeof TEMPLATE_FIELDS[number]>;

export interface UpdateConfig {
  /** Replicas replaced at once. */
  Parallelism: number;
  /** Seconds between batches. */
  Delay: number;
  /** Seconds a new replica must run (and stay healthy) before its batch counts as done. */
  Monitor: number;
  FailureAction: "rollback" | "pause";
  Order: "stop-first" | "start-first";
}

export interface ServicePlacement {
  /** As a task's `Constraints`: all must hold. */
  Constraints: string[];
  /** A label to spread replicas over (`zone`); "" spreads them over nodes. */
  Spread: string;
}

export interface ServiceSpec {
  Name: string;
  Replicas: number;
  Task: TaskTemplate;
  UpdateConfig: UpdateConfig;
  Placement: ServicePlacement;
}

export type UpdateState =
  | ""
  | "updating"
  | "paused"
  | "rolling back"
  | "completed"
  | "rolled back";

export interface Service {
  Name: string;
  Spec: ServiceSpec;
  /** Counts specs: 1 at creation, one more for each change of the template. */
  Version: number;
  /** The spec before the last change, what a rollback returns to; null before any. */
  PreviousSpec: ServiceSpec | null;
  CreateTime: string;
  UpdateTime: string;
  UpdateStatus: { State: UpdateState; Message: string };
}

/** A service as the API shows it: with its replica counts. */
export interface ServiceView extends Service {
  Desired: number;
  /** Replicas wanted and running or about to (of any version). */
  Live: number;
  Running: number;
}

/** `GET /services/{name}`: the service and all its tasks, live and finished. */
export type ServiceDetail = ServiceView & { Tasks: Task[] };

export const DEFAULT_UPDATE_CONFIG: UpdateConfig = {
  Parallelism: 1,
  Delay: 0,
  Monitor: 5,
  FailureAction: "rollback",
  Order: "stop-first",
};

/** A replica's name: the service's, then its slot (`web.1`, `web.2`), as Swarm names them. */
export function replicaName(service: string, slot: number): string {
  return `${service}.${slot}`;
}

/** The slot of a replica named by `replicaName`; 0 for another name. */
export function slotOf(task: Pick<Task, "Name" | "Service">): number {
  const prefix = `${task.Service}.`;
  if (!task.Name.startsWith(prefix)) return 0;
  const slot = Number(task.Name.slice(prefix.length));
  return Number.isInteger(slot) && slot > 0 ? slot : 0;
}
