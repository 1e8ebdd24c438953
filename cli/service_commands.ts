/**
 * `cube service …`: create, list, look at, scale and remove services. Commands that
 * change a service wait until its replicas run, showing progress, unless `--detach`.
 *
 * @module
 */

import { Command, Option } from "commander";
import { type ServiceDetail, State, stateName } from "../task/mod.ts";
import { CliError, type ManagerClient } from "./client.ts";
import type { ConnectionFlags } from "./config.ts";
import { ago, table } from "./format.ts";
import { intOption, numberOption, secondsOrZeroOption } from "./options.ts";
import {
  connect,
  managerOption,
  readJsonFile,
  type TaskFlags,
  taskFromFlags,
  taskOptions,
} from "./task_commands.ts";

interface CreateFlags extends TaskFlags, ConnectionFlags {
  replicas: number;
  updateParallelism?: number;
  updateDelay?: number;
  updateMonitor?: number;
  updateFailureAction?: "rollback" | "pause";
  updateOrder?: "stop-first" | "start-first";
  spread?: string;
  detach?: boolean;
  timeout: number;
  json?: boolean;
}

const tty = () => Deno.stderr.isTerminal();

/**
 * Follows a service until `look` says it is done (or failed), telling the user each new
 * line of progress on a terminal: the service is read again on each of its events (its
 * own and its replicas'), or every 250 ms from a manager without an event stream. On
 * timeout, says where it stands.
 */
async function watch(
  client: ManagerClient,
  name: string,
  timeoutSeconds: number,
  look: (service: ServiceDetail) => { line: string; done?: boolean; failed?: string },
): Promise<ServiceDetail> {
  const deadline = Date.now() + timeoutSeconds * 1000;
  const enough = new AbortController();
  let streaming = true;
  /** An event came since the service was last read; `wake` ends the wait for one. */
  let woke = false;
  let wake = () => {};
  const kick = () => {
    woke = true;
    wake();
  };
  const following = (async () => {
    try {
      for await (const _ of client.eventStream({ service: name, follow: "true" }, enough.signal)) {
        kick();
      }
    } catch { /* cut below, or no stream here: then the loop polls */ }
    streaming = false;
    kick();
  })();
  let said = "";
  try {
    for (;;) {
      const service = await client.service(name);
      const { line, done, failed } = look(service);
      if (line !== said && tty()) console.error(`  ${line}`);
      said = line;
      if (failed) throw new CliError(`service ${name}: ${failed}`);
      if (done) return service;
      if (Date.now() > deadline) {
        const waiting = service.Tasks.find((t) => t.State === State.Pending && t.Error);
        throw new CliError(
          `service ${name}: ${line} after ${timeoutSeconds} s${
            waiting ? `; ${waiting.Name}: ${waiting.Error}` : ""
          } (it keeps going; see 'cube service ps ${name}')`,
        );
      }
      // The next event, or a while without one (a safety net, and the deadline).
      if (!woke) {
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, streaming ? 2_000 : 250);
          wake = () => {
            clearTimeout(timer);
            resolve();
          };
        });
      }
      woke = false;
    }
  } finally {
    enough.abort();
    await following;
  }
}

/** Waits until the service runs exactly its replicas. */
function converge(client: ManagerClient, name: string, timeoutSeconds: number) {
  return watch(client, name, timeoutSeconds, (s) => ({
    line: `${s.Running}/${s.Desired} replicas running`,
    done: s.Running === s.Desired && s.Live === s.Desired,
  }));
}

/** Waits until the service's update is over, batch by batch; fails unless it completed. */
function followUpdate(client: ManagerClient, name: string, timeoutSeconds: number) {
  return watch(client, name, timeoutSeconds, (s) => {
    const parallelism = s.Spec.UpdateConfig.Parallelism;
    const current = s.Tasks.filter((t) => t.State <= State.Running && t.Version === s.Version);
    const healthy = current.filter((t) => t.State === State.Running).length;
    const batches = Math.max(1, Math.ceil(s.Desired / parallelism));
    const batch = Math.min(batches, Math.floor(healthy / parallelism) + 1);
    const state = s.UpdateStatus.State;
    return {
      line: `${state || "updated"}: batch ${batch}/${batches}, ${current.length}/${s.Desired} ` +
        `replicas of version ${s.Version}, ${healthy} running`,
      done: state === "completed" || state === "",
      failed: state === "rolled back" || state === "paused" ? s.UpdateStatus.Message : undefined,
    };
  });
}

/** The update settings the flags give. */
function updateConfig(flags: CreateFlags): Record<string, unknown> {
  const update: Record<string, unknown> = {};
  if (flags.updateParallelism) update.Parallelism = flags.updateParallelism;
  if (flags.updateDelay !== undefined) update.Delay = flags.updateDelay;
  if (flags.updateMonitor !== undefined) update.Monitor = flags.updateMonitor;
  if (flags.updateFailureAction) update.FailureAction = flags.updateFailureAction;
  if (flags.updateOrder) update.Order = flags.updateOrder;
  return update;
}

