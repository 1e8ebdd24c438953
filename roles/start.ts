/**
 * Wiring of the two roles: store + core + HTTP server, returned as one handle to close.
 * `cube manager`, `cube worker`, `cube dev`, the tests and the benchmarks all start
 * nodes through here (the CLI only parses flags into these settings).
 *
 * @module
 */

import { listen, type Listening } from "../http/serve.ts";
import { CubeError } from "../lib/errors.ts";
import { Manager } from "../manager/mod.ts";
import { staticApi } from "../manager/nodes.ts";
import { createScheduler } from "../scheduler/mod.ts";
import {
  caDigest,
  inviteWorker,
  joinCluster,
  loadIdentity,
  type NodeIdentity,
  parseJoinToken,
  type Role,
  saveIdentity,
} from "../security/mod.ts";
import { type Database, type EtcdDatabase, openDatabase } from "../store/mod.ts";
import { leadAlone, leadOnEtcd, type ManagerRole } from "./leading.ts";
import { createWorkerApp, DockerRuntime, type PullPolicy, Worker } from "../worker/mod.ts";
import { ManagerLink } from "../worker/manager_link.ts";
import { joinAny, joinWhenUp } from "./joining.ts";
import { certificateNames, isLoopback, openManagerSecrets, verifiedTransport } from "./secure.ts";
import { waitingToJoin } from "./waiting.ts";

export interface Running extends AsyncDisposable {
  url: string;
  close(): Promise<void>;
}

