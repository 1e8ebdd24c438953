import { type Guard, guard } from "./guard.ts";

export interface Listening extends AsyncDisposable {
  /** `http(s)://host:port`, with the real port when 0 was asked for. */
  url: string;
  port: number;
  close(): Promise<void>;
}

/** Anything with a fetch handler: a Hono app, or a router in front of several. */
export interface Handler {
  fetch(request: Request): Response | Promise<Response>;
}

const SOCKET_DIR_PREFIX = "cube-http-";
let swept: Promise<void> | null = null;

/**
 * Removes the socket directories of cube processes that are gone without removing theirs
 * (killed with -9), once per process. Linux only: it asks `/proc` whether a process lives.
 */
async function sweepSocketDirs(base: string): Promise<void> {
  if (Deno.build.os !== "linux") return;
  try {
    for await (const entry of Deno.readDir(base)) {
      const pid = entry.name.startsWith(SOCKET_DIR_PREFIX) &&
        entry.name.slice(SOCKET_DIR_PREFIX.length).match(/^(\d+)-/)?.[1];
      if (!entry.isDirectory || !pid || Number(pid) === Deno.pid) continue;
      const alive = await Deno.stat(`/proc/${pid}`).then(() => true, () => false);
      if (!alive) await Deno.remove(`${base}/${entry.name}`, { recursive: true }).catch(() => {});
    }
  } catch { /* an unreadable temporary directory: nothing to sweep */ }
}

/**
 * Serves a Hono app (or any fetch handler) with `Deno.serve`, over TLS when given a
 * certificate and key (PEM); port 0 picks a free port. Clients reach it through the
 * guard (`guard.ts`), which ends TLS and cuts slow clients, unless `guard` is false;
 * the app then sees `http+unix:` (HTTP/1.1) or `http:` (HTTP/2) request URLs, with the
 * host the client asked for.
 */
export async function listen(
  app: Handler,
  options: {
    hostname?: string;
    port?: number;
    quiet?: boolean;
    tls?: { certPem: string; keyPem: string };
    guard?: false | { requestTimeoutMs?: number; idleTimeoutMs?: number };
  } = {},
): Promise<Listening> {
  const hostname = options.hostname ?? "127.0.0.1";
  const serving = {
    onListen: () => {},
    onError: (error: unknown) => {
      console.error("unhandled request error:", error);
      return Response.json({ HTTPStatusCode: 500, Message: String(error) }, { status: 500 });
    },
  };
  const handler = (request: Request) => app.fetch(request);
  let front: Guard | null = null;
  let server: Deno.HttpServer;
  let socketDir: string | null = null;
  if (options.guard === false) {
    server = Deno.serve({
      hostname,
      port: options.port ?? 0,
      ...(options.tls ? { cert: options.tls.certPem, key: options.tls.keyPem } : {}),
      ...serving,
    }, handler);
  } else {
    // A directory only this user can enter: the socket behind it speaks plain HTTP.
    socketDir = await Deno.makeTempDir({ prefix: `${SOCKET_DIR_PREFIX}${Deno.pid}-` });
    await (swept ??= sweepSocketDirs(socketDir.slice(0, socketDir.lastIndexOf("/"))));
    const path = `${socketDir}/http.sock`;
    server = Deno.serve({ path, ...serving }, handler);
    try {
      front = await guard({
        hostname,
        port: options.port ?? 0,
        upstreamPath: path,
        tls: options.tls,
        ...options.guard,
      });
    } catch (error) {
      await server.shutdown();
      await Deno.remove(socketDir, { recursive: true });
      throw error;
    }
  }
  const port = front?.port ?? (server.addr as Deno.NetAddr).port;
  const shown = hostname === "0.0.0.0" || hostname === "::" ? "localhost" : hostname;
  let closed: Promise<void> | null = null;
  const close = () =>
    closed ??= (async () => {
      await front?.close();
      await server.shutdown();
      if (socketDir) await Deno.remove(socketDir, { recursive: true }).catch(() => {});
    })();
  return {
    url: `${options.tls ? "https" : "http"}://${
      shown.includes(":") ? `[${shown}]` : shown
    }:${port}`,
    port,
    close,
    [Symbol.asyncDispose]: close,
  };
}
