/**
 * Runs tasks as Docker containers through the Engine API (npm `dockerode`, which honours
 * `DOCKER_HOST`). Every call carries its own abort signal: dockerode's client-wide
 * timeout would also cut the long-lived `wait`, `logs` and `events` streams.
 *
 * @module
 */

// Only its types here: dockerode (and what it pulls in, some 14 MiB) is loaded by `open`,
// so a manager, which never talks to Docker, does not carry it.
import type Docker from "dockerode";
import { CubeError, errorMessage } from "../lib/errors.ts";
import type { PortBinding, Task } from "../task/mod.ts";
import { demultiplex } from "./docker_logs.ts";

export const LABEL_TASK_ID = "cube.task.id";
export const LABEL_TASK_NAME = "cube.task.name";
export const LABEL_WORKER = "cube.worker";

/**
 * `auto` (the default, Kubernetes' rule): pull when the image is absent, or when its tag
 * is `latest` or missing; `always`: pull, and fall back to a local copy when the pull
 * fails; `missing`: pull only when absent; `never`: local only.
 */
export type PullPolicy = "auto" | "always" | "missing" | "never";

/** How long an image inspected is taken as present, with what it exposes, in ms. */
const IMAGE_CACHE_MS = 10_000;
export const PULL_POLICIES: readonly PullPolicy[] = ["auto", "always", "missing", "never"];

/** Whether an image reference names the `latest` tag, said or implied (no tag, no digest). */
export function isLatest(image: string): boolean {
  if (image.includes("@")) return false;
  const name = image.slice(image.lastIndexOf("/") + 1);
  const colon = name.lastIndexOf(":");
  return colon === -1 || name.slice(colon + 1) === "latest";
}

export interface DockerRuntimeOptions {
  /** A dockerode client; `DockerRuntime.open` builds one from `DOCKER_HOST` or the local socket. */
  docker?: Docker;
  /** The host address container ports are published on (`127.0.0.1` keeps them local). */
  publishIp?: string;
  pullPolicy?: PullPolicy;
  /** Time limit of short Engine API calls, in milliseconds. */
  callTimeoutMs?: number;
  /** Time limit of an image pull, in milliseconds. */
  pullTimeoutMs?: number;
}

export interface StartedContainer {
  containerId: string;
  name: string;
  hostPorts: Record<string, PortBinding[]>;
  startTime: string;
  /** Things the user should know but that did not stop the start (a failed pull). */
  warnings: string[];
}

export interface ContainerState {
  id: string;
  name: string;
  taskId: string;
  worker: string;
  running: boolean;
  exitCode: number;
  oomKilled: boolean;
  startedAt: string;
  finishedAt: string;
  hostPorts: Record<string, PortBinding[]>;
}

export interface ContainerEvent {
  containerId: string;
  taskId: string;
  action: string;
}

interface DockerError extends Error {
  statusCode?: number;
  json?: { message?: string };
}

function statusOf(error: unknown): number | undefined {
  return (error as DockerError)?.statusCode;
}

/** The Engine's own message when it gave one, else the client's. */
function dockerMessage(error: unknown): string {
  const e = error as DockerError;
  return (e?.json?.message ?? errorMessage(error)).trim();
}

/** Settles with `promise`, or rejects after `ms` (for calls that take no abort signal). */
async function withDeadline<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`Docker did not answer within ${ms} ms ${what}`)),
      ms,
    );
  });
  try {
    return await Promise.race([promise, deadline]);
  } finally {
    clearTimeout(timer);
  }
}

function containerName(task: Task): string {
  const slug = task.Name.toLowerCase().replace(/[^a-z0-9_.-]+/g, "-").replace(/^[-_.]+/, "")
    .slice(0, 40);
  // A random suffix: workers sharing one engine may each hold a copy of the same task
  // for a moment (a node lost and found again), and their names must not collide.
  const suffix = crypto.randomUUID().slice(0, 4);
  return `cube-${slug ? slug + "-" : ""}${task.ID.slice(0, 8)}-${suffix}`;
}

