/**
 * Validation of everything that arrives over the wire. The book's JSON passes as is
 * (including the zero values its Go client sends: `null` maps, zero times); anything
 * the book's client would never send is refused with a message naming the field.
 *
 * @module
 */

import { z } from "zod";
import { CubeError } from "../http/errors.ts";
import { State } from "./state.ts";
import { DEFAULT_HEALTH, newTask, type Task, type TaskEvent, ZERO_TIME } from "./task.ts";

const PORT_KEY = /^(\d{1,5})(\/(tcp|udp|sctp))?$/;
const MAX_NAME = 128;

const portKey = z.string().regex(PORT_KEY, {
  error: (issue) => `invalid port ${JSON.stringify(issue.input)} (expected "80/tcp")`,
});

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
  Cpu: maybe(z.number().min(0).max(1024)),
  Memory: maybe(z.number().int().min(0)),
  Disk: maybe(z.number().int().min(0)),
  ExposedPorts: maybe(z.record(portKey, z.strictObject({}))),
  PortBindings: maybe(z.record(
    portKey,
    z.string().regex(/^(\S+:)?\d{1,5}$/, {
      error: (i) =>
        `invalid host port ${JSON.stringify(i.input)} (expected "8080" or "127.0.0.1:8080")`,
    }),
  )),
  RestartPolicy: maybe(z.enum(["", "no", "always", "on-failure", "unless-stopped"])),
  StartTime: time,
  FinishTime: time,
  HealthCheck: maybe(z.string().regex(/^(\/\S*)?$/, { error: "must be a path starting with /" })),
  RestartCount: maybe(z.number().int().min(0)),
  HostPorts: maybe(z.record(z.string(), z.array(z.unknown()).nullable())),
  Env: maybe(z.array(z.string().regex(/^[^=\s]+=/, { error: "must look like KEY=value" }))),
  Cmd: maybe(z.array(z.string())),
  Error: maybe(z.string()),
  ContainerName: maybe(z.string()),
  Node: maybe(z.string()),
  Health: maybe(healthInput),
  MaxRestarts: maybe(z.number().int().min(0).max(1000)),
  ExitCode: maybe(z.number().int()),
  CreateTime: time,
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
