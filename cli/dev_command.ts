import { Command, Option } from "commander";
import { intOption, onShutdown } from "./options.ts";
import { managerControlOptions } from "./manager_command.ts";
import { startManager, startWorker } from "../roles/start.ts";
import { workerRuntimeOptions } from "./worker_command.ts";
import { putContext } from "./config.ts";
import { writePrivateFile } from "../lib/files.ts";

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
  pull: "auto" | "always" | "missing" | "never";
  stopGrace: number;
  concurrency: number;
}

async function adminToken(path: string): Promise<string | undefined> {
  try {
    return (await Deno.readTextFile(path)).trim() || undefined;
  } catch {
    return undefined;
  }
}

export function devCommand(): Command {
  const command = new Command("dev")
    .description("a manager and a worker in one process, state under ./.cube/")
    .addOption(
      new Option("-H, --host <host>", "address to listen on").env("CUBE_HOST").default("127.0.0.1"),
    )
    .addOption(intOption("-p, --port <port>", "manager port").env("CUBE_PORT").default(5555))
    .addOption(intOption("--worker-port <port>", "worker port").default(5556))
    .addOption(
      new Option("--dir <path>", "state directory: stores, ca.pem, admin.token").default(".cube"),
    );
  // A dev cluster keeps task ports on this machine unless told otherwise.
  return workerRuntimeOptions(managerControlOptions(command), "127.0.0.1").action(
    async (flags: DevFlags) => {
      const manager = await startManager({ ...flags, workers: [] });
      const worker = await startWorker({
        ...flags,
        port: flags.workerPort,
        name: "dev-worker",
        manager: manager.url,
        joinToken: manager.joinToken(),
      });
      // The dev context: `cube status` and `cube run` work from any directory, no flags.
      let token = manager.adminToken ?? await adminToken(manager.adminTokenPath);
      if (!token) {
        token = await manager.createToken("admin", "cube dev");
        await writePrivateFile(manager.adminTokenPath, `${token}\n`);
      }
      await putContext("dev", { Manager: manager.url, Token: token, Ca: manager.caPem }, true);
      console.log(
        `cube dev: manager ${manager.url}, worker ${worker.url} (state in ${flags.dir}/; CLI context "dev" is current)`,
      );
      console.log(
        `next: deno task cube run nginx --name web -p 8080:80   (or: curl --cacert ${manager.caPath} -H "Authorization: Bearer $(cat ${manager.adminTokenPath})" ${manager.url}/tasks)`,
      );
      await onShutdown(async () => {
        await worker.close();
        await manager.close();
      });
    },
  );
}
