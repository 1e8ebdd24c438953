import type { Hono } from "hono";

export interface Listening extends AsyncDisposable {
  /** `http://host:port`, with the real port when 0 was asked for. */
  url: string;
  port: number;
  server: Deno.HttpServer<Deno.NetAddr>;
  close(): Promise<void>;
}

/** Serves a Hono app with `Deno.serve`; port 0 picks a free port. */
export function listen(
  app: Hono,
  options: { hostname?: string; port?: number; quiet?: boolean } = {},
): Listening {
  const hostname = options.hostname ?? "127.0.0.1";
  const server = Deno.serve({
    hostname,
    port: options.port ?? 0,
    onListen: () => {},
    onError: (error) => {
      console.error("unhandled request error:", error);
      return Response.json({ HTTPStatusCode: 500, Message: String(error) }, { status: 500 });
    },
  }, app.fetch);
  const port = server.addr.port;
  const shown = hostname === "0.0.0.0" || hostname === "::" ? "localhost" : hostname;
  let closed: Promise<void> | null = null;
  const close = () => closed ??= server.shutdown();
  return {
    url: `http://${shown.includes(":") ? `[${shown}]` : shown}:${port}`,
    port,
    server,
    close,
    [Symbol.asyncDispose]: close,
  };
}
