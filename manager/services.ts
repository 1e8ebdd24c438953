/**
 * Services: the manager keeps `Replicas` live copies of each service's task, named by
 * slot (`web.1`, `web.2`, …). A reconcile pass (after every change of a service, and on
 * a short tick) counts each service's live replicas and creates or stops the difference:
 *
 * - a replica is live while it is wanted and Pending, Scheduled or Running, or finished
 *   with a restart still to come; one that used up its restarts is replaced (elsewhere
 *   when it could not start on its node: the dispatcher avoids that node);
 * - surplus replicas are stopped, the ones not yet running and the highest slots first;
 * - a node that is down has its replicas placed again by the manager, as any task's, so
 *   a brief disconnect (shorter than the node timeout) replaces nothing, and when the node
 *   returns the copies it still runs are stopped.
 *
 * Replacements of a service whose replicas keep failing back off (1 s, doubling, at most
 * 30 s), so a broken image does not spin.
 *
 * @module
 */

import { settledOrThrow } from "../lib/async.ts";
import { isoNow } from "../lib/clock.ts";
import { CubeError } from "../lib/errors.ts";
import { WakeLoop } from "../lib/wake_loop.ts";
import type { Store } from "../store/mod.ts";
import {
  isTerminal,
  newTask,
  replicaName,
  restartDecision,
  type Service,
  type ServiceDetail,
  type ServiceSpec,
  type ServiceView,
  slotOf,
  State,
  type Task,
} from "../task/mod.ts";
import type { Manager } from "./manager.ts";
import { drainStep, nextStep } from "./rollout.ts";

const TICK_MS = 500;
const MAX_BACKOFF_MS = 30_000;

export class Services {
  readonly #services = new Map<string, Service>();
  /** Per service: replacements after failures in a row, and when the next may be made. */
  readonly #backoff = new Map<string, { failures: number; until: number }>();
  /** Per service: when the current update's last batch began. */
  readonly #batchAt = new Map<string, number>();
  readonly #closing = new AbortController();
  readonly #ticks: WakeLoop;
  #loop: Promise<void> | null = null;

  constructor(
    private readonly manager: Manager,
    private readonly store: Store<Service>,
    private readonly log: (message: string) => void,
  ) {
    this.#ticks = new WakeLoop(manager.clock, TICK_MS);
  }

