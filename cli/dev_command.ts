import { Command, Option } from "commander";
import { intOption, onShutdown } from "./options.ts";
import { managerControlOptions } from "./manager_command.ts";
import { startManager, startWorker } from "../roles/start.ts";
import { workerRuntimeOptions } from "./worker_command.ts";

interface DevFlags {
  host: string;
  port: number;
  workerPort: number;
  dir: string;
  scheduler: string;
  heartbeatInterval: number;
  nodeTimeout: number;
  restartBackoff: number;
  restartWindow: number;
  taskRetention: number;
  nodeRetention: number;
  publishIp: string;
  pull: "always" | "missing" | "never";
  stopGrace: number;
  concurrency: number;
}

export function devCommand(): Command {
  const command = new Command("dev")
    .description("a manager and a worker in one process, state under ./.cube/")
    .addOption(
      new Option("-H, --host <host>", "address to listen on").env("CUBE_HOST").default("127.0.0.1"),
    )
    .addOption(intOption("-p, --port <port>", "manager port").env("CUBE_PORT").default(5555))
    .addOption(intOption("--worker-port <port>", "worker port").default(5556))
    .addOption(new Option("--dir <path>", "where the KV files live").default(".cube"));
  // A dev cluster keeps task ports on this machine unless told otherwise.
  return workerRuntimeOptions(managerControlOptions(command), "127.0.0.1").action(
    async (flags: DevFlags) => {
      const manager = await startManager({
        ...flags,
        workers: [],
        store: `${flags.dir}/manager.kv`,
      });
      const worker = await startWorker({
        ...flags,
        port: flags.workerPort,
        name: "dev-worker",
        store: `${flags.dir}/worker-dev.kv`,
        manager: manager.url,
      });
      console.log(
        `cube dev: manager ${manager.url}, worker ${worker.url} (state in ${flags.dir}/)`,
      );
      console.log(
        `next: deno task cube run nginx --name web -p 8080:80   (or: cube run ..., curl ${manager.url}/tasks)`,
      );
      await onShutdown(async () => {
        await worker.close();
        await manager.close();
      });
    },
  );
}