function updateOptions(command: Command): Command {
  return command
    .addOption(intOption("--update-parallelism <n>", "replicas replaced at once (default 1)"))
    .addOption(secondsOrZeroOption("--update-delay <seconds>", "pause between update batches"))
    .addOption(
      secondsOrZeroOption(
        "--update-monitor <seconds>",
        "how long a new replica must run (default 5)",
      ),
    )
    .addOption(
      new Option("--update-failure-action <action>", "when an update fails (default rollback)")
        .choices(["rollback", "pause"]),
    )
    .addOption(
      new Option("--update-order <order>", "stop-first (default) or start-first").choices([
        "stop-first",
        "start-first",
      ]),
    )
    .option("--spread <label>", "spread replicas over this node label (default: over nodes)");
}

function options(command: Command): Command {
  return command
    .option("--detach", "return at once instead of waiting for the replicas to run")
    .addOption(numberOption("--timeout <seconds>", "how long to wait").default(120))
    .option("--json", "print the service as JSON");
}

export function serviceCommand(): Command {
  const service = new Command("service").description(
    "keep N replicas of a task running: create, ls, ps, inspect, scale, rm",
  );

  service.addCommand(
    managerOption(options(updateOptions(taskOptions(
      new Command("create")
        .description("create a service: N replicas of an image, spread over the nodes")
        .argument("<name>", "the service's name (lowercase letters, digits and -)")
        .argument("<image>", "Docker image")
        .argument("[command...]", "command for the containers, after --")
        .addOption(intOption("--replicas <n>", "how many copies to keep running").default(1)),
    )))).action(async (name: string, image: string, command: string[], flags: CreateFlags) => {
      const template = taskFromFlags(image, command, flags);
      const constraints = template.Constraints as string[] | undefined;
      delete template.Constraints;
      delete template.Name;
      const update = updateConfig(flags);
      using client = await connect(flags);
      const created = await client.createService({
        Name: name,
        Replicas: flags.replicas,
        Task: template,
        UpdateConfig: update,
        Placement: { Constraints: constraints ?? [], Spread: flags.spread ?? "" },
      });
      const result = flags.detach ? created : await converge(client, name, flags.timeout);
      if (flags.json) console.log(JSON.stringify(result, null, 2));
      else console.log(name);
    }),
  );

  service.addCommand(
    managerOption(
      new Command("ls").alias("list").description("list services with their replicas")
        .option("--json", "print JSON"),
    ).action(async (flags: ConnectionFlags & { json?: boolean }) => {
      using client = await connect(flags);
      const services = await client.services();
      if (flags.json) return console.log(JSON.stringify(services, null, 2));
      console.log(table(
        ["NAME", "REPLICAS", "IMAGE", "VERSION", "UPDATE", "CREATED"],
        services.map((s) => [
          s.Name,
          `${s.Running}/${s.Desired}`,
          s.Spec.Task.Image,
          String(s.Version),
          s.UpdateStatus.State || "-",
          ago(s.CreateTime),
        ]),
      ));
    }),
  );

  service.addCommand(
    managerOption(
      new Command("ps").description("a service's tasks: the live ones, then the finished")
        .argument("<name>")
        .option("--json", "print JSON"),
    ).action(async (name: string, flags: ConnectionFlags & { json?: boolean }) => {
      using client = await connect(flags);
      const { Tasks } = await client.service(name);
      if (flags.json) return console.log(JSON.stringify(Tasks, null, 2));
      const order = [...Tasks].sort((a, b) =>
        Number(a.State > State.Running) - Number(b.State > State.Running) ||
        a.Name.localeCompare(b.Name, undefined, { numeric: true })
      );
      console.log(table(
        ["ID", "NAME", "VERSION", "STATE", "NODE", "CREATED", "ERROR"],
        order.map((t) => [
          t.ID.slice(0, 8),
          t.Name,
          String(t.Version),
          stateName(t.State),
          t.Node || "-",
          ago(t.CreateTime),
          t.Error || "",
        ]),
      ));
    }),
  );

  service.addCommand(
    managerOption(new Command("inspect").description("a service as JSON").argument("<name>"))
      .action(async (name: string, flags: ConnectionFlags) => {
        using client = await connect(flags);
        const { Tasks: _, ...rest } = await client.service(name);
        console.log(JSON.stringify(rest, null, 2));
      }),
  );

  service.addCommand(
    managerOption(options(
      new Command("scale").description("change how many replicas run")
        .argument("<name>")
        .argument("<replicas>", "how many"),
    )).action(
      async (
        name: string,
        replicas: string,
        flags: ConnectionFlags & { detach?: boolean; timeout: number; json?: boolean },
      ) => {
        const n = Number(replicas);
        if (!Number.isInteger(n) || n < 0) {
          throw new CliError(`"${replicas}" is not a number of replicas (0 or more)`);
        }
        using client = await connect(flags);
        const scaled = await client.scaleService(name, n);
        const result = flags.detach ? scaled : await converge(client, name, flags.timeout);
        if (flags.json) console.log(JSON.stringify(result, null, 2));
        else console.log(`${name} scaled to ${n}`);
      },
    ),
  );

  service.addCommand(
    managerOption(options(updateOptions(taskOptions(
      new Command("update")
        .description(
          "change a service: a new version, rolled out in batches (rolled back on failure)",
        )
        .argument("<name>")
        .option("--image <image>", "a new image")
        .addOption(intOption("--replicas <n>", "how many copies to keep running")),
    )))).action(
      async (name: string, flags: CreateFlags & { image?: string; replicas?: number }) => {
        using client = await connect(flags);
        const current = await client.service(name);
        const given = taskFromFlags(flags.image ?? current.Spec.Task.Image, [], flags);
        const template: Record<string, unknown> = { ...current.Spec.Task };
        // Only what a flag set changes; env adds to (and replaces keys of) the current env.
        for (const [key, value] of Object.entries(given)) {
          if (key === "Name" || key === "Cmd" || key === "Constraints") continue;
          if (key === "Env") {
            const env = new Map(current.Spec.Task.Env.map((e) => [e.split("=")[0], e]));
            for (const e of value as string[]) env.set(e.split("=")[0], e);
            template.Env = [...env.values()];
          } else template[key] = value;
        }
        const spec = {
          Name: name,
          Replicas: flags.replicas ?? current.Spec.Replicas,
          Task: template,
          UpdateConfig: { ...current.Spec.UpdateConfig, ...updateConfig(flags) },
          Placement: {
            Constraints: flags.constraint?.length
              ? flags.constraint
              : current.Spec.Placement.Constraints,
            Spread: flags.spread ?? current.Spec.Placement.Spread,
          },
        };
        const updated = await client.updateService(name, spec);
        const result = flags.detach || updated.Version === current.Version
          ? updated
          : await followUpdate(client, name, flags.timeout);
        if (flags.json) console.log(JSON.stringify(result, null, 2));
        else console.log(`${name} version ${updated.Version}`);
      },
    ),
  );

  for (
    const [verb, what] of [
      ["rollback", "roll back to the previous spec, in batches"],
      ["restart", "replace every replica in batches, with the same spec"],
    ] as const
  ) {
    service.addCommand(
      managerOption(options(new Command(verb).description(what).argument("<name>"))).action(
        async (
          name: string,
          flags: ConnectionFlags & { detach?: boolean; timeout: number; json?: boolean },
        ) => {
          using client = await connect(flags);
          const changed = await client.serviceAction(name, verb);
          const result = flags.detach
            ? changed
            : await followUpdate(client, name, flags.timeout).catch((error) => {
              // A rollback ends "rolled back": that is its success.
              if (verb === "rollback" && /rolled back to version/.test(String(error.message))) {
                return changed;
              }
              throw error;
            });
          if (flags.json) console.log(JSON.stringify(result, null, 2));
          else console.log(`${name} version ${changed.Version}`);
        },
      ),
    );
  }

  service.addCommand(
    managerOption(
      new Command("rm").alias("remove").description("remove a service and stop its tasks")
        .argument("<name>"),
    ).action(async (name: string, flags: ConnectionFlags) => {
      using client = await connect(flags);
      await client.removeService(name);
      console.log(`${name} removed`);
    }),
  );

  return service;
}