  async start(): Promise<void> {
    for (const { value } of await this.store.list()) this.#services.set(value.Name, value);
    this.#loop = this.#ticks.run(
      this.#closing.signal,
      () => this.reconcile(),
      (message) => this.log(`reconciling services failed: ${message}`),
    );
  }

  async close(): Promise<void> {
    this.#closing.abort();
    this.#ticks.wake();
    await this.#loop;
  }

  get size(): number {
    return this.#services.size;
  }

  /** The label a service spreads its replicas over ("" for nodes). */
  spreadLabel(name: string): string {
    return this.#services.get(name)?.Spec.Placement.Spread ?? "";
  }

  /** Reconciles soon (after an API change, or a change of one of its tasks). */
  wake(): void {
    this.#ticks.wake();
  }

  list(): ServiceView[] {
    const tasks = this.#bucket();
    return [...this.#services.values()].map((s) => this.#view(s, tasks.get(s.Name) ?? []));
  }

  get(name: string): ServiceDetail {
    const service = this.#require(name);
    const tasks = this.#bucket().get(name) ?? [];
    const all = this.manager.tasks.list().filter((t) => t.Service === name);
    return { ...this.#view(service, tasks), Tasks: all };
  }

  async create(spec: ServiceSpec): Promise<ServiceView> {
    if (this.#services.has(spec.Name)) {
      throw new CubeError(
        409,
        `Service ${spec.Name} exists already: change it with PUT /services/${spec.Name}`,
      );
    }
    const now = isoNow(this.manager.clock);
    const service: Service = {
      Name: spec.Name,
      Spec: spec,
      Version: 1,
      PreviousSpec: null,
      CreateTime: now,
      UpdateTime: now,
      UpdateStatus: { State: "", Message: "" },
    };
    const stored = await this.manager.guard.run(
      `save service ${spec.Name}`,
      () => this.store.putIf(spec.Name, service, null),
    );
    if (stored === null) throw new CubeError(409, `Service ${spec.Name} exists already`);
    this.#services.set(spec.Name, service);
    this.#event(
      spec.Name,
      "created",
      `service ${spec.Name} created: ${spec.Replicas} replicas of ${spec.Task.Image}`,
    );
    this.wake();
    return this.#view(service, []);
  }

  async scale(name: string, replicas: number): Promise<ServiceView> {
    const service = this.#require(name);
    const scaled: Service = {
      ...service,
      Spec: { ...service.Spec, Replicas: replicas },
      UpdateTime: isoNow(this.manager.clock),
    };
    await this.#save(scaled);
    this.#event(
      name,
      "scaled",
      `service ${name} scaled from ${service.Spec.Replicas} to ${replicas}`,
    );
    this.wake();
    return this.#view(scaled, this.#bucket().get(name) ?? []);
  }

  /**
   * A new spec. A change of the replica count alone scales; any other change makes a new
   * version and starts a rolling update to it.
   */
  async update(name: string, spec: ServiceSpec): Promise<ServiceView> {
    const service = this.#require(name);
    if (spec.Name !== name) {
      throw new CubeError(
        400,
        `Invalid service: Name: "${spec.Name}" is not "${name}" (a service keeps its name)`,
      );
    }
    const same = (a: ServiceSpec, b: ServiceSpec) =>
      JSON.stringify({ ...a, Replicas: 0 }) === JSON.stringify({ ...b, Replicas: 0 });
    if (same(spec, service.Spec)) return await this.scale(name, spec.Replicas);
    return await this.#newVersion(
      service,
      spec,
      service.Spec,
      "updating",
      `updating to version ${service.Version + 1}`,
    );
  }

  /** Back to the spec before the last change, as a rolling update. */
  async rollback(name: string, why = "rollback requested"): Promise<ServiceView> {
    const service = this.#require(name);
    if (!service.PreviousSpec) {
      throw new CubeError(409, `Service ${name} has no previous version to roll back to`);
    }
    return await this.#newVersion(
      service,
      { ...service.PreviousSpec, Replicas: service.Spec.Replicas },
      service.Spec,
      "rolling back",
      why,
    );
  }

  /** Replaces every replica in batches, with the same spec (a rolling restart). */
  async restart(name: string): Promise<ServiceView> {
    const service = this.#require(name);
    return await this.#newVersion(
      service,
      service.Spec,
      service.PreviousSpec,
      "updating",
      `restarting: every replica replaced by version ${service.Version + 1}`,
    );
  }

  async #newVersion(
    service: Service,
    spec: ServiceSpec,
    previous: ServiceSpec | null,
    state: "updating" | "rolling back",
    message: string,
  ): Promise<ServiceView> {
    const next: Service = {
      ...service,
      Spec: spec,
      PreviousSpec: previous,
      Version: service.Version + 1,
      UpdateTime: isoNow(this.manager.clock),
      UpdateStatus: { State: state, Message: message },
    };
    await this.#save(next);
    this.#batchAt.delete(service.Name);
    this.#event(service.Name, state, `service ${service.Name}: ${message}`);
    this.wake();
    return this.#view(next, this.#bucket().get(service.Name) ?? []);
  }

  /** The update is over, or cannot go on. */
  async #settle(service: Service, failed?: string): Promise<void> {
    const rollingBack = service.UpdateStatus.State === "rolling back";
    if (
      failed && !rollingBack && service.Spec.UpdateConfig.FailureAction === "rollback" &&
      service.PreviousSpec
    ) {
      await this.rollback(
        service.Name,
        `update to version ${service.Version} failed: ${failed}`,
      );
      return;
    }
    const status = failed
      ? {
        State: "paused" as const,
        Message: `${
          rollingBack ? "rollback" : "update"
        } to version ${service.Version} paused: ${failed}`,
      }
      : rollingBack
      ? {
        State: "rolled back" as const,
        Message: `rolled back to version ${service.Version}: ${service.UpdateStatus.Message}`,
      }
      : { State: "completed" as const, Message: `update to version ${service.Version} completed` };
    await this.#save({ ...service, UpdateStatus: status, UpdateTime: isoNow(this.manager.clock) });
    this.#batchAt.delete(service.Name);
    this.#event(service.Name, status.State, `service ${service.Name}: ${status.Message}`);
  }

  /** One step of a service's rolling update; `failed`: its failed replicas still wanted. */
  async #roll(service: Service, live: Task[], failed: Task[], now: number): Promise<void> {
    const failures = failed.filter((t) => t.Version === service.Version);
    const step = nextStep(service, live, failures, now, this.#batchAt.get(service.Name) ?? 0);
    if (step.failed || step.done) return await this.#settle(service, step.failed);
    if (
      step.start.length > 0 ||
      (step.stop.length > 0 && service.Spec.UpdateConfig.Order === "stop-first")
    ) {
      this.#batchAt.set(service.Name, now);
    }
    const reason = `stopped: replaced by version ${service.Version} of service ${service.Name}`;
    await settledOrThrow([
      ...step.stop.map((t) => this.manager.stop(t.ID, reason)),
      this.#submit(service, step.start),
    ]);
  }

  /** Removes a service and stops all its tasks. */
  async remove(name: string): Promise<void> {
    this.#require(name);
    await this.manager.guard.run(`remove service ${name}`, () => this.store.delete(name));
    this.#services.delete(name);
    this.#backoff.delete(name);
    const live = this.manager.tasks.list().filter((t) =>
      t.Service === name && !isTerminal(t.State)
    );
    await settledOrThrow(
      live.map((t) => this.manager.stop(t.ID, `stopped: service ${name} removed`)),
    );
    this.#event(name, "removed", `service ${name} removed`);
  }

  /** A service's change: in the log and in the event stream. */
  #event(name: string, action: string, message: string): void {
    this.log(message);
    this.manager.events.record({
      Type: "service",
      Action: action,
      Message: message,
      Name: name,
      Service: name,
    });
  }

  #require(name: string): Service {
    const service = this.#services.get(name);
    if (!service) throw new CubeError(404, `Service ${name} not found`);
    return service;
  }

  async #save(service: Service): Promise<void> {
    await this.manager.guard.run(
      `save service ${service.Name}`,
      () => this.store.put(service.Name, service),
    );
    this.#services.set(service.Name, service);
  }

  #draining(node: string): boolean {
    return this.manager.nodes.get(node)?.Availability === "drain";
  }

  /** Whether a replica counts towards its service: wanted, and running or about to. */
  #live(task: Task): boolean {
    if (this.manager.tasks.desired(task.ID) !== "run") return false;
    if (!isTerminal(task.State)) return true;
    return restartDecision(task, this.manager.restartWindowMs).restart;
  }

  /** Live replicas by service, one pass over the tasks. */
  #bucket(): Map<string, Task[]> {
    return new Map([...this.#replicas()].map(([name, r]) => [name, r.live]));
  }

  /**
   * Each service's live replicas, and its failed ones still wanted (with a restart to come
   * or not): what a reconcile pass needs, in one pass over the tasks.
   */
  #replicas(): Map<string, { live: Task[]; failed: Task[] }> {
    const byService = new Map<string, { live: Task[]; failed: Task[] }>();
    for (const task of this.manager.tasks.values()) {
      if (!task.Service || this.manager.tasks.desired(task.ID) !== "run") continue;
      const live = this.#live(task);
      if (!live && task.State !== State.Failed) continue;
      let replicas = byService.get(task.Service);
      if (!replicas) byService.set(task.Service, replicas = { live: [], failed: [] });
      if (live) replicas.live.push(task);
      if (task.State === State.Failed) replicas.failed.push(task);
    }
    return byService;
  }

  #view(service: Service, live: Task[]): ServiceView {
    return {
      ...service,
      Desired: service.Spec.Replicas,
      Live: live.length,
      Running: live.filter((t) => t.State === State.Running).length,
    };
  }

  /** One pass: every service gets its replica count right. */
  async reconcile(): Promise<void> {
    const replicas = this.#replicas();
    const now = this.manager.clock.now();
    const work: Promise<unknown>[] = [];
    for (const service of this.#services.values()) {
      const { live, failed } = replicas.get(service.Name) ?? { live: [], failed: [] };
      const state = service.UpdateStatus.State;
      const updating = state === "updating" || state === "rolling back";
      if (updating) {
        work.push(this.#roll(service, live, failed, now));
        // The next pass counts what this step did.
        if (this.#batchAt.get(service.Name) === now) continue;
      }
      const drain = drainStep(service, live, (node) => this.#draining(node));
      if (drain.stop.length || drain.start.length) {
        const reason = (t: Task) => `stopped: moved off node ${t.Node}, which is draining`;
        work.push(settledOrThrow([
          ...drain.stop.map((t) => this.manager.stop(t.ID, reason(t))),
          this.#submit(service, drain.start),
        ]));
      }
      const want = service.Spec.Replicas;
      // start-first and moves off draining nodes run up to Parallelism new replicas beside
      // old ones.
      const moving = live.some((t) => t.Node && this.#draining(t.Node));
      const most = moving || (updating && service.Spec.UpdateConfig.Order === "start-first")
        ? want + service.Spec.UpdateConfig.Parallelism
        : want;
      if (live.some((t) => t.State === State.Running)) this.#backoff.delete(service.Name);
      if (live.length < want) {
        const backoff = this.#backoff.get(service.Name);
        if (backoff && now < backoff.until) continue;
        if (this.#failedSince(live, failed)) {
          const failures = (backoff?.failures ?? 0) + 1;
          this.#backoff.set(service.Name, {
            failures,
            until: now + Math.min(MAX_BACKOFF_MS, 1_000 * 2 ** (failures - 1)),
          });
        }
        work.push(this.#add(service, live, want - live.length));
      } else if (live.length > most) {
        work.push(this.#trim(service, live, live.length - most));
      }
    }
    // Replicas of a removed service that `remove` did not see (stored as it ran) or could
    // not stop: nothing else would.
    for (const [name, { live }] of replicas) {
      if (this.#services.has(name)) continue;
      work.push(...live.map((t) => this.manager.stop(t.ID, `stopped: service ${name} removed`)));
    }
    await settledOrThrow(work);
  }

  /** Whether a replica gave up (failed, no restart to come) since its slot was last filled. */
  #failedSince(live: Task[], failed: Task[]): boolean {
    const slots = new Set(live.map(slotOf));
    return failed.some((task) => !this.#live(task) && !slots.has(slotOf(task)));
  }

  async #add(service: Service, live: Task[], count: number): Promise<void> {
    const taken = new Set(live.map(slotOf));
    const slots: number[] = [];
    for (let slot = 1; slots.length < count; slot++) if (!taken.has(slot)) slots.push(slot);
    await this.#submit(service, slots);
  }

  /** New replicas of the service's current version in `slots`. */
  async #submit(service: Service, slots: number[]): Promise<void> {
    const spec = service.Spec;
    // Each is stored when the dispatcher places it, in rounds that share the task book's
    // group commits: 10,000 replicas are a few dozen commits, not 10,000. Until then this
    // pass waits, so the next one counts them. A replica of a version removed or replaced
    // meanwhile is not stored at all.
    const wanted = () => this.#services.get(service.Name)?.Version === service.Version;
    await settledOrThrow(slots.map((slot) =>
      this.manager.submitReplica(
        newTask({
          ...structuredClone(spec.Task),
          Name: replicaName(service.Name, slot),
          Service: service.Name,
          Version: service.Version,
          Constraints: [...spec.Placement.Constraints],
        }),
        wanted,
      )
    ));
  }

  async #trim(service: Service, live: Task[], count: number): Promise<void> {
    // Not yet running first, then the highest slots.
    const order = [...live].sort((a, b) =>
      Number(a.State === State.Running) - Number(b.State === State.Running) ||
      slotOf(b) - slotOf(a)
    );
    await settledOrThrow(
      order.slice(0, count).map((t) =>
        this.manager.stop(
          t.ID,
          `stopped: service ${service.Name} scaled to ${service.Spec.Replicas}`,
        )
      ),
    );
  }
}
