/**
 * The user's verbs on tasks: run, status, stop, logs. Each talks to the manager through
 * `ManagerClient` and ends with exit code 0 on success.
 *
 * @module
 */

import { Command, Option } from "commander";
import { sleep } from "../lib/async.ts";
import { isTerminal, restartDecision, State, stateName, type Task } from "../task/mod.ts";
import { CliError, ManagerClient, resolveTask } from "./client.ts";
import { type ConnectionFlags, resolveConnection } from "./config.ts";
import { ago, bytes, ports, table } from "./format.ts";
import { bytesOption, intOption, numberOption } from "./options.ts";

/**
 * `--manager`, `--token` and `--ca`, shared by every command that talks to a manager.
 * Unset, they come from the current context (`cube login`, `cube context use`).
 */
export function managerOption(command: Command): Command {
  return command
    .addOption(
      new Option(
        "--manager <url>",
        "the manager's URL, or several separated by commas (default: the current context's)",
      ).env(
        "CUBE_MANAGER",
      ),
    )
    .addOption(
      new Option("--token <token>", "bearer token (default: the current context's)").env(
        "CUBE_TOKEN",
      ),
    )
    .addOption(
      new Option("--ca <file>", "the cluster CA certificate, ca.pem (default: the context's)")
        .env("CUBE_CA"),
    );
}

/** A client for the manager the flags, the variables or the current context name. */
export async function connect(flags: ConnectionFlags): Promise<ManagerClient> {
  return new ManagerClient(await resolveConnection(flags));
}

const tty = () => Deno.stderr.isTerminal();

/** Polls until `done` says so, telling the user each new state on a terminal. */
/**
 * Waits until `done` holds for the task, printing each change (state, node, reason) as it
 * happens: from the event stream, or by polling a manager that has none.
 */
async function follow(
  client: ManagerClient,
  id: string,
  done: (task: Task) => boolean,
  timeoutSeconds: number,
  /** How long a task that is done when Running must stay Running (`cube run`). */
  steadyMs = 0,
): Promise<Task> {
  const timeUp = new AbortController();
  /** Cuts the event stream once it has told enough. */
  const enough = new AbortController();
  const timer = setTimeout(() => timeUp.abort(), timeoutSeconds * 1000);
  let said = "";
  let task = await client.task(id);
  const check = async () => {
    task = await client.task(id);
    // What the worker tells while the state stays (an image being pulled, a health check
    // passed) shows too.
    const detail = task.Error || task.Progress;
    const line = `${stateName(task.State)}${task.Node ? ` on ${task.Node}` : ""}${
      detail ? `: ${detail}` : ""
    }`;
    if (line !== said && tty()) console.error(`  ${line}`);
    said = line;
    return done(task);
  };
  try {
    if (await check() && !(steadyMs && task.State === State.Running)) return task;
    try {
      const stream = client.eventStream(
        { task: id, last: "50", follow: "true" },
        AbortSignal.any([timeUp.signal, enough.signal]),
      );
      let next = stream.next();
      next.catch(() => {}); // rejected when the stream is cut below: nothing to handle
      for (;;) {
        const item = await next;
        if (item.done) break;
        next = stream.next();
        next.catch(() => {});
        if (item.value.Type !== "task" || !await check()) continue;
        // Running: it must still be so a moment later, so a container that dies at once is
        // a failed run, not a successful one (as when this polled every 200 ms).
        if (task.State !== State.Running || steadyMs === 0) break;
        await sleep(steadyMs);
        if (await check()) break;
      }
      if (done(task)) return task;
    } catch {
      // Time is up, or no stream here (an older manager): then poll instead.
      if (timeUp.signal.aborted) throw timedOut(id, task, timeoutSeconds);
    }
    while (!timeUp.signal.aborted) {
      if (await check()) return task;
      await sleep(200);
    }
    throw timedOut(id, task, timeoutSeconds);
  } finally {
    enough.abort(); // the stream's request, if it is still open
    clearTimeout(timer);
  }
}

