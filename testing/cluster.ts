import {
  type ManagerSettings,
  startManager,
  startWorker,
  type WorkerSettings,
} from "../roles/start.ts";
import { joinCluster } from "../security/mod.ts";
import { State, type Task } from "../task/mod.ts";
import { removeContainersOf, uniqueName } from "./docker.ts";
import { request, tempDir, trust, waitFor } from "./wait.ts";

type StartedWorker = Awaited<ReturnType<typeof startWorker>>;
type StartedManager = Awaited<ReturnType<typeof startManager>>;

/** Test timings: fast heartbeats and a short node timeout. */
export const FAST = { heartbeatInterval: 0.2, nodeTimeout: 1.5, restartBackoff: 0.1 };

export interface TestCluster extends AsyncDisposable {
  manager: StartedManager;
  url: string;
  dir: string;
  /** The admin token of the cluster (`request` sends it to the manager). */
  adminToken: string;
  workers: Map<string, StartedWorker>;
  /** Starts (or restarts, with the same name and store) a worker that joins the manager. */
  addWorker(name?: string, settings?: Partial<WorkerSettings>): Promise<StartedWorker>;
  /** Joins node `name` (credentials only, no server): its node credential. */
  nodeCredential(name: string): Promise<string>;
  /** Closes a worker without stopping its containers: to the manager, a crash. */
  crashWorker(name: string): Promise<void>;
  submit(task: Record<string, unknown>): Promise<Task>;
  task(id: string): Promise<Task>;
  waitForState(id: string, state: State, what?: string): Promise<Task>;
}

/** A test manager's settings: loopback, any free port, fast timings, quiet. */
export function testManagerSettings(
  dir: string,
  overrides: Partial<ManagerSettings> = {},
): ManagerSettings {
  return {
    host: "127.0.0.1",
    port: 0,
    workers: [],
    scheduler: "epvm",
    dir,
    quiet: true,
    ...FAST,
    ...overrides,
  };
}

/** A test worker's settings: loopback, fast heartbeats, local images, a short stop grace. */
export function testWorkerSettings(
  name: string,
  dir: string,
  overrides: Partial<WorkerSettings> = {},
): WorkerSettings {
  return {
    host: "127.0.0.1",
    port: 0,
    name,
    dir,
    publishIp: "127.0.0.1",
    pull: "missing",
    stopGrace: 1,
    concurrency: 8,
    heartbeatInterval: FAST.heartbeatInterval,
    quiet: true,
    ...overrides,
  };
}

/**
 * A real cluster in this process, secured as any: a manager and workers on loopback
 * HTTPS, workers joined with the join token, each with its own KV file, running real
 * containers. `request` trusts the cluster CA and sends the admin token to the manager.
 * Disposing it closes all and removes containers.
 */
export async function startCluster(
  options: { workers?: number; manager?: Partial<ManagerSettings> } = {},
): Promise<TestCluster> {
  const dir = await tempDir();
  const prefix = uniqueName("c");
  const manager = await startManager(testManagerSettings(dir.path, options.manager));
  const adminToken = manager.adminToken!;
  const trusted = trust(manager.url, { caPem: manager.caPem, token: adminToken });
  const workers = new Map<string, StartedWorker>();
  const names = new Set<string>();
  const cluster: TestCluster = {
    manager,
    url: manager.url,
    dir: dir.path,
    adminToken,
    workers,
    async addWorker(name = `w${workers.size + 1}`, settings = {}) {
      const full = `${prefix}-${name}`;
      names.add(full);
      const worker = await startWorker(
        testWorkerSettings(full, dir.path, {
          manager: manager.url,
          joinToken: manager.joinToken(),
          ...settings,
        }),
      );
      workers.set(full, worker);
      await waitFor(`${full} to join`, async () => {
        const { body } = await request(`${manager.url}/nodes`);
        return body.some((n: { Name: string; Status: string }) =>
          n.Name === full && n.Status === "ready"
        );
      });
      return worker;
    },
    async nodeCredential(name) {
      const identity = await joinCluster({
        manager: manager.url,
        joinToken: manager.joinToken(),
        name,
        names: null,
      });
      return identity.Credential;
    },
    async crashWorker(name) {
      const worker = workers.get(name);
      workers.delete(name);
      await worker?.close();
    },
    async submit(task) {
      const response = await request(`${manager.url}/tasks`, { body: task });
      if (response.status !== 201) {
        throw new Error(`submit: ${response.status} ${JSON.stringify(response.body)}`);
      }
      return response.body;
    },
    async task(id) {
      return (await request(`${manager.url}/tasks/${id}`)).body;
    },
    waitForState(id, state, what) {
      return waitFor(what ?? `task ${id} to be ${State[state]}`, async () => {
        const task = await cluster.task(id);
        return task.State === state ? task : undefined;
      }, { timeoutMs: 30_000 });
    },
    async [Symbol.asyncDispose]() {
      for (const worker of workers.values()) await worker.close();
      await manager.close();
      trusted[Symbol.dispose]();
      for (const name of names) await removeContainersOf(name);
      await dir[Symbol.asyncDispose]();
    },
  };
  for (let i = 0; i < (options.workers ?? 0); i++) await cluster.addWorker();
  return cluster;
}
