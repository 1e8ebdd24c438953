/**
 * A whole cluster inside one seeded simulation: the real `Manager` and its Hono app,
 * simulated workers made of the worker's own app, records and manager link over a
 * `SimNode`, a simulated network and a simulated clock. The fault methods are what the
 * schedule (`schedule.ts`) draws from; `Checker` watches every change.
 *
 * @module
 */

import { createManagerApp, Manager } from "../manager/mod.ts";
import { createScheduler } from "../scheduler/mod.ts";
import { SimNode } from "../sim/sim_node.ts";
import { MemoryDatabase, type Store } from "../store/mod.ts";
import type { Task } from "../task/mod.ts";
import { FaultyDatabase } from "../testing/faulty_database.ts";
import { createWorkerApp } from "../worker/app.ts";
import { ManagerLink } from "../worker/manager_link.ts";
import type { SimClock } from "./clock.ts";
import type { SimNetwork } from "./network.ts";
import type { Random } from "./random.ts";

export const MANAGER = "manager";

/** The manager's timings in the simulation: the defaults, so what is proven is what ships. */
export const TIMINGS = {
  heartbeatIntervalMs: 1_000,
  nodeTimeoutMs: 5_000,
  syncIntervalMs: 10_000,
  restartBackoffMs: 250,
  maxBackoffMs: 30_000,
  workerTimeoutMs: 5_000,
};

interface SimWorker {
  name: string;
  store: Store<Task>;
  node: SimNode | null;
  link: ManagerLink | null;
}

export interface SimClusterOptions {
  clock: SimClock;
  network: SimNetwork;
  random: Random;
  nodes: number;
  scheduler?: string;
  /** Manager options beyond the timings (retention, restart window). */
  manager?: Partial<ConstructorParameters<typeof Manager>[0]>;
  onManager?: (manager: Manager) => void;
  log?: (line: string) => void;
}

export class SimCluster {
  readonly db = new MemoryDatabase();
  readonly workers = new Map<string, SimWorker>();
  manager: Manager | null = null;
  #store: FaultyDatabase | null = null;
  #storeFailsUntil = 0;
  readonly #closing: Promise<unknown>[] = [];
  readonly #opts: SimClusterOptions;
  readonly #log: (line: string) => void;

  constructor(options: SimClusterOptions) {
    this.#opts = options;
    this.#log = options.log ?? (() => {});
    for (let i = 1; i <= options.nodes; i++) {
      const name = `node-${i}`;
      this.workers.set(name, {
        name,
        store: new MemoryDatabase().store<Task>("tasks"),
        node: null,
        link: null,
      });
    }
  }

  get clock(): SimClock {
    return this.#opts.clock;
  }

  async start(): Promise<void> {
    await this.startManager();
    for (const name of this.workers.keys()) await this.startWorker(name);
  }

  // --- the manager ------------------------------------------------------------------------

  async startManager(): Promise<void> {
    if (this.manager) return;
    // Each life of the manager gets its own handle on the one store: a crashed manager's
    // late writes fail, as a dead process's would.
    const store = new FaultyDatabase(this.db);
    if (this.#storeFailsUntil > this.clock.now()) store.failing = "simulated store failure";
    this.#store = store;
    const manager = new Manager({
      ...TIMINGS,
      ...this.#opts.manager,
      db: store,
      scheduler: createScheduler(this.#opts.scheduler ?? "epvm"),
      clock: this.clock,
      transport: this.#opts.network.transport(MANAGER),
      log: (m) => this.#log(`manager: ${m}`),
    });
    this.#opts.onManager?.(manager);
    await manager.start();
    this.manager = manager;
    this.#opts.network.attach(MANAGER, createManagerApp({ manager }));
  }

  crashManager(): void {
    const manager = this.manager;
    if (!manager) return;
    this.#opts.network.attach(MANAGER, null);
    this.#store!.failing = "the manager crashed";
    this.manager = null;
    this.#closing.push(manager.close());
  }

  /**
   * Another manager takes over (several managers on etcd) while this one runs on, unaware,
   * for `deposedMs`, as a leader paused past its lease does when it resumes: its writes
   * are refused (the fence), its calls to workers still go out; then it steps down.
   */
  async failOver(deposedMs: number): Promise<void> {
    const deposed = this.manager;
    if (!deposed) return await this.startManager();
    this.#store!.failing = "fenced: another manager leads now";
    this.manager = null;
    await this.startManager();
    this.#closing.push(this.clock.sleep(deposedMs).then(() => deposed.close()));
  }

  /** The store fails every write for `ms`. */
  failStore(ms: number): void {
    this.#storeFailsUntil = Math.max(this.#storeFailsUntil, this.clock.now() + ms);
    if (this.#store && this.manager) this.#store.failing = "simulated store failure";
  }

  /** Ends a store failure whose time is up. */
  tickStore(): void {
    if (this.#store && this.manager && this.#storeFailsUntil <= this.clock.now()) {
      this.#store.failing = null;
    }
  }

  healStore(): void {
    this.#storeFailsUntil = 0;
    this.tickStore();
  }

  // --- the workers ------------------------------------------------------------------------

  async startWorker(name: string): Promise<void> {
    const worker = this.workers.get(name)!;
    if (worker.node) return;
    const node = new SimNode({
      name,
      store: worker.store,
      clock: this.clock,
      startDelayMs: 50,
      taskRetentionMs: this.#opts.manager?.taskRetentionMs,
      containerId: () => (this.#opts.random.uuid() + this.#opts.random.uuid()).replaceAll("-", ""),
    });
    const link = new ManagerLink({
      managerUrl: `http://${MANAGER}`,
      advertiseUrl: `http://${name}`,
      worker: node,
      heartbeatIntervalMs: TIMINGS.heartbeatIntervalMs,
      clock: this.clock,
      transport: this.#opts.network.transport(name),
      log: (m) => this.#log(`${name}: ${m}`),
    });
    node.onChange = (task) => link.report(task);
    await node.recover();
    worker.node = node;
    worker.link = link;
    this.#opts.network.attach(name, createWorkerApp({ worker: node }));
    link.start();
  }

  /** The worker process dies; its records (its KV file) and its "containers" stay. */
  crashWorker(name: string): void {
    const worker = this.workers.get(name)!;
    if (!worker.node) return;
    this.#opts.network.attach(name, null);
    worker.node.close();
    this.#closing.push(worker.link!.close());
    worker.node = null;
    worker.link = null;
  }

  alive(): SimNode[] {
    return [...this.workers.values()].flatMap((w) => w.node ? [w.node] : []);
  }

  /** Heals every fault: restarts what is down, ends partitions and store failures. */
  async heal(): Promise<void> {
    this.#opts.network.healAll();
    this.healStore();
    await this.startManager();
    for (const name of this.workers.keys()) await this.startWorker(name);
  }

  async close(): Promise<void> {
    this.crashManager();
    for (const name of this.workers.keys()) this.crashWorker(name);
    const closing = Promise.all(this.#closing);
    // Closing waits for simulated sleeps to be cut short: keep time moving meanwhile.
    let done = false;
    closing.finally(() => done = true);
    for (let i = 0; i < 1000 && !done; i++) await this.clock.run(1_000);
    await closing;
  }
}
