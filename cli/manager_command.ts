import { Command, Option } from "commander";
import { SCHEDULERS } from "../scheduler/mod.ts";
import { durationOption, intOption, onShutdown, secondsOption } from "./options.ts";
import { type ManagerSettings, startManager } from "../roles/start.ts";
import { loadConfig, putContext } from "./config.ts";

/** Options shared by `cube manager` and `cube dev`. */
export function managerControlOptions(command: Command): Command {
  return command
    .addOption(
      new Option("-s, --scheduler <name>", "placement algorithm").choices([...SCHEDULERS])
        .env("CUBE_SCHEDULER").default("epvm"),
    )
    .addOption(
      intOption(
        "--score-limit <n>",
        "E-PVM scores at most this many feasible nodes (at least log2 of the node count); 0: all",
      ).env("CUBE_SCORE_LIMIT").default(0),
    )
    .addOption(
      secondsOption(
        "--heartbeat-interval <seconds>",
        "liveness check and static-worker poll period",
      )
        .env("CUBE_HEARTBEAT_INTERVAL").default(1),
    )
    .addOption(
      secondsOption(
        "--node-timeout <seconds>",
        "silence after which a node is down and its tasks move",
      )
        .env("CUBE_NODE_TIMEOUT").default(5),
    )
    .addOption(
      intOption(
        "--max-heartbeats-per-second <n>",
        "joined nodes together heartbeat at most this often: a bigger cluster beats less often, its node timeout stretched alike; 0: no limit",
      ).env("CUBE_MAX_HEARTBEATS_PER_SECOND").default(250),
    )
    .addOption(
      secondsOption(
        "--restart-backoff <seconds>",
        "first restart delay; doubles per restart, max 30 s",
      )
        .env("CUBE_RESTART_BACKOFF").default(0.25),
    )
    .addOption(
      durationOption(
        "--restart-window <duration>",
        "a task that ran this long before it ended starts its restart count afresh",
      ).env("CUBE_RESTART_WINDOW").default(600, "10m"),
    )
    .addOption(
      durationOption(
        "--task-retention <duration>",
        "finished tasks and their history are forgotten this long after they finish",
      ).env("CUBE_TASK_RETENTION").default(86_400, "24h"),
    )
    .addOption(
      durationOption("--node-retention <duration>", "nodes down this long are forgotten")
        .env("CUBE_NODE_RETENTION").default(86_400, "24h"),
    );
}

function list(value: string): string[] {
  return value.split(",").map((s) => s.trim()).filter(Boolean);
}

export function managerCommand(): Command {
  const command = new Command("manager")
    .description("run the manager: accepts tasks and schedules them onto workers")
    .addOption(
      new Option("-H, --host <host>", "address to listen on").env("CUBE_HOST").default("0.0.0.0"),
    )
    .addOption(intOption("-p, --port <port>", "port to listen on").env("CUBE_PORT").default(5555))
    .addOption(
      new Option("-w, --workers <list>", "static workers, host:port,host:port (polled)")
        .env("CUBE_WORKERS").argParser(list).default([]),
    )
    .addOption(
      new Option(
        "--advertise <url>",
        "URL workers and clients reach it at (default: https://<host>:<port>)",
      ).env("CUBE_ADVERTISE"),
    )
    .addOption(
      new Option("--dir <path>", "state directory: store, ca.pem, admin.token").env("CUBE_DIR")
        .default(".cube"),
    )
    .addOption(
      new Option(
        "-d, --store <path>",
        'KV file, ":memory:", "memory", or etcd://h1:2379,h2:2379[/prefix] for several managers (default: <dir>/manager.kv)',
      ).env("CUBE_STORE"),
    );
  return managerControlOptions(command).action(async (flags: ManagerSettings & { dir: string }) => {
    const node = await startManager(flags);
    console.log(
      `cube manager listening on ${node.url} (scheduler: ${flags.scheduler}, store: ${
        flags.store ?? `${flags.dir}/manager.kv`
      })`,
    );
    if (node.adminToken && Object.keys((await loadConfig()).Contexts).length === 0) {
      // The first start on a machine with no CLI context: `cube status` works at once.
      await putContext("local", {
        Manager: node.url,
        Token: node.adminToken,
        Ca: node.caPem,
      }, true);
    }
    const tokenFile = await Deno.stat(node.adminTokenPath).then(() => true, () => false);
    console.log(
      tokenFile
        ? `CA: ${node.caPath}, admin token: ${node.adminTokenPath} — log in with: cube login ${node.url} --token "$(cat ${node.adminTokenPath})" --ca ${node.caPath}`
        : `CA: ${node.caPath}; the admin token is where the first manager on this store wrote it`,
    );
    await onShutdown(() => node.close());
  });
}