function timedOut(id: string, task: Task, timeoutSeconds: number): CliError {
  return new CliError(
    `task ${id.slice(0, 8)} is still ${stateName(task.State)} after ${timeoutSeconds} s${
      task.Error ? `: ${task.Error}` : ""
    } (it keeps going; see 'cube status ${id.slice(0, 8)}')`,
  );
}

function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

/** `-p 8080:80`, `-p 127.0.0.1:8080:80/udp`, `-p 80` (random host port). */
export function parsePublish(spec: string): { port: string; binding?: string } {
  const match = spec.match(/^(?:(.+):)?(\d{1,5})(?:\/(tcp|udp|sctp))?$/);
  if (!match) {
    throw new CliError(`invalid --publish "${spec}" (examples: 8080:80, 127.0.0.1:8080:80, 80)`);
  }
  const [, host, container, proto] = match;
  return { port: `${container}/${proto ?? "tcp"}`, binding: host };
}

/** What `taskOptions` parses. */
export interface TaskFlags {
  publish: string[];
  env: string[];
  health?: string;
  healthInterval?: number;
  healthTimeout?: number;
  healthRetries?: number;
  cpu?: number;
  memory?: number;
  disk?: number;
  restart?: string;
  maxRestarts?: number;
  constraint?: string[];
}

interface RunFlags extends TaskFlags {
  file?: string;
  name?: string;
  detach?: boolean;
  timeout: number;
  json?: boolean;
  manager?: string;
  token?: string;
  ca?: string;
}

/** A JSON file (`-`: stdin) the user named: a `task file`, a `service file`. */
export async function readJsonFile(path: string, what: string): Promise<unknown> {
  let text: string;
  try {
    text = path === "-"
      ? await new Response(Deno.stdin.readable).text()
      : await Deno.readTextFile(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) throw new CliError(`${what} "${path}" not found`);
    throw new CliError(`cannot read ${what} "${path}": ${(error as Error).message}`);
  }
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new CliError(`${what} "${path}" is not valid JSON: ${(error as Error).message}`);
  }
}

/** A task's JSON from `taskOptions`' flags. */
export function taskFromFlags(
  image: string,
  command: string[],
  flags: TaskFlags & { name?: string },
): Record<string, unknown> {
  const exposed: Record<string, Record<string, never>> = {};
  const bindings: Record<string, string> = {};
  for (const spec of flags.publish) {
    const { port, binding } = parsePublish(spec);
    if (binding) bindings[port] = binding;
    else exposed[port] = {};
  }
  for (const pair of flags.env) {
    if (!/^[^=\s]+=/.test(pair)) throw new CliError(`invalid --env "${pair}" (expected KEY=value)`);
  }
  const task: Record<string, unknown> = {
    Image: image,
    Name: flags.name ?? "",
    Env: flags.env,
    Cmd: command,
  };
  if (Object.keys(exposed).length) task.ExposedPorts = exposed;
  if (Object.keys(bindings).length) task.PortBindings = bindings;
  if (flags.health) task.HealthCheck = flags.health;
  const health: Record<string, number> = {};
  if (flags.healthInterval) health.Interval = flags.healthInterval;
  if (flags.healthTimeout) health.Timeout = flags.healthTimeout;
  if (flags.healthRetries) health.FailureThreshold = flags.healthRetries;
  if (Object.keys(health).length) task.Health = health;
  if (flags.cpu) task.Cpu = flags.cpu;
  if (flags.memory) task.Memory = flags.memory;
  if (flags.disk) task.Disk = flags.disk;
  if (flags.restart) task.RestartPolicy = flags.restart;
  if (flags.maxRestarts !== undefined) task.MaxRestarts = flags.maxRestarts;
  if (flags.constraint?.length) task.Constraints = flags.constraint;
  return task;
}

