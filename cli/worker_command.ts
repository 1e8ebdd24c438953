import { Command, Option } from "commander";
import { listen } from "../http/serve.ts";
import { openDatabase } from "../store/mod.ts";
import { createWorkerApp, DockerRuntime, type PullPolicy, Worker } from "../worker/mod.ts";
import { intOption, onShutdown } from "./options.ts";

export interface WorkerFlags {
  host: string;
  port: number;
  name?: string;
  store?: string;
  publishIp: string;
  pull: PullPolicy;
  stopGrace: number;
  concurrency: number;
}

/** Starts a worker node: store, Docker runtime, agent, HTTP API. */
export async function runWorker(flags: WorkerFlags): Promise<void> {
  const name = flags.name ?? `${Deno.hostname()}-${flags.port}`;
  const storePath = flags.store ?? `.cube/worker-${name}.kv`;
  const db = await openDatabase(storePath);
  const runtime = new DockerRuntime({ publishIp: flags.publishIp, pullPolicy: flags.pull });
  const worker = new Worker({
    name,
    db,
    runtime,
    stopGraceSeconds: flags.stopGrace,
    concurrency: flags.concurrency,
  });
  await worker.start();
  const server = listen(createWorkerApp({ worker }), { hostname: flags.host, port: flags.port });
  console.log(`cube worker "${name}" listening on ${server.url} (store: ${storePath})`);
  await onShutdown(async () => {
    await server.close();
    await worker.close();
    db.close();
  });
}

export function workerCommand(): Command {
  return new Command("worker")
    .description("run a worker node: runs tasks as Docker containers")
    .addOption(
      new Option("-H, --host <host>", "address to listen on").env("CUBE_HOST").default("0.0.0.0"),
    )
    .addOption(intOption("-p, --port <port>", "port to listen on").env("CUBE_PORT").default(5556))
    .addOption(
      new Option("-n, --name <name>", "node name (default: <hostname>-<port>)").env("CUBE_NAME"),
    )
    .addOption(
      new Option(
        "-d, --store <path>",
        'KV file, ":memory:" or "memory" (default: .cube/worker-<name>.kv)',
      )
        .env("CUBE_STORE"),
    )
    .addOption(
      new Option("--publish-ip <ip>", "host address container ports are published on")
        .env("CUBE_PUBLISH_IP").default("0.0.0.0"),
    )
    .addOption(
      new Option("--pull <policy>", "image pull policy").choices(["always", "missing", "never"])
        .env("CUBE_PULL").default("always"),
    )
    .addOption(
      intOption("--stop-grace <seconds>", "seconds between SIGTERM and SIGKILL on stop").env(
        "CUBE_STOP_GRACE",
      ).default(10),
    )
    .addOption(
      intOption("--concurrency <n>", "container starts/stops in flight at once").env(
        "CUBE_CONCURRENCY",
      ).default(8),
    )
    .action((flags: WorkerFlags) => runWorker(flags));
}