function dockerPortMap(ports: unknown): Record<string, PortBinding[]> {
  const out: Record<string, PortBinding[]> = {};
  for (const [port, bindings] of Object.entries((ports ?? {}) as Record<string, unknown>)) {
    if (Array.isArray(bindings)) {
      out[port] = bindings.map((b) => ({ HostIp: String(b.HostIp), HostPort: String(b.HostPort) }));
    }
  }
  return out;
}

function parseBinding(spec: string, publishIp: string): PortBinding {
  const at = spec.lastIndexOf(":");
  return at === -1
    ? { HostIp: publishIp, HostPort: spec }
    : { HostIp: spec.slice(0, at), HostPort: spec.slice(at + 1) };
}

export class DockerRuntime {
  readonly docker: Docker;
  /** Told how long each phase of a start took, in seconds (the worker's metrics). */
  onPhase: ((phase: "image" | "create" | "start", seconds: number) => void) | null = null;
  /** Told of every container stopped (the worker's metrics). */
  onStopped: (() => void) | null = null;
  readonly publishIp: string;
  readonly pullPolicy: PullPolicy;
  readonly #callTimeoutMs: number;
  readonly #pullTimeoutMs: number;

  /** A runtime on `options.docker`, or on a client built from `DOCKER_HOST` or the local socket. */
  static async open(options: DockerRuntimeOptions = {}): Promise<DockerRuntime> {
    const docker = options.docker ?? new (await import("dockerode")).default();
    return new DockerRuntime({ ...options, docker });
  }

  constructor(options: DockerRuntimeOptions & { docker: Docker }) {
    this.docker = options.docker;
    this.publishIp = options.publishIp ?? "0.0.0.0";
    this.pullPolicy = options.pullPolicy ?? "auto";
    this.#callTimeoutMs = options.callTimeoutMs ?? 30_000;
    this.#pullTimeoutMs = options.pullTimeoutMs ?? 300_000;
  }