/** How long after it started `cube run` looks at a task again before it says it runs. */
const STEADY_MS = 250;

/** Running, or finished with no restart to come. */
function settled(task: Task): boolean {
  return task.State === State.Running || (isTerminal(task.State) && !restartDecision(task).restart);
}

/** The flags that describe a task, shared by `cube run` and `cube service create`. */
export function taskOptions(command: Command): Command {
  return command
    .option(
      "-p, --publish <spec>",
      "publish a port: 8080:80, 127.0.0.1:8080:80 or 80",
      collect,
      [],
    )
    .option("-e, --env <KEY=value>", "set an environment variable", collect, [])
    .option("--health <path>", "HTTP health check path, e.g. /health")
    .addOption(numberOption("--health-interval <seconds>", "seconds between probes (default 5)"))
    .addOption(
      numberOption("--health-timeout <seconds>", "seconds one probe may take (default 2)"),
    )
    .addOption(
      intOption("--health-retries <n>", "failed probes in a row that mean unhealthy (default 3)"),
    )
    .addOption(numberOption("--cpu <cores>", "CPU cores requested, e.g. 0.5"))
    .addOption(bytesOption("--memory <size>", "memory requested, e.g. 256m"))
    .addOption(bytesOption("--disk <size>", "disk requested, e.g. 1g"))
    .addOption(
      new Option("--restart <policy>", "restart policy").choices([
        "no",
        "on-failure",
        "always",
        "unless-stopped",
      ]),
    )
    .addOption(intOption("--max-restarts <n>", "restarts before giving up (default 3)"))
    .option(
      "--constraint <expr>",
      "where it may run: node.name==w1, node.labels.zone!=b (repeatable; all must hold)",
      collect,
      [],
    );
}

export function runCommand(): Command {
  return managerOption(
    taskOptions(
      new Command("run")
        .description("run a task: from the book's task.json (-f) or from an image")
        .argument("[image]", "Docker image to run (when no -f)")
        .argument("[command...]", "command for the container, after --")
        .option("-f, --file <path>", "a TaskEvent or Task JSON file ('-' for stdin)")
        .option("--name <name>", "a name for the task"),
    )
      .option("-d, --detach", "return at once with the ID instead of waiting until Running")
      .addOption(numberOption("--timeout <seconds>", "how long to wait for Running").default(120))
      .option("--json", "print the task as JSON"),
  ).action(async (image: string | undefined, command: string[], flags: RunFlags) => {
    if (!flags.file && !image) throw new CliError("nothing to run: give an IMAGE or -f task.json");
    if (flags.file && image) throw new CliError("give either an IMAGE or -f task.json, not both");
    const body = flags.file
      ? await readJsonFile(flags.file, "task file")
      : taskFromFlags(image!, command, flags);
    using client = await connect(flags);
    const submitted = await client.submit(body);
    if (tty() && !flags.detach) {
      console.error(`Submitted ${submitted.Name || "task"} ${submitted.ID}`);
    }
    const task = flags.detach
      ? submitted
      : await follow(client, submitted.ID, settled, flags.timeout, STEADY_MS);
    if (flags.json) console.log(JSON.stringify(task, null, 2));
    else console.log(task.ID);
    if (!flags.detach && task.State !== State.Running) {
      throw new CliError(
        `task ${task.ID.slice(0, 8)} ${stateName(task.State)}: ${
          task.Error || "it did not keep running"
        }`,
      );
    }
  });
}

