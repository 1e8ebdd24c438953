/**
 * Validation of everything that arrives over the wire. The book's JSON passes as is
 * (including the zero values its Go client sends: `null` maps, zero times); anything
 * the book's client would never send is refused with a message naming the field.
 *
 * @module
 */

import { z } from "zod";
import { CubeError } from "../lib/errors.ts";
import { CONSTRAINT_FORM } from "./constraints.ts";
import { State } from "./state.ts";
import { DEFAULT_HEALTH, newTask, type Task, type TaskEvent, ZERO_TIME } from "./task.ts";
import type { Heartbeat } from "./wire.ts";

const PORT_KEY = /^(\d{1,5})(\/(tcp|udp|sctp))?$/;
const HOST_PORT = /^(?:(\S+):)?(\d{1,5})$/;
const MAX_NAME = 128;
/** The longest `Progress` a task carries (a line of what its worker is doing). */
const MAX_PROGRESS = 512;
/** Docker refuses a memory limit under 6 MiB at container create; refuse it at submit. */
const MIN_MEMORY = 6 * 1024 * 1024;
/** 1 PiB: far above any machine, far below where JSON numbers lose whole bytes. */
const MAX_BYTES = 2 ** 50;

const isPort = (n: number) => Number.isInteger(n) && n >= 1 && n <= 65535;

const portKey = z.string().regex(PORT_KEY, {
  error: (issue) => `invalid port ${JSON.stringify(issue.input)} (expected "80/tcp")`,
}).refine((key) => !PORT_KEY.test(key) || isPort(Number(key.match(PORT_KEY)![1])), {
  error: (issue) => `invalid port ${JSON.stringify(issue.input)}: ports are 1 to 65535`,
});

const hostPort = z.string().regex(HOST_PORT, {
  error: (i) =>
    `invalid host port ${JSON.stringify(i.input)} (expected "8080" or "127.0.0.1:8080")`,
}).refine((spec) => !HOST_PORT.test(spec) || Number(spec.match(HOST_PORT)![2]) <= 65535, {
  // 0 asks Docker for any free port, as `-p 127.0.0.1:0:80` does.
  error: (i) => `invalid host port ${JSON.stringify(i.input)}: ports are 0 (any) to 65535`,
});

const bytes = (what: string) =>
  z.number().int({ error: `must be a whole number of bytes (${what})` }).min(0).max(MAX_BYTES, {
    error: `must be at most 2^50 bytes (${what})`,
  });

const count = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);

const state = z.number({ error: "must be a number (0 Pending … 4 Failed)" }).int().refine(
  (n) => n in State,
  { error: (issue) => `unknown state ${issue.input} (expected 0 Pending … 4 Failed)` },
);

const time = z.string().nullable().optional();
const maybe = <T extends z.ZodType>(schema: T) => schema.nullable().optional();

const healthInput = z.strictObject({
  Interval: z.number().positive().max(3600).optional(),
  Timeout: z.number().positive().max(600).optional(),
  FailureThreshold: z.number().int().min(1).max(100).optional(),
});

const taskInput = z.strictObject({
  ID: z.guid({ error: (i) => `invalid UUID ${JSON.stringify(i.input)}` }).optional(),
  ContainerID: maybe(z.string()),
  Name: maybe(z.string().max(MAX_NAME)),
  State: state.optional(),
  Image: z.string({ error: 'is required (a Docker image such as "nginx:1.27")' }).trim()
    .min(1, { error: "must not be empty" }).max(512),
  Cpu: maybe(
    z.number().min(0).max(1024).refine((n) => n === 0 || n >= 0.01, {
      error: "must be 0 (no limit) or at least 0.01 cores",
    }),
  ),
  Memory: maybe(
    bytes("0 means no limit").refine((n) => n === 0 || n >= MIN_MEMORY, {
      error: "must be 0 (no limit) or at least 6 MiB (6291456), Docker's minimum",
    }),
  ),
  Disk: maybe(bytes("used for placement")),
  ExposedPorts: maybe(z.record(portKey, z.strictObject({}))),
  PortBindings: maybe(z.record(portKey, hostPort)),
  RestartPolicy: maybe(z.enum(["", "no", "always", "on-failure", "unless-stopped"])),
  StartTime: time,
  FinishTime: time,
  HealthCheck: maybe(z.string().regex(/^(\/\S*)?$/, { error: "must be a path starting with /" })),
  RestartCount: maybe(z.number().int().min(0).max(1000)),
  HostPorts: maybe(z.record(z.string(), z.array(z.unknown()).nullable())),
  Env: maybe(z.array(z.string().regex(/^[^=\s]+=/, { error: "must look like KEY=value" }))),
  Cmd: maybe(z.array(z.string())),
  Error: maybe(z.string()),
  ContainerName: maybe(z.string()),
  Node: maybe(z.string()),
  Health: maybe(healthInput),
  MaxRestarts: maybe(z.number().int().min(0).max(1000)),
  ExitCode: maybe(z.number().int().min(-(2 ** 31)).max(2 ** 32)),
  CreateTime: time,
  Placement: maybe(count),
  Revision: maybe(count),
  FailureCause: maybe(z.enum(["", "task", "infrastructure"])),
  Progress: maybe(z.string().max(MAX_PROGRESS)),
  Service: maybe(z.string().max(MAX_NAME)),
  Version: maybe(count),
  Constraints: maybe(
    z.array(
      z.string().max(256).refine((text) => CONSTRAINT_FORM.test(text), {
        error: (i) =>
          `invalid constraint ${
            JSON.stringify(i.input)
          } (expected node.name==NAME, node.name!=NAME, node.labels.KEY==VALUE or node.labels.KEY!=VALUE)`,
      }),
    ).max(32),
  ),
});

