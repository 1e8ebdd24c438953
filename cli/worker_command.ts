import { Command, InvalidArgumentError, Option } from "commander";
import {
  bytesOption,
  durationOption,
  intOption,
  numberOption,
  onShutdown,
  secondsOption,
} from "./options.ts";
import { startWorker, type WorkerSettings } from "../roles/start.ts";

/** Options shared by `cube worker` and `cube dev`. */
export function workerRuntimeOptions(command: Command, publishIp = "0.0.0.0"): Command {
  return command
    .addOption(
      new Option("--publish-ip <ip>", "host address container ports are published on")
        .env("CUBE_PUBLISH_IP").default(publishIp),
    )
    .addOption(
      new Option(
        "--pull <policy>",
        "image pull policy: auto (absent, or tag latest or none), always, missing, never",
      ).choices(["auto", "always", "missing", "never"]).env("CUBE_PULL").default("auto"),
    )
    .addOption(
      intOption("--stop-grace <seconds>", "seconds between SIGTERM and SIGKILL on stop")
        .env("CUBE_STOP_GRACE").default(10),
    )
    .addOption(
      intOption("--concurrency <n>", "container starts/stops in flight at once")
        .env("CUBE_CONCURRENCY").default(8),
    )
    .addOption(
      numberOption("--cpu-total <cores>", "cores offered to tasks (default: all)").env(
        "CUBE_CPU_TOTAL",
      ),
    )
    .addOption(
      bytesOption("--memory-total <size>", "memory offered to tasks, e.g. 8g (default: all)")
        .env("CUBE_MEMORY_TOTAL"),
    )
    .addOption(
      bytesOption("--disk-total <size>", "disk offered to tasks, e.g. 100g (default: all)")
        .env("CUBE_DISK_TOTAL"),
    );
}

export function workerCommand(): Command {
  const command = new Command("worker")
    .description("run a worker node: runs tasks as Docker containers")
    .addOption(
      new Option("-H, --host <host>", "address to listen on").env("CUBE_HOST").default("0.0.0.0"),
    )
    .addOption(intOption("-p, --port <port>", "port to listen on").env("CUBE_PORT").default(5556))
    .addOption(
      new Option("-n, --name <name>", "node name (default: <hostname>-<port>)").env("CUBE_NAME"),
    )
    .addOption(
      new Option("--dir <path>", "state directory: store and node identity").env("CUBE_DIR")
        .default(".cube"),
    )
    .addOption(
      new Option(
        "-d, --store <path>",
        'KV file, ":memory:" or "memory" (default: <dir>/worker-<name>.kv)',
      ).env("CUBE_STORE"),
    )
    .addOption(
      new Option(
        "-m, --manager <url>",
        "join this manager (or several, separated by commas): heartbeat and push task changes",
      )
        .env("CUBE_MANAGER"),
    )
    .addOption(
      new Option(
        "--join-token <token>",
        "the cluster's worker join token ('cube token join'); without --manager, wait to be invited",
      ).env("CUBE_JOIN_TOKEN"),
    )
    .addOption(
      new Option("-l, --label <k=v>", "a label constraints can match (repeatable)")
        .argParser((value: string, previous: Record<string, string> = {}) => {
          const match = value.match(/^([A-Za-z0-9_.-]+)=(.*)$/);
          if (!match) throw new InvalidArgumentError(`"${value}" is not k=v (example: zone=a)`);
          return { ...previous, [match[1]]: match[2] };
        }),
    )
    .addOption(
      new Option(
        "--insecure",
        "serve the book's open API (no TLS, no credentials) on an address other than loopback",
      ),
    )
    .addOption(
      new Option(
        "--advertise <url>",
        "URL the manager reaches this worker at (default: https://<host>:<port>)",
      )
        .env("CUBE_ADVERTISE"),
    )
    .addOption(
      secondsOption("--heartbeat-interval <seconds>", "seconds between heartbeats to the manager")
        .env("CUBE_HEARTBEAT_INTERVAL").default(1),
    )
    .addOption(
      durationOption(
        "--task-retention <duration>",
        "finished tasks' records and containers are removed this long after they finish",
      ).env("CUBE_TASK_RETENTION").default(86_400, "24h"),
    );
  return workerRuntimeOptions(command).action(async (flags: WorkerSettings) => {
    const node = await startWorker(flags);
    const mode = node.mode();
    console.log(
      `cube worker "${node.name}" listening on ${node.url}${
        mode === "joined" && flags.manager
          ? `, joined to ${flags.manager}`
          : mode === "waiting"
          ? ", waiting for a manager that lists it"
          : mode === "open"
          ? " (open API, no credentials)"
          : ""
      }`,
    );
    await onShutdown(() => node.close());
  });
}