function detail(task: Task): string {
  const rows: Array<[string, string]> = [
    ["ID", task.ID],
    ["Name", task.Name || "-"],
    ["State", stateName(task.State)],
    ["Image", task.Image],
    ["Node", task.Node || "-"],
    [
      "Container",
      task.ContainerID ? `${task.ContainerName || "-"} (${task.ContainerID.slice(0, 12)})` : "-",
    ],
    ["Ports", ports(task) || "-"],
    ["Created", ago(task.CreateTime)],
    ["Started", ago(task.StartTime)],
    ["Finished", ago(task.FinishTime)],
    [
      "Restarts",
      `${task.RestartCount} of ${task.MaxRestarts} (policy: ${task.RestartPolicy || "on-failure"})`,
    ],
    ["Requests", `${task.Cpu} cores, ${bytes(task.Memory)} memory, ${bytes(task.Disk)} disk`],
    ["Health", task.HealthCheck || "-"],
    ["Error", task.Error || "-"],
  ];
  return rows.map(([k, v]) => `${(k + ":").padEnd(11)}${v}`).join("\n");
}

export function statusCommand(): Command {
  return managerOption(
    new Command("status")
      .description("list tasks, or show one (by ID, ID prefix or name) with its history")
      .argument("[task]", "a task ID, unique ID prefix, or name")
      .option("--json", "machine-readable output"),
  ).action(async (ref: string | undefined, flags: ConnectionFlags & { json?: boolean }) => {
    using client = await connect(flags);
    if (ref) {
      const task = await resolveTask(client, ref);
      const { events, earlier } = await client.events(task.ID);
      if (flags.json) {
        console.log(JSON.stringify({ ...task, Events: events, EarlierEvents: earlier }, null, 2));
        return;
      }
      console.log(detail(task));
      console.log("\nEvents:");
      const rows = events.map((e) => [e.Timestamp, e.StateName, e.Node || "-", e.Message]);
      // The first event is always kept; the ones let go were between it and the rest.
      if (earlier > 0) rows.splice(1, 0, ["…", "", "", `${earlier} earlier events not kept`]);
      console.log(table(["TIME", "STATE", "NODE", "MESSAGE"], rows));
      return;
    }
    const tasks = await client.tasks();
    if (flags.json) {
      console.log(JSON.stringify(tasks, null, 2));
      return;
    }
    console.log(table(
      ["ID", "NAME", "CREATED", "STATE", "CONTAINERNAME", "IMAGE", "NODE"],
      tasks.map((t) => [
        t.ID,
        t.Name || "-",
        ago(t.StartTime),
        stateName(t.State),
        t.ContainerName || "-",
        t.Image,
        t.Node || "-",
      ]),
    ));
  });
}

export function stopCommand(): Command {
  return managerOption(
    new Command("stop")
      .description("stop a task and wait until it is Completed")
      .argument("<task>", "a task ID, unique ID prefix, or name")
      .addOption(numberOption("--timeout <seconds>", "how long to wait").default(60)),
  ).action(async (ref: string, flags: ConnectionFlags & { timeout: number }) => {
    using client = await connect(flags);
    const task = await resolveTask(client, ref);
    await client.stop(task.ID);
    const done = await follow(client, task.ID, (t) => isTerminal(t.State), flags.timeout);
    console.log(`${done.ID} ${stateName(done.State)}`);
  });
}

export function logsCommand(): Command {
  return managerOption(
    new Command("logs")
      .description("print a task's container output (stdout and stderr)")
      .argument("<task>", "a task ID, unique ID prefix, or name")
      .option("-f, --follow", "keep printing new output until interrupted")
      .addOption(intOption("--tail <n>", "only the last n lines")),
  ).action(async (ref: string, flags: ConnectionFlags & { follow?: boolean; tail?: number }) => {
    using client = await connect(flags);
    const task = await resolveTask(client, ref);
    const controller = new AbortController();
    const stop = () => controller.abort();
    Deno.addSignalListener("SIGINT", stop);
    try {
      const stream = await client.logs(
        task.ID,
        { follow: !!flags.follow, tail: flags.tail },
        controller.signal,
      );
      await stream.pipeTo(Deno.stdout.writable, { preventClose: true, signal: controller.signal })
        .catch(
          (error) => {
            if (!controller.signal.aborted) throw error;
          },
        );
    } finally {
      Deno.removeSignalListener("SIGINT", stop);
    }
  });
}