  #signal(ms = this.#callTimeoutMs): AbortSignal {
    return AbortSignal.timeout(ms);
  }

  /** Answers when the engine answers; throws a message that says where it looked. */
  async ping(): Promise<void> {
    try {
      // dockerode's ping honours abortSignal; its type declaration lags behind.
      await (this.docker.ping as (o: { abortSignal: AbortSignal }) => Promise<unknown>)({
        abortSignal: this.#signal(5_000),
      });
    } catch (error) {
      const where = Deno.env.get("DOCKER_HOST") ?? "/var/run/docker.sock";
      throw new CubeError(
        503,
        `Docker engine at ${where} does not answer: ${dockerMessage(error)}`,
      );
    }
  }

  /** Image inspect takes no abort signal in dockerode (options become query parameters). */
  /**
   * Images seen lately, with what they expose: a burst of starts of one image asks the
   * engine once, not once per start (the engine's time is what a burst waits on). A
   * pull forgets the image; one removed meanwhile makes the create fail, clearly.
   */
  readonly #images = new Map<string, { at: number; info: Promise<Docker.ImageInspectInfo> }>();

  #inspectImage(image: string): Promise<Docker.ImageInspectInfo> {
    const seen = this.#images.get(image);
    if (seen && performance.now() - seen.at < IMAGE_CACHE_MS) return seen.info;
    const info = withDeadline(
      this.docker.getImage(image).inspect(),
      this.#callTimeoutMs,
      `inspecting image "${image}"`,
    );
    this.#images.set(image, { at: performance.now(), info });
    info.catch(() => this.#images.delete(image));
    if (this.#images.size > 256) this.#images.delete(this.#images.keys().next().value!);
    return info;
  }

  async #hasImage(image: string): Promise<boolean> {
    try {
      await this.#inspectImage(image);
      return true;
    } catch (error) {
      if (statusOf(error) === 404) return false;
      throw error;
    }
  }

  /** Pulls in flight, by image: starts of one image at once share one pull. */
  readonly #pulls = new Map<string, Promise<void>>();

  #pull(image: string): Promise<void> {
    let pull = this.#pulls.get(image);
    if (!pull) {
      pull = this.#pullOnce(image).finally(() => {
        this.#pulls.delete(image);
        this.#images.delete(image);
      });
      this.#pulls.set(image, pull);
    }
    return pull;
  }

  async #pullOnce(image: string): Promise<void> {
    const signal = this.#signal(this.#pullTimeoutMs);
    const stream = await this.docker.pull(image, { abortSignal: signal });
    // followProgress reports success even when the last event is an error: check them.
    const events = await new Promise<Array<{ error?: string; errorDetail?: { message?: string } }>>(
      (resolve, reject) =>
        this.docker.modem.followProgress(stream, (err, out) => err ? reject(err) : resolve(out)),
    );
    const failed = events.find((e) => e.error || e.errorDetail);
    if (failed) throw new Error(failed.errorDetail?.message ?? failed.error);
  }

  /**
   * Makes sure `task.Image` is present per the pull policy. Returns a warning when a
   * failed pull fell back to the local copy; throws when there is no image to run.
   */
  async ensureImage(
    task: Task,
    progress: (message: string) => void = () => {},
  ): Promise<string | null> {
    const image = task.Image;
    const policy = this.pullPolicy === "auto"
      ? (isLatest(image) ? "always" : "missing")
      : this.pullPolicy;
    if (policy === "never" || (policy === "missing" && await this.#hasImage(image))) {
      if (policy === "never" && !await this.#hasImage(image)) {
        throw new CubeError(
          422,
          `Cannot start task "${
            task.Name || task.ID
          }": image "${image}" not found locally and the pull policy is "never"`,
        );
      }
      return null;
    }
    try {
      progress(`pulling image "${image}"`);
      await this.#pull(image);
      return null;
    } catch (error) {
      if (await this.#hasImage(image)) {
        return `pull of image "${image}" failed (${dockerMessage(error)}); using the local copy`;
      }
      throw new CubeError(
        422,
        `Cannot start task "${
          task.Name || task.ID
        }": image "${image}" not found locally and the pull failed: ${dockerMessage(error)}`,
      );
    }
  }

  /**
   * Creates and starts the task's container, labelled as this worker's, then inspects it.
   * `progress` hears what a user waiting for the start wants to know (a pull begins).
   * `slot` holds the engine's part, the image check or pull, the create and the start, so a
   * worker bounds how many of those run at once; the inspect after the start does not need
   * one (holding it there kept the next start waiting).
   */
  async start(
    task: Task,
    worker: string,
    progress: (message: string) => void = () => {},
    slot: <T>(job: () => Promise<T>) => Promise<T> = (job) => job(),
  ): Promise<StartedContainer> {
    const { container, name, warning } = await slot(() =>
      this.#createAndStart(task, worker, progress)
    );
    const state = await this.inspect(container.id);
    return {
      containerId: container.id,
      name,
      hostPorts: state?.hostPorts ?? {},
      startTime: state?.startedAt ?? new Date().toISOString(),
      warnings: warning ? [warning] : [],
    };
  }

  async #createAndStart(
    task: Task,
    worker: string,
    progress: (message: string) => void,
  ): Promise<{ container: Docker.Container; name: string; warning: string | null }> {
    let since = performance.now();
    const phase = (name: "image" | "create" | "start") => {
      const now = performance.now();
      this.onPhase?.(name, (now - since) / 1000);
      since = now;
    };
    const warning = await this.ensureImage(task, progress);
    phase("image");
    const bindings: Record<string, PortBinding[]> = {};
    for (const port of Object.keys(task.ExposedPorts)) {
      bindings[port] = [{ HostIp: this.publishIp, HostPort: "" }];
    }
    for (const [port, spec] of Object.entries(task.PortBindings)) {
      bindings[port] = [parseBinding(spec, this.publishIp)];
    }
    if (Object.keys(bindings).length === 0) {
      // Like `docker run -P`: publish what the image exposes, so health checks and users
      // can reach a task that did not list its ports.
      const info = await this.#inspectImage(task.Image);
      for (const port of Object.keys(info.Config?.ExposedPorts ?? {})) {
        bindings[port] = [{ HostIp: this.publishIp, HostPort: "" }];
      }
    }
    const name = containerName(task);
    let container: Docker.Container;
    try {
      container = await this.docker.createContainer({
        name,
        Image: task.Image,
        Env: task.Env,
        Cmd: task.Cmd.length > 0 ? task.Cmd : undefined,
        Labels: {
          [LABEL_TASK_ID]: task.ID,
          [LABEL_TASK_NAME]: task.Name,
          [LABEL_WORKER]: worker,
        },
        ExposedPorts: Object.fromEntries(Object.keys(bindings).map((p) => [p, {}])),
        HostConfig: {
          PortBindings: bindings,
          Memory: task.Memory > 0 ? task.Memory : undefined,
          NanoCpus: task.Cpu > 0 ? Math.round(task.Cpu * 1e9) : undefined,
          // cube restarts tasks itself (and may move them): Docker must not.
          RestartPolicy: { Name: "no" },
        },
        abortSignal: this.#signal(),
      });
    } catch (error) {
      throw new CubeError(
        422,
        `Cannot create a container for task "${task.Name || task.ID}": ${dockerMessage(error)}`,
      );
    }
    phase("create");
    try {
      await container.start({ abortSignal: this.#signal() });
      phase("start");
    } catch (error) {
      await this.remove(container.id);
      throw new CubeError(
        422,
        `Cannot start task "${task.Name || task.ID}": ${dockerMessage(error)}`,
      );
    }
    return { container, name, warning };
  }

  /** The container's state, or null when it no longer exists. */
  async inspect(containerId: string): Promise<ContainerState | null> {
    try {
      const info = await this.docker.getContainer(containerId).inspect({
        abortSignal: this.#signal(),
      });
      return {
        id: info.Id,
        name: info.Name.replace(/^\//, ""),
        taskId: info.Config.Labels?.[LABEL_TASK_ID] ?? "",
        worker: info.Config.Labels?.[LABEL_WORKER] ?? "",
        running: info.State.Running,
        exitCode: info.State.ExitCode,
        oomKilled: info.State.OOMKilled,
        startedAt: info.State.StartedAt,
        finishedAt: info.State.FinishedAt,
        hostPorts: dockerPortMap(info.NetworkSettings?.Ports),
      };
    } catch (error) {
      if (statusOf(error) === 404) return null;
      throw error;
    }
  }

  /** Stops with a grace period, then removes. A container already gone is not an error. */
  async stop(containerId: string, graceSeconds: number): Promise<void> {
    try {
      await this.docker.getContainer(containerId).stop({
        t: graceSeconds,
        abortSignal: this.#signal(this.#callTimeoutMs + graceSeconds * 1000),
      });
    } catch (error) {
      const status = statusOf(error);
      if (status !== 304 && status !== 404) throw error;
    }
    await this.remove(containerId);
    this.onStopped?.();
  }

  async remove(containerId: string): Promise<void> {
    try {
      await this.docker.getContainer(containerId).remove({
        force: true,
        abortSignal: this.#signal(),
      });
    } catch (error) {
      const status = statusOf(error);
      // 404: already gone; 409: Docker is already removing it.
      if (status !== 404 && status !== 409) throw error;
    }
  }

  /** Every container (running or not) labelled as belonging to `worker`. */
  async list(
    worker: string,
    taskId?: string,
  ): Promise<{ id: string; taskId: string; running: boolean }[]> {
    const labels = [`${LABEL_WORKER}=${worker}`];
    if (taskId) labels.push(`${LABEL_TASK_ID}=${taskId}`);
    const containers = await this.docker.listContainers({
      all: true,
      filters: { label: labels },
      abortSignal: this.#signal(),
    });
    return containers.map((c) => ({
      id: c.Id,
      taskId: c.Labels?.[LABEL_TASK_ID] ?? "",
      running: c.State === "running",
    }));
  }

  /**
   * The container's stdout and stderr as plain bytes: the last `tail` lines, then (with
   * `follow`) everything it prints until `signal` aborts or the container is gone.
   */
  async logs(
    containerId: string,
    options: { follow: boolean; tail?: number; signal: AbortSignal },
  ): Promise<ReadableStream<Uint8Array>> {
    const container = this.docker.getContainer(containerId);
    const common = {
      stdout: true,
      stderr: true,
      tail: options.tail,
      abortSignal: options.signal,
    };
    let source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>;
    try {
      source = options.follow
        ? await container.logs({ ...common, follow: true }) as unknown as AsyncIterable<Uint8Array>
        : [new Uint8Array(await container.logs({ ...common, follow: false }))];
    } catch (error) {
      if (statusOf(error) === 404) {
        throw new CubeError(
          404,
          `Container ${containerId.slice(0, 12)} no longer exists: its logs are gone`,
        );
      }
      throw error;
    }
    const frames = demultiplex(source);
    return new ReadableStream<Uint8Array>({
      async pull(controller) {
        try {
          const { value, done } = await frames.next();
          if (done) controller.close();
          else controller.enqueue(value);
        } catch {
          controller.close(); // aborted or the container went away: the log simply ends
        }
      },
      async cancel() {
        await frames.return(undefined);
      },
    });
  }

  /**
   * Docker's event stream for `worker`'s containers, until `signal` aborts or the stream
   * ends (the caller reconnects; a poll covers the gap).
   */
  async *events(worker: string, signal: AbortSignal): AsyncGenerator<ContainerEvent> {
    const opening = this.docker.getEvents({
      filters: { type: ["container"], label: [`${LABEL_WORKER}=${worker}`] },
      abortSignal: signal,
    }) as unknown as Promise<AsyncIterable<Uint8Array> & { destroy?: () => void }>;
    // dockerode never settles a getEvents aborted before the engine answered (a worker
    // closed right after it started hung on it): the signal ends the wait itself.
    const stream = await new Promise<AsyncIterable<Uint8Array>>((resolve, reject) => {
      const abandon = () => {
        reject(signal.reason);
        opening.then((late) => late.destroy?.(), () => {});
      };
      if (signal.aborted) return abandon();
      signal.addEventListener("abort", abandon, { once: true });
      opening.then(
        (opened) => {
          signal.removeEventListener("abort", abandon);
          resolve(opened);
        },
        (error) => {
          signal.removeEventListener("abort", abandon);
          reject(error);
        },
      );
    }).catch((error) => {
      if (signal.aborted) return null;
      throw error;
    });
    if (!stream) return;
    const decoder = new TextDecoder();
    let buffer = "";
    try {
      for await (const chunk of stream) {
        buffer += typeof chunk === "string" ? chunk : decoder.decode(chunk, { stream: true });
        let newline: number;
        while ((newline = buffer.indexOf("\n")) !== -1) {
          const line = buffer.slice(0, newline).trim();
          buffer = buffer.slice(newline + 1);
          if (!line) continue;
          const event = JSON.parse(line);
          yield {
            containerId: event.Actor?.ID ?? event.id,
            taskId: event.Actor?.Attributes?.[LABEL_TASK_ID] ?? "",
            action: String(event.Action ?? event.status),
          };
        }
      }
    } catch (error) {
      if (!signal.aborted) throw error;
    }
  }
}