export interface ManagerSettings {
  host: string;
  port: number;
  /** The URL workers and clients reach it at (default: https://<host>:<port>). */
  advertise?: string;
  /** State directory: the store (unless `store` says otherwise), ca.pem, admin.token. */
  dir?: string;
  workers: string[];
  scheduler: string;
  /** E-PVM scores at most this many feasible nodes; 0 (the default) scores all. */
  scoreLimit?: number;
  /** Default: `<dir>/manager.kv`. */
  store?: string;
  heartbeatInterval: number;
  nodeTimeout: number;
  /** Joined nodes together heartbeat at most this often (default 250/s). */
  maxHeartbeatsPerSecond?: number;
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
  /** State directory: the store (unless `store` says otherwise) and the node identity. */
  dir?: string;
  store?: string;
  /** The worker join token (`cube token join` on the manager). */
  joinToken?: string;
  /** Serve the open (book's) API on an address other than loopback. */
  insecure?: boolean;
  /** Labels constraints can match (`--label zone=a`), sent with every heartbeat. */
  label?: Record<string, string>;
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

export interface StartedManager extends Running {
  /** The manager that runs the control loops here: while it leads, when there are several. */
  readonly manager: Manager;
  /** Whether this manager leads (always, when it is the only one). */
  leading(): boolean;
  /** The cluster CA certificate (PEM): what clients trust. */
  caPem: string;
  caPath: string;
  /** The admin token, when this start created it (the first one). */
  adminToken?: string;
  adminTokenPath: string;
  /** Where the store and the files are. */
  dir: string;
  /** The worker join token (`cube token join`). */
  joinToken(): string;
  /** Makes a user token (as `cube token create` does). */
  createToken(role: Role, name: string): Promise<string>;
}

/**
 * A manager on its store. On Deno KV (or memory) it is the only one and leads at once; on
 * etcd it campaigns, runs the control loops only while it leads, and forwards what it
 * does not serve itself to the leader (roles/leading.ts).
 */
export async function startManager(settings: ManagerSettings): Promise<StartedManager> {
  const dir = settings.dir ?? ".cube";
  await Deno.mkdir(dir, { recursive: true });
  const spec = settings.store ?? `${dir}/manager.kv`;
  const db = await openDatabase(spec);
  const secrets = await openManagerSecrets(db, dir).catch((error) => {
    db.close();
    throw error;
  });
  const { authority, tokens } = secrets;
  const certificate = await authority.serverCert(
    certificateNames(settings.host, settings.advertise),
  );
  // Workers are called over HTTPS, trusting the node CA only.
  // Calls to a worker come many at once (a stop per task): one HTTP/2 connection each.
  const workers = verifiedTransport(authority.nodeCaPem, undefined, { multiplex: true });
  let url = "";
  const managerOn = (store: Database) =>
    new Manager({
      db: store,
      scheduler: createScheduler(settings.scheduler, { scoreLimit: settings.scoreLimit }),
      workers: settings.workers.map((address) => staticApi(address, "https")),
      heartbeatIntervalMs: settings.heartbeatInterval * 1000,
      nodeTimeoutMs: settings.nodeTimeout * 1000,
      maxHeartbeatsPerSecond: settings.maxHeartbeatsPerSecond,
      restartBackoffMs: settings.restartBackoff * 1000,
      restartWindowMs: seconds(settings.restartWindow),
      taskRetentionMs: seconds(settings.taskRetention),
      nodeRetentionMs: seconds(settings.nodeRetention),
      transport: workers.transport,
      workerCredential: (name) => authority.managerCredential(name),
      inviteWorker: (api) => inviteWorker(api, url),
      log: settings.quiet ? silent : undefined,
    });
  const streams = new AbortController();
  const common = {
    caPem: authority.caPem,
    caPath: secrets.caPath,
    adminToken: secrets.adminToken,
    adminTokenPath: secrets.adminTokenPath,
    dir,
    joinToken: () => authority.joinToken(),
    createToken: async (role: Role, name: string) => (await tokens.create(role, { name })).token,
  };

  // etcd is shared by several managers; Deno KV and memory belong to this one.
  const role: ManagerRole = spec.startsWith("etcd://")
    ? leadOnEtcd({
      db: db as EtcdDatabase,
      managerOn,
      tokens,
      caPem: authority.caPem,
      url: () => url,
      shutdown: streams.signal,
      log: settings.quiet ? silent : undefined,
    })
    : await leadAlone({
      manager: managerOn(db),
      security: { tokens, authority },
      url: () => url,
      shutdown: streams.signal,
    });
  const server = await listen(role, {
    hostname: settings.host,
    port: settings.port,
    tls: certificate,
  });
  url = settings.advertise?.replace(/\/$/, "") ?? server.url;
  role.start();
  const close = async () => {
    streams.abort();
    await server.close();
    // Then the control loops stop; with several managers, this one resigns first.
    await role.close();
    workers.close();
    db.close();
  };
  return {
    ...common,
    url,
    get manager() {
      return role.manager();
    },
    leading: () => role.leading(),
    close,
    [Symbol.asyncDispose]: close,
  };
}

export interface StartedWorker extends Running {
  worker: Worker;
  name: string;
  /** `open` (the book's API, no credentials), `joined`, or `waiting` for a manager's invitation. */
  mode: () => "open" | "joined" | "waiting";
}

const BOOK_MODE_WARNING =
  "serving the book's open API: no TLS, no credentials, anyone who reaches this port can run and stop containers";

/**
 * A worker in one of three modes: joined (HTTPS with its node certificate; only its
 * manager gets in), waiting for a manager to invite it (a static worker with a join
 * token), or the book's open API (loopback only, unless `insecure`).
 */
export async function startWorker(settings: WorkerSettings): Promise<StartedWorker> {
  if (settings.store?.startsWith("etcd://")) {
    // Its records are its own node's: sharing them would mix every worker's tasks (and a
    // manager's) under one prefix. CUBE_STORE set for managers reaches workers too.
    throw new CubeError(
      400,
      `Invalid worker store "${settings.store}": etcd is for managers; a worker keeps its state in a Deno KV file (unset CUBE_STORE, or pass --store PATH)`,
    );
  }
  const name = settings.name ?? `${Deno.hostname()}-${settings.port}`;
  const dir = settings.dir ?? ".cube";
  const log = settings.quiet ? silent : (m: string) => console.log(`[worker ${name}] ${m}`);
  const warn = settings.quiet
    ? silent
    : (m: string) => console.warn(`[worker ${name}] WARNING: ${m}`);
  const identityPath = `${dir}/worker-${name}.identity.json`;
  const advertised = (port: number) =>
    settings.advertise?.replace(/\/$/, "") ??
      `https://${isAny(settings.host) ? "127.0.0.1" : bracket(settings.host)}:${port}`;
  const names = certificateNames(settings.host, settings.advertise);

  let identity = await loadIdentity(identityPath);
  const token = settings.joinToken ? parseJoinToken(settings.joinToken) : undefined;
  if (settings.joinToken && !token) {
    throw new CubeError(
      400,
      "Invalid --join-token: expected CUBEJOIN-1-<digest>-<secret> (print it with 'cube token join')",
    );
  }
  if (identity && token && await caDigest(identity.Ca) !== token.digest) {
    log("the join token is of another cluster: joining it afresh");
    identity = null;
  }
  if (!identity && settings.manager && settings.joinToken) {
    const joined = await joinWhenUp(
      log,
      () => joinAny(settings.manager!, { joinToken: settings.joinToken!, name, names }),
    );
    identity = joined.identity;
    await saveIdentity(identityPath, joined.identity);
    log(`joined ${joined.manager}; identity kept in ${identityPath}`);
  }
  if (!identity && settings.manager) {
    throw new CubeError(
      400,
      `Cannot join ${settings.manager} without a join token: pass --join-token (print it with 'cube token join' on the manager)`,
    );
  }
  if (!identity && !settings.joinToken) {
    if (!isLoopback(settings.host) && !settings.insecure) {
      throw new CubeError(
        400,
        `Refusing to serve the open API on ${settings.host}: join a cluster with --join-token, listen on 127.0.0.1, or pass --insecure`,
      );
    }
    warn(
      settings.insecure && !isLoopback(settings.host)
        ? `--insecure: ${BOOK_MODE_WARNING}`
        : BOOK_MODE_WARNING,
    );
  }

  const db = await openDatabase(settings.store ?? `${dir}/worker-${name}.kv`);
  const worker = new Worker({
    name,
    db,
    runtime: await DockerRuntime.open({ publishIp: settings.publishIp, pullPolicy: settings.pull }),
    stopGraceSeconds: settings.stopGrace,
    concurrency: settings.concurrency,
    capacity: { cpu: settings.cpuTotal, memory: settings.memoryTotal, disk: settings.diskTotal },
    taskRetentionMs: seconds(settings.taskRetention),
    log: settings.quiet ? silent : undefined,
  });
  await worker.start();
  const streams = new AbortController();
  let server: Listening | null = null;
  let link: ManagerLink | null = null;
  let linkTransport: { close(): void } | null = null;
  let waiting: Awaited<ReturnType<typeof waitingToJoin>> | null = null;

  const serve = async (joined: NodeIdentity | null) => {
    server = await listen(
      createWorkerApp({
        worker,
        shutdown: streams.signal,
        managerCredential: joined?.ManagerCredential,
        metrics: worker.metrics.registry,
      }),
      {
        hostname: settings.host,
        port: waiting?.port ?? settings.port,
        tls: joined ? { certPem: joined.Certificate, keyPem: joined.Key } : undefined,
      },
    );
    if (!joined || !settings.manager) return;
    const verified = verifiedTransport(joined.Ca, joined.Credential);
    linkTransport = verified;
    link = new ManagerLink({
      managerUrl: settings.manager,
      advertiseUrl: advertised(server.port),
      worker,
      heartbeatIntervalMs: settings.heartbeatInterval * 1000,
      labels: settings.label,
      transport: verified.transport,
      log: settings.quiet ? silent : undefined,
    });
    worker.onChange = (task) => link!.report(task);
    link.start();
  };

  if (identity || !settings.joinToken) {
    await serve(identity);
  } else {
    // A static worker with a join token: it waits for the manager that lists it.
    waiting = await waitingToJoin({
      hostname: settings.host,
      port: settings.port,
      name,
      names,
      log,
      join: async (manager) => {
        const joined = await joinCluster({
          manager,
          joinToken: settings.joinToken!,
          name,
          names,
        });
        await saveIdentity(identityPath, joined);
        log(`joined ${manager} on its invitation; identity kept in ${identityPath}`);
        return joined;
      },
      joined: async (joined) => {
        identity = joined;
        await waiting!.close();
        await serve(joined);
      },
    });
    log(`waiting on port ${waiting.port} for a manager that lists this worker to invite it`);
  }

  const url = waiting && !identity ? waiting.url : server!.url;
  const close = async () => {
    streams.abort();
    await waiting?.close();
    await (server as Listening | null)?.close();
    await worker.close();
    await (link as ManagerLink | null)?.close();
    (linkTransport as { close(): void } | null)?.close();
    db.close();
  };
  return {
    url,
    worker,
    name,
    mode: () => identity ? "joined" : waiting ? "waiting" : "open",
    close,
    [Symbol.asyncDispose]: close,
  };
}

function isAny(host: string): boolean {
  return host === "0.0.0.0" || host === "::";
}

function bracket(host: string): string {
  return host.includes(":") && !host.startsWith("[") ? `[${host}]` : host;
}
