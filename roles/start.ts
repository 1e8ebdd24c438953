/**
 * Wiring of the two roles: store + core + HTTP server, returned as one handle to close.
 * `cube manager`, `cube worker`, `cube dev`, the tests and the benchmarks all start
 * nodes through here (the CLI only parses flags into these settings).
 *
 * @module
 */

import { listen } from "../http/serve.ts";
import { createManagerApp, Manager } from "../manager/mod.ts";
import { createScheduler } from "../scheduler/mod.ts";
import { openDatabase } from "../store/mod.ts";
import { createWorkerApp, DockerRuntime, type PullPolicy, Worker } from "../worker/mod.ts";
import { ManagerLink } from "../worker/manager_link.ts";

export interface Running extends AsyncDisposable {
  url: string;
  close(): Promise<void>;
}

export interface ManagerSettings {
  host: string;
  port: number;
  workers: string[];
  scheduler: string;
  /** E-PVM scores at most this many feasible nodes; 0 (the default) scores all. */
  scoreLimit?: number;
  store: string;
  heartbeatInterval: number;
  nodeTimeout: number;
  restartBackoff: number;
  /** Seconds a task must run before its restart count starts afresh. */
  restartWindow?: number;
  /** Seconds finished tasks (and their history) are kept. */
  taskRetention?: number;
  /** Seconds a node that is down is kept. */
  nodeRetention?: number;
  quiet?: boolean;
}

export interface WorkerSettings {
  host: string;
  port: number;
  name?: string;
  store?: string;
  publishIp: string;
  pull: PullPolicy;
  stopGrace: number;
  concurrency: number;
  manager?: string;
  advertise?: string;
  heartbeatInterval: number;
  cpuTotal?: number;
  memoryTotal?: number;
  diskTotal?: number;
  /** Seconds finished tasks' records and containers are kept. */
  taskRetention?: number;
  quiet?: boolean;
}

const silent = () => {};

const seconds = (value: number | undefined) => value === undefined ? undefined : value * 1000;

export async function startManager(
  settings: ManagerSettings,
): Promise<Running & { manager: Manager }> {
  const db = await openDatabase(settings.store);
  const manager = new Manager({
    db,
    scheduler: createScheduler(settings.scheduler, { scoreLimit: settings.scoreLimit }),
    workers: settings.workers,
    heartbeatIntervalMs: settings.heartbeatInterval * 1000,
    nodeTimeoutMs: settings.nodeTimeout * 1000,
    restartBackoffMs: settings.restartBackoff * 1000,
    restartWindowMs: seconds(settings.restartWindow),
    taskRetentionMs: seconds(settings.taskRetention),
    nodeRetentionMs: seconds(settings.nodeRetention),
    log: settings.quiet ? silent : undefined,
  });
  await manager.start();
  const streams = new AbortController();
  const server = listen(createManagerApp({ manager, shutdown: streams.signal }), {
    hostname: settings.host,
    port: settings.port,
  });
  const close = async () => {
    streams.abort();
    await server.close();
    await manager.close();
    db.close();
  };
  return { url: server.url, manager, close, [Symbol.asyncDispose]: close };
}

export async function startWorker(
  settings: WorkerSettings,
): Promise<Running & { worker: Worker; name: string }> {
  const name = settings.name ?? `${Deno.hostname()}-${settings.port}`;
  const db = await openDatabase(settings.store ?? `.cube/worker-${name}.kv`);
  const worker = new Worker({
    name,
    db,
    runtime: new DockerRuntime({ publishIp: settings.publishIp, pullPolicy: settings.pull }),
    stopGraceSeconds: settings.stopGrace,
    concurrency: settings.concurrency,
    capacity: { cpu: settings.cpuTotal, memory: settings.memoryTotal, disk: settings.diskTotal },
    taskRetentionMs: seconds(settings.taskRetention),
    log: settings.quiet ? silent : undefined,
  });
  await worker.start();
  const streams = new AbortController();
  const server = listen(createWorkerApp({ worker, shutdown: streams.signal }), {
    hostname: settings.host,
    port: settings.port,
  });
  let link: ManagerLink | null = null;
  if (settings.manager) {
    const host = settings.host === "0.0.0.0" || settings.host === "::"
      ? "127.0.0.1"
      : settings.host;
    link = new ManagerLink({
      managerUrl: settings.manager,
      advertiseUrl: settings.advertise ?? `http://${host}:${server.port}`,
      worker,
      heartbeatIntervalMs: settings.heartbeatInterval * 1000,
      log: settings.quiet ? silent : undefined,
    });
    worker.onChange = (task) => link!.report(task);
    link.start();
  }
  const close = async () => {
    streams.abort();
    await server.close();
    await worker.close();
    await link?.close();
    db.close();
  };
  return { url: server.url, worker, name, close, [Symbol.asyncDispose]: close };
}
