/**
 * Several manager processes sharing one etcd cluster, for tests and the bench: the first
 * makes the cluster's secrets; `request` trusts the CA and sends the admin token to all.
 */
import { type StartedWorker, startWorker } from "../roles/start.ts";
import { State, type Task } from "../task/mod.ts";
import { testWorkerSettings } from "./cluster.ts";
import { removeContainersOf } from "./docker.ts";
import { type CubeProcess, spawnCube, trustManagerDir, waitForHealth } from "./process.ts";
import { freePort, request, trust, waitFor } from "./wait.ts";

export interface Managers extends AsyncDisposable {
  urls: string[];
  processes: CubeProcess[];
  /** The index of the manager that leads, once one does. */
  leader(): Promise<number>;
  /** Starts manager `i` again (after a kill), on the same port and directory. */
  restart(i: number): Promise<void>;
  joinToken: string;
  /** The admin token and the CA file, for the CLI. */
  adminToken: string;
  caPath: string;
}

/**
 * `count` manager processes sharing `store`; the first makes the cluster's secrets.
 * `timings` are their timing flags (default: fast heartbeats and a 3 s node timeout; `[]`:
 * cube's defaults).
 */
export async function startManagers(
  store: string,
  dir: string,
  count: number,
  options: { timings?: string[] } = {},
): Promise<Managers> {
  const ports = Array.from({ length: count }, () => freePort());
  const urls = ports.map((port) => `https://127.0.0.1:${port}`);
  const processes: CubeProcess[] = [];
  const trusted: Disposable[] = [];
  const args = (i: number) => [
    "manager",
    "-H",
    "127.0.0.1",
    "-p",
    String(ports[i]),
    "--store",
    store,
    "--dir",
    `${dir}/m${i}`,
    ...(options.timings ?? ["--heartbeat-interval", "0.2", "--node-timeout", "3"]),
  ];
  processes.push(spawnCube(args(0)));
  const first = await trustManagerDir(urls[0], `${dir}/m0`, processes[0]);
  trusted.push(first);
  await waitForHealth(urls[0], processes[0]);
  for (let i = 1; i < count; i++) {
    processes.push(spawnCube(args(i)));
    trusted.push(trust(urls[i], { caPem: first.caPem, token: first.adminToken }));
    await waitForHealth(urls[i], processes[i]);
  }
  const leader = () =>
    waitFor("a manager to lead", async () => {
      for (let i = 0; i < count; i++) {
        const health = await request(`${urls[i]}/health`).catch(() => null);
        if (health?.body?.Leadership === "leader") return i + 1;
      }
      return undefined;
    }, { timeoutMs: 15_000, intervalMs: 50 }).then((n) => n - 1);
  await leader();
  const joinToken = (await request(`${urls[0]}/tokens/join`)).body.Token;
  return {
    urls,
    processes,
    leader,
    joinToken,
    adminToken: first.adminToken,
    caPath: `${dir}/m0/ca.pem`,
    async restart(i) {
      await processes[i].kill();
      processes[i] = spawnCube(args(i));
      await waitForHealth(urls[i], processes[i]);
    },
    async [Symbol.asyncDispose]() {
      for (const p of processes) await p[Symbol.asyncDispose]();
      for (const t of trusted) t[Symbol.dispose]();
    },
  };
}

export async function running(url: string, id: string): Promise<Task> {
  return await waitFor(`task ${id} Running`, async () => {
    const { body } = await request(`${url}/tasks/${id}`);
    return body.State === State.Running ? body : undefined;
  }, { timeoutMs: 20_000 });
}

/**
 * Workers named `names`, each knowing every manager (`first` listed first, when given),
 * joined and ready. Disposing closes them and removes their containers.
 */
export async function joinWorkers(
  managers: Managers,
  dir: string,
  names: string[],
  first?: string,
): Promise<AsyncDisposable & { workers: StartedWorker[] }> {
  const list = first ? [first, ...managers.urls.filter((u) => u !== first)] : managers.urls;
  const workers: StartedWorker[] = [];
  const dispose = async () => {
    for (const worker of workers) await worker.close();
    for (const name of names) await removeContainersOf(name);
  };
  try {
    for (const name of names) {
      workers.push(
        await startWorker(
          testWorkerSettings(name, dir, { manager: list.join(","), joinToken: managers.joinToken }),
        ),
      );
    }
    await waitFor(`${names.length} workers to join`, async () => {
      const nodes: { Name: string; Status: string }[] = (await request(`${list[0]}/nodes`)).body;
      return names.every((name) => nodes.some((n) => n.Name === name && n.Status === "ready"));
    });
  } catch (error) {
    await dispose();
    throw error;
  }
  return { workers, [Symbol.asyncDispose]: dispose };
}
