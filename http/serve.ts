import { type Guard, guard } from "./guard.ts";

export interface Listening extends AsyncDisposable {
  /** `http(s)://host:port`, with the real port when 0 was asked for. */
  url: string;
  port: number;
  server: Deno.HttpServer<Deno.NetAddr>;
  close(): Promise<void>;
}

/** Anything with a fetch handler: a Hono app, or a router in front of several. */
export interface Handler {
  fetch(request: Request): Response | Promise<Response>;
}

/**
 * Serves a Hono app (or any fetch handler) with `Deno.serve`, over TLS when given a
 * certificate and key (PEM); port 0 picks a free port. Clients reach it through the slow
 * client guard (`guard.ts`) unless `guard` is false.
 */
export function listen(
  app: Handler,
  options: {
    hostname?: string;
    port?: number;
    quiet?: boolean;
    tls?: { certPem: string; keyPem: string };
    guard?: false | { requestTimeoutMs?: number; idleTimeoutMs?: number };
  } = {},
): Listening {
  const hostname = options.hostname ?? "127.0.0.1";
  const guarded = options.guard !== false;
  const server = Deno.serve({
    hostname: guarded ? "127.0.0.1" : hostname,
    port: guarded ? 0 : options.port ?? 0,
    ...(options.tls ? { cert: options.tls.certPem, key: options.tls.keyPem } : {}),
    onListen: () => {},
    onError: (error) => {
      console.error("unhandled request error:", error);
      return Response.json({ HTTPStatusCode: 500, Message: String(error) }, { status: 500 });
    },
  }, (request) => app.fetch(request));
  let front: Guard | null = null;
  try {
    front = guarded
      ? guard({
        hostname,
        port: options.port ?? 0,
        upstreamPort: server.addr.port,
        ...(options.guard || {}),
      })
      : null;
  } catch (error) {
    server.shutdown();
    throw error;
  }
  const port = front?.port ?? server.addr.port;
  const shown = hostname === "0.0.0.0" || hostname === "::" ? "localhost" : hostname;
  let closed: Promise<void> | null = null;
  const close = () =>
    closed ??= (async () => {
      await front?.close();
      await server.shutdown();
    })();
  return {
    url: `${options.tls ? "https" : "http"}://${
      shown.includes(":") ? `[${shown}]` : shown
    }:${port}`,
    port,
    server,
    close,
    [Symbol.asyncDispose]: close,
  };
}