const eventInput = z.strictObject({
  ID: z.guid({ error: (i) => `invalid UUID ${JSON.stringify(i.input)}` }).optional(),
  State: state.optional(),
  Timestamp: time,
  Task: taskInput,
});

type TaskInput = z.infer<typeof taskInput>;

function normalizePort(key: string): string {
  const [, port, , proto] = key.match(PORT_KEY)!;
  return `${port}/${proto ?? "tcp"}`;
}

function normalizeKeys<V>(record: Record<string, V> | null | undefined): Record<string, V> {
  const out: Record<string, V> = {};
  for (const [key, value] of Object.entries(record ?? {})) out[normalizePort(key)] = value;
  return out;
}

/** Turns validated input into a complete Task; what the client says of runtime facts is kept only where cube can trust it. */
function toTask(input: TaskInput): Task {
  return newTask({
    ID: input.ID?.toLowerCase() ?? crypto.randomUUID(),
    Name: input.Name ?? "",
    State: input.State ?? State.Pending,
    Image: input.Image,
    Cpu: input.Cpu ?? 0,
    Memory: input.Memory ?? 0,
    Disk: input.Disk ?? 0,
    ExposedPorts: normalizeKeys(input.ExposedPorts) as Task["ExposedPorts"],
    PortBindings: normalizeKeys(input.PortBindings),
    RestartPolicy: input.RestartPolicy ?? "",
    HealthCheck: input.HealthCheck ?? "",
    RestartCount: input.RestartCount ?? 0,
    Env: input.Env ?? [],
    Cmd: input.Cmd ?? [],
    Health: { ...DEFAULT_HEALTH, ...input.Health },
    MaxRestarts: input.MaxRestarts ?? newTask({ Image: "" }).MaxRestarts,
    StartTime: ZERO_TIME,
    FinishTime: ZERO_TIME,
    // The manager's placement count travels with the task it sends to a worker.
    Placement: input.Placement ?? 0,
    Constraints: (input.Constraints ?? []).map((text) => text.trim()),
    Service: input.Service ?? "",
    Version: input.Version ?? 0,
  });
}

const KNOWN_FIELDS = [...Object.keys(taskInput.shape), ...Object.keys(eventInput.shape)];

function distance(a: string, b: string): number {
  a = a.toLowerCase();
  b = b.toLowerCase();
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let previous = row[0]++;
    for (let j = 1; j <= b.length; j++) {
      const current = row[j];
      row[j] = Math.min(row[j] + 1, row[j - 1] + 1, previous + (a[i - 1] === b[j - 1] ? 0 : 1));
      previous = current;
    }
  }
  return row[b.length];
}

function suggest(field: string): string {
  const best = KNOWN_FIELDS.map((k) => ({ k, d: distance(field, k) })).sort((x, y) => x.d - y.d)[0];
  return best && best.d <= 2 ? ` (did you mean "${best.k}"?)` : "";
}

/** One line per problem, each naming its field: `Task.Imagee: unknown field (did you mean "Image"?)`. */
export function formatIssues(error: z.ZodError): string {
  return error.issues.map((issue) => {
    const path = issue.path.map(String).join(".");
    if (issue.code === "unrecognized_keys") {
      return issue.keys.map((key) =>
        `${path ? path + "." : ""}${key}: unknown field${suggest(key)}`
      ).join("; ");
    }
    if (issue.code === "invalid_key" && issue.issues.length > 0) {
      return `${path}: ${issue.issues[0].message}`;
    }
    return `${path || "body"}: ${issue.message}`;
  }).join("; ");
}

function parse<T>(schema: z.ZodType<T>, body: unknown): T {
  const result = schema.safeParse(body);
  if (!result.success) throw new CubeError(400, `Invalid task: ${formatIssues(result.error)}`);
  return result.data;
}

