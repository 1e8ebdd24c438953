import { Command, InvalidArgumentError, Option } from "commander";
import { startFleet } from "../sim/mod.ts";
import {
  bytesOption,
  numberOption,
  onShutdown,
  secondsOption,
  secondsOrZeroOption,
} from "./options.ts";

interface SimFlags {
  manager: string;
  joinToken: string;
  nodes: number;
  prefix: string;
  host: string;
  cores: number;
  memory: number;
  disk: number;
  startDelay: number;
  heartbeatInterval: number;
}

/** Every node says the same when the manager goes away: say it once, not once per node. */
function onceInARow(log: (message: string) => void): (message: string) => void {
  let last = "";
  return (message) => {
    if (message !== last) log(message);
    last = message;
  };
}

/**
 * `cube sim`: simulated worker nodes for trying a manager without Docker, in the spirit
 * of Nomad's node simulator. They speak the worker's protocol; their tasks reach Running
 * without containers.
 */
export function simCommand(): Command {
  return new Command("sim")
    .description("run simulated worker nodes that join a manager (no Docker: tasks only pretend)")
    .addOption(
      new Option("-m, --manager <url>", "the manager to join").env("CUBE_MANAGER")
        .default("https://localhost:5555"),
    )
    .addOption(
      new Option("--join-token <token>", "the cluster's worker join token ('cube token join')")
        .env("CUBE_JOIN_TOKEN").makeOptionMandatory(),
    )
    .addOption(
      new Option("-n, --nodes <n>", "how many nodes").argParser((value: string) => {
        const n = Number(value);
        if (!Number.isInteger(n) || n < 1) {
          throw new InvalidArgumentError(`"${value}" is not a whole number of nodes (1 or more)`);
        }
        return n;
      }).default(10),
    )
    .addOption(
      new Option(
        "--prefix <name>",
        "node names are <prefix>-1, <prefix>-2, ... (zero-padded to the count)",
      ).default("sim"),
    )
    .addOption(
      new Option("-H, --host <host>", "address the nodes listen on").default("127.0.0.1"),
    )
    .addOption(numberOption("--cores <n>", "cores each node offers").default(4))
    .addOption(
      bytesOption("--memory <size>", "memory each node offers").default(16 * 1024 ** 3, "16g"),
    )
    .addOption(
      bytesOption("--disk <size>", "disk each node offers").default(100 * 1024 ** 3, "100g"),
    )
    .addOption(
      secondsOrZeroOption("--start-delay <seconds>", "how long a simulated start takes").default(0),
    )
    .addOption(
      secondsOption("--heartbeat-interval <seconds>", "seconds between heartbeats").default(1),
    )
    .action(async (flags: SimFlags) => {
      const fleet = await startFleet({
        count: flags.nodes,
        managerUrl: flags.manager.replace(/\/$/, ""),
        joinToken: flags.joinToken,
        prefix: flags.prefix,
        hostname: flags.host,
        cores: flags.cores,
        memory: flags.memory,
        disk: flags.disk,
        startDelayMs: flags.startDelay * 1000,
        heartbeatIntervalMs: flags.heartbeatInterval * 1000,
        log: onceInARow((m) => console.log(`[sim] ${m}`)),
      });
      const names = fleet.nodes.map((n) => n.name);
      console.log(
        `cube sim: ${names.length} simulated nodes (${names[0]} .. ${names.at(-1)}) at ` +
          `${fleet.url}/n/<name>, joining ${flags.manager}`,
      );
      await onShutdown(() => fleet.close());
    });
}
