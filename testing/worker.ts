import { listen } from "../http/serve.ts";
import { type Database, KvDatabase } from "../store/mod.ts";
import { createWorkerApp, DockerRuntime, type PullPolicy, Worker } from "../worker/mod.ts";
import { removeContainersOf, uniqueName } from "./docker.ts";
import { tempDir } from "./wait.ts";

export interface TestWorker extends AsyncDisposable {
  worker: Worker;
  url: string;
  name: string;
  storePath: string;
}

/**
 * A real worker in this process: KV file in a temp dir, real Docker, HTTP on loopback.
 * Disposing it closes everything and removes its containers.
 */
export async function startTestWorker(
  options: {
    name?: string;
    pullPolicy?: PullPolicy;
    reconcileIntervalMs?: number;
    /** Starts (and stops) carried out at once; the worker's default when absent. */
    concurrency?: number;
    /** Wraps the real KV database (to inject faults). */
    wrap?: (db: Database) => Database;
  } = {},
): Promise<TestWorker> {
  const name = options.name ?? uniqueName("worker");
  const dir = await tempDir();
  const storePath = `${dir.path}/worker.kv`;
  const kv = await KvDatabase.open(storePath);
  const db = options.wrap?.(kv) ?? kv;
  const runtime = await DockerRuntime.open({
    publishIp: "127.0.0.1",
    pullPolicy: options.pullPolicy,
  });
  const worker = new Worker({
    name,
    db,
    runtime,
    stopGraceSeconds: 2,
    reconcileIntervalMs: options.reconcileIntervalMs ?? 1_000,
    concurrency: options.concurrency,
    log: () => {},
  });
  await worker.start();
  const server = await listen(createWorkerApp({ worker, metrics: worker.metrics.registry }));
  return {
    worker,
    url: server.url,
    name,
    storePath,
    async [Symbol.asyncDispose]() {
      await server.close();
      await worker.close();
      db.close();
      await removeContainersOf(name);
      await dir[Symbol.asyncDispose]();
    },
  };
}
