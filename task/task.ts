/**
 * The book's `Task` and `TaskEvent`, PascalCase on the wire, plus cube's additions.
 *
 * Units: `Memory` and `Disk` are bytes, `Cpu` is cores (0.5 = half a core). Times are
 * RFC 3339 strings; an unset time is Go's zero time so the book's Go client decodes it.
 *
 * @module
 */

import { State } from "./state.ts";

/** Go's `time.Time{}` as encoding/json writes it: what "not set" looks like on the wire. */
export const ZERO_TIME = "0001-01-01T00:00:00Z";

export interface PortBinding {
  HostIp: string;
  HostPort: string;
}

/** How cube probes a task's `HealthCheck` path. Defaults live in `DEFAULT_HEALTH`. */
export interface HealthSettings {
  /** Seconds between probes. */
  Interval: number;
  /** Seconds one probe may take. */
  Timeout: number;
  /** Consecutive failed probes that make the task unhealthy. */
  FailureThreshold: number;
}

export const DEFAULT_HEALTH: Readonly<HealthSettings> = {
  Interval: 5,
  Timeout: 2,
  FailureThreshold: 3,
};

export type RestartPolicy = "" | "no" | "always" | "on-failure" | "unless-stopped";

export interface Task {
  ID: string;
  ContainerID: string;
  Name: string;
  State: State;
  Image: string;
  /** CPU cores requested (and enforced as a limit). */
  Cpu: number;
  /** Memory requested in bytes (and enforced as a limit); 0 means no limit. */
  Memory: number;
  /** Disk requested in bytes (used for placement). */
  Disk: number;
  /** Container ports to publish, as Docker's `{"80/tcp": {}}`. */
  ExposedPorts: Record<string, Record<string, never>>;
  /** Fixed host ports, `{"80/tcp": "8080"}` or `{"80/tcp": "127.0.0.1:8080"}`. */
  PortBindings: Record<string, string>;
  RestartPolicy: RestartPolicy;
  StartTime: string;
  FinishTime: string;
  /** An HTTP path probed on the task's first published port, e.g. `/health`. */
  HealthCheck: string;
  RestartCount: number;
  /** Where the ports landed, as Docker's port map. */
  HostPorts: Record<string, PortBinding[]>;
  // --- cube's additions -------------------------------------------------------------
  /** Environment as `["K=V"]`. */
  Env: string[];
  /** Command (overrides the image's CMD when not empty). */
  Cmd: string[];
  /** Why the task last failed (or why it is still pending); empty when all is well. */
  Error: string;
  /** The Docker container's name (`cube-<name>-<id8>-<random>`). */
  ContainerName: string;
  /** Name of the worker node the task is placed on. */
  Node: string;
  /** Health probe settings; the defaults apply to any field left out. */
  Health: HealthSettings;
  /** Restarts allowed before a failing task stays Failed (the book stopped at 3). */
  MaxRestarts: number;
  /** Container exit code, when the container exited. */
  ExitCode: number | null;
  /** When the task was first accepted. */
  CreateTime: string;
  /**
   * The manager's count of placements of this task (a first placement, a restart, a move
   * to another node each add one). A worker's report belongs to one placement; reports
   * of an older one are stale.
   */
  Placement: number;
  /**
   * The worker's count of changes to this task's record: it only increases, survives the
   * worker's restarts, and lets the manager ignore a report older than one it holds.
   */
  Revision: number;
  /**
   * Who caused the last failure: `"task"` (it exited, failed its health check or could
   * not start) or `"infrastructure"` (the Docker engine restarted, the node was lost),
   * which does not use up the task's restarts. `""` while nothing failed.
   */
  FailureCause: FailureCause;
  /**
   * What the worker did last that a user waiting for the task wants to know, while its
   * state stays the same: `pulling image "web:2"`, `health check GET /health passed`;
   * "" when there is nothing to tell. Each change is an event in the task's history.
   */
  Progress: string;
  /** Where it may run: `node.name==w1`, `node.labels.zone!=b`, … (all must hold). */
  Constraints: string[];
  /** The service this task is a replica of; "" for a task on its own. */
  Service: string;
  /** The service version it runs (0 for a task on its own). */
  Version: number;
}

export type FailureCause = "" | "task" | "infrastructure";

export interface TaskEvent {
  ID: string;
  /** The desired state. */
  State: State;
  Timestamp: string;
  Task: Task;
}

export const DEFAULT_MAX_RESTARTS = 3;

/** A complete task from the fields given; everything else gets its zero value. */
export function newTask(fields: Partial<Task> & Pick<Task, "Image">): Task {
  // Image sits after State so the JSON reads in the book's field order.
  const zero: Task = {
    ID: crypto.randomUUID(),
    ContainerID: "",
    Name: "",
    State: State.Pending,
    Image: "",
    Cpu: 0,
    Memory: 0,
    Disk: 0,
    ExposedPorts: {},
    PortBindings: {},
    RestartPolicy: "",
    StartTime: ZERO_TIME,
    FinishTime: ZERO_TIME,
    HealthCheck: "",
    RestartCount: 0,
    HostPorts: {},
    Env: [],
    Cmd: [],
    Error: "",
    ContainerName: "",
    Node: "",
    Health: { ...DEFAULT_HEALTH },
    MaxRestarts: DEFAULT_MAX_RESTARTS,
    ExitCode: null,
    CreateTime: new Date().toISOString(),
    Placement: 0,
    Revision: 0,
    FailureCause: "",
    Progress: "",
    Constraints: [],
    Service: "",
    Version: 0,
  };
  return { ...zero, ...fields };
}

export function isZeroTime(time: string): boolean {
  return time === "" || time === ZERO_TIME || time.startsWith("0001-01-01");
}

/** When a finished task finished, in ms since the epoch (its creation, when it never ran). */
export function finishedAt(task: Pick<Task, "FinishTime" | "CreateTime">): number {
  return Date.parse(isZeroTime(task.FinishTime) ? task.CreateTime : task.FinishTime);
}

/** Environment entries with their values hidden (`PASSWORD=***`): what a reader sees. */
export function maskedEnv(env: readonly string[]): string[] {
  return env.map((entry) => `${entry.split("=")[0]}=***`);
}

/** A short, human name for logs and messages: `"web" (3f2a9c1e)`. */
export function describeTask(task: Pick<Task, "ID" | "Name">): string {
  return task.Name ? `"${task.Name}" (${task.ID.slice(0, 8)})` : `${task.ID.slice(0, 8)}`;
}