/** The book's `TaskEvent`. */
export function parseTaskEvent(body: unknown): TaskEvent {
  const input = parse(eventInput, body);
  const task = toTask(input.Task);
  return {
    ID: input.ID?.toLowerCase() ?? crypto.randomUUID(),
    State: input.State ?? State.Running,
    Timestamp: input.Timestamp || new Date().toISOString(),
    Task: task,
  };
}

/** A `TaskEvent`, or a bare `Task` (which is wrapped in an event that asks for it to run). */
export function parseSubmission(body: unknown): TaskEvent {
  if (body !== null && typeof body === "object" && "Task" in body) return parseTaskEvent(body);
  const task = toTask(parse(taskInput, body));
  return {
    ID: crypto.randomUUID(),
    State: State.Running,
    Timestamp: new Date().toISOString(),
    Task: task,
  };
}

/** Parses `"{id}"` route parameters. */
export function parseTaskId(id: string): string {
  const result = z.guid().safeParse(id);
  if (!result.success) {
    throw new CubeError(400, `Invalid task ID ${JSON.stringify(id)}: not a UUID`);
  }
  return result.data.toLowerCase();
}

const nodeName = z.string().min(1).max(128).regex(/^[A-Za-z0-9_.:-]+$/, {
  error: "may hold only letters, digits and _ . : -",
});

const labelKey = z.string().min(1).max(63).regex(/^[A-Za-z0-9_.-]+$/, {
  error: "label keys may hold only letters, digits and _ . -",
});
const labels = z.record(labelKey, z.string().max(256)).refine((l) => Object.keys(l).length <= 64, {
  error: "at most 64 labels",
});

const heartbeatInput = z.strictObject({
  Name: nodeName,
  Labels: labels.optional(),
  Api: z.url({ protocol: /^https?$/ }),
  Stats: z.object({
    CpuCores: z.number().positive().max(65536),
    CpuUsage: z.number().min(0).max(1),
    MemoryTotalBytes: z.number().min(0).max(2 ** 60),
    MemoryAvailableBytes: z.number().min(0).max(2 ** 60),
    DiskTotalBytes: z.number().min(0).max(2 ** 60),
    DiskFreeBytes: z.number().min(0).max(2 ** 60),
    Load1: z.number().min(0).max(1e6).optional().default(0),
    TaskCount: z.number().int().min(0).max(1e7).optional().default(0),
  }),
});

/** A worker's view of a task: only the fields the manager takes from it are checked. */
const reportInput = z.array(z.looseObject({
  ID: z.guid(),
  State: z.number().int().refine((n) => n in State, { error: "unknown state" }),
  RestartCount: z.number().int().min(0),
  ContainerID: z.string(),
  HostPorts: z.record(z.string(), z.array(z.object({ HostIp: z.string(), HostPort: z.string() })))
    .nullable(),
  StartTime: z.string(),
  FinishTime: z.string(),
  ExitCode: z.number().int().nullable(),
  Error: z.string(),
  // Absent in a worker that does not stamp its reports: then only the forward rule applies.
  Placement: count.optional(),
  Revision: count.optional(),
  FailureCause: z.enum(["", "task", "infrastructure"]).optional(),
  // Absent in a worker that tells no progress.
  Progress: z.string().max(MAX_PROGRESS).optional(),
})).max(10_000);

function parseAs<T>(schema: z.ZodType<T>, body: unknown, what: string): T {
  const result = schema.safeParse(body);
  if (!result.success) throw new CubeError(400, `Invalid ${what}: ${formatIssues(result.error)}`);
  return result.data;
}

/** A node name from a route. */
export function parseNodeName(name: string): string {
  return parseAs(nodeName, name, "node name");
}

/** `POST /nodes`. */
export function parseHeartbeat(body: unknown): Heartbeat {
  const heartbeat = parseAs(heartbeatInput, body, "heartbeat");
  return { ...heartbeat, Api: heartbeat.Api.replace(/\/$/, "") };
}

const nodeUpdateInput = z.strictObject({
  Availability: z.enum(["active", "pause", "drain"], {
    error: "must be active, pause or drain",
  }).optional(),
  Labels: labels.optional(),
});

/** `PATCH /nodes/{name}`: `{"Availability": "pause", "Labels": {"zone": "a"}}`. */
export function parseNodeUpdate(
  body: unknown,
): { Availability?: "active" | "pause" | "drain"; Labels?: Record<string, string> } {
  return parseAs(nodeUpdateInput, body, "node update");
}

/** `POST /nodes/{name}/tasks`. */
export function parseReport(body: unknown): Task[] {
  return parseAs(reportInput, body, "task report") as unknown as Task[];
}