/** `cube apply -f service.json`: create the service, or change it to match the file. */
export function applyCommand(): Command {
  return managerOption(options(
    new Command("apply")
      .description("create a service from a spec file, or update it to match (idempotent)")
      .requiredOption("-f, --file <path>", "a service spec, JSON ('-' for stdin)"),
  )).action(
    async (
      flags: ConnectionFlags & { file: string; detach?: boolean; timeout: number; json?: boolean },
    ) => {
      const spec = await readJsonFile(flags.file, "service file") as Record<string, unknown>;
      const name = typeof spec?.Name === "string" ? spec.Name : "";
      if (!name) throw new CliError(`${flags.file} has no Name: a service spec needs one`);
      using client = await connect(flags);
      const existing = await client.service(name).catch((error) => {
        if (error instanceof CliError && /not found/.test(error.message)) return null;
        throw error;
      });
      const applied = existing
        ? await client.updateService(name, spec)
        : await client.createService(spec);
      const what = !existing
        ? "created"
        : applied.Version === existing.Version
        ? (applied.Spec.Replicas === existing.Spec.Replicas ? "unchanged" : "scaled")
        : `updated to version ${applied.Version}`;
      const result = flags.detach
        ? applied
        : existing && applied.Version !== existing.Version
        ? await followUpdate(client, name, flags.timeout)
        : await converge(client, name, flags.timeout);
      if (flags.json) console.log(JSON.stringify(result, null, 2));
      else console.log(`${name} ${what}`);
    },
  );
}
