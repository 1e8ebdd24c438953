/**
 * The front of every cube server: it accepts connections, ends TLS, and passes the bytes
 * to the real server (`Deno.serve` on a Unix socket) as plain HTTP/1.1 or HTTP/2, timing
 * slow clients on the way.
 *
 * Why not `Deno.serve` with a certificate, on its port:
 *
 * - **Slow clients (slowloris).** `Deno.serve` has no header or request timeout
 *   (denoland/deno#3515): a client that sends half a request and then a byte every few
 *   seconds would hold its connection forever, and enough of them would exhaust the
 *   server's file descriptors.
 * - **Answers held 40 ms.** Over TLS, `Deno.serve` writes an answer's headers and body
 *   apart, and its sockets keep Nagle's algorithm on, which holds the second write until
 *   the client's delayed ACK: every answer over ~400 bytes on HTTP/1.1 (~3 KB on HTTP/2)
 *   took 44 ms instead of 0.3, and events on a stream arrived up to 40 ms late.
 *   `Deno.TlsConn` has no `setNoDelay`; a `node:tls` socket has. Plain HTTP on a Unix
 *   socket has no Nagle at all.
 *
 * Two timers per connection:
 *
 * - **a request that is not answered**: from the first byte a client sends (after the
 *   server last spoke) until the server's first byte back. A TLS handshake, then each
 *   whole request, must arrive and be answered within `requestTimeoutMs`; a streamed
 *   answer (`logs --follow`, `/events`) is not cut, since the server has spoken;
 * - **silence both ways**, longer than `idleTimeoutMs` (a connection nobody uses).
 *
 * @module
 */
import net from "node:net";
import tls from "node:tls";

export interface GuardOptions {
  hostname: string;
  port: number;
  /** The real server's Unix socket. */
  upstreamPath: string;
  /** Certificate and key (PEM): TLS ends here, offering HTTP/2 and HTTP/1.1. */
  tls?: { certPem: string; keyPem: string };
  requestTimeoutMs?: number;
  idleTimeoutMs?: number;
}

export interface Guard {
  port: number;
  /** Connections cut for being slow, since the start. */
  readonly cut: number;
  close(): Promise<void>;
}

/**
 * Bytes read from the real server at a time. Each open connection holds this buffer while
 * it waits, so it is per-connection memory: 16 KiB is one TLS record, the most a peer
 * sends in one piece.
 */
const CHUNK = 16 * 1024;

interface Watched {
  /** When the client started a request (or a handshake) not answered yet; 0: none. */
  waitingSince: number;
  lastByte: number;
  close(): void;
}

/** Starts listening; rejects when the address cannot be had (in use, not ours). */
export async function guard(options: GuardOptions): Promise<Guard> {
  const requestTimeoutMs = options.requestTimeoutMs ?? 30_000;
  const idleTimeoutMs = options.idleTimeoutMs ?? 15 * 60_000;
  const open = new Set<Watched>();
  /** Connections still in their TLS handshake, by the client's address and port. */
  const shaking = new Map<string, Watched>();
  let cut = 0;

  const watch = (waitingSince: number, close: () => void): Watched => {
    const entry: Watched = {
      waitingSince,
      lastByte: Date.now(),
      close() {
        if (!open.delete(entry)) return;
        close();
      },
    };
    open.add(entry);
    return entry;
  };

  // The client's side is a node socket (it alone can turn Nagle off under TLS); the real
  // server's is a `Deno.Conn` read through one small buffer: a node socket there would
  // hold a 64 KiB read buffer per connection (1,000 connections: 124 KiB each, not 74).
  const relay = (client: net.Socket) => {
    client.setNoDelay(true);
    const connecting = Deno.connect({ transport: "unix", path: options.upstreamPath });
    let upstream: Deno.Conn | null = null;
    const entry = watch(0, () => {
      client.destroy();
      try {
        upstream?.close();
      } catch { /* already closed */ }
    });
    let sending: Promise<void> = Promise.resolve();
    client.on("data", (chunk: Uint8Array) => {
      entry.lastByte = Date.now();
      entry.waitingSince ||= entry.lastByte;
      client.pause();
      sending = sending.then(async () => {
        const conn = upstream ?? await connecting;
        for (let written = 0; written < chunk.length;) {
          written += await conn.write(chunk.subarray(written));
        }
        client.resume();
      }).catch(entry.close);
    });
    // HTTP clients do not half-close: the end of what one sends means it has gone, and
    // the server must see it at once (an aborted request, a log stream to end).
    client.on("end", entry.close);
    client.on("close", entry.close);
    client.on("error", entry.close);
    (async () => {
      try {
        upstream = await connecting;
      } catch {
        return entry.close();
      }
      if (!open.has(entry)) return upstream.close(); // the client left while it connected
      const buffer = new Uint8Array(CHUNK);
      try {
        for (;;) {
          const n = await upstream.read(buffer);
          if (n === null) break;
          entry.lastByte = Date.now();
          entry.waitingSince = 0;
          if (!client.write(buffer.slice(0, n))) {
            await new Promise<void>((resolve) => {
              const go = () => {
                client.off("drain", go).off("close", go);
                resolve();
              };
              client.on("drain", go).on("close", go);
            });
          }
        }
        // The server closed (`Connection: close`): the client's side ends once all it
        // was sent has left; destroying it here would drop what is still buffered.
        client.end();
      } catch {
        entry.close();
      }
    })();
  };

  const server = options.tls
    ? tls.createServer({
      cert: options.tls.certPem,
      key: options.tls.keyPem,
      ALPNProtocols: ["h2", "http/1.1"],
      // Ours below cuts a slow handshake first, counts it and closes the socket (under
      // Deno, Node's only reports it).
      handshakeTimeout: 2 * requestTimeoutMs,
    })
    : net.createServer();
  const key = (socket: net.Socket) => `${socket.remoteAddress}|${socket.remotePort}`;
  if (options.tls) {
    server.on("connection", (raw: net.Socket) => {
      const entry = watch(Date.now(), () => raw.destroy());
      const id = key(raw);
      shaking.set(id, entry);
      raw.on("close", () => {
        shaking.delete(id);
        open.delete(entry);
      });
    });
    server.on("secureConnection", (socket: tls.TLSSocket) => {
      const id = key(socket);
      const handshake = shaking.get(id);
      if (handshake) open.delete(handshake);
      shaking.delete(id);
      relay(socket);
    });
    // A failed handshake (a plain-HTTP client, an unknown CA) is the client's to report.
    server.on("tlsClientError", () => {});
  } else {
    server.on("connection", relay);
  }

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port, options.hostname, () => {
      server.off("error", reject);
      resolve();
    });
  });
  server.on("error", (error: Error) => console.error("guard:", error.message));

  const timer = setInterval(() => {
    const now = Date.now();
    for (const entry of [...open]) {
      if (
        (entry.waitingSince && now - entry.waitingSince > requestTimeoutMs) ||
        now - entry.lastByte > idleTimeoutMs
      ) {
        cut++;
        entry.close();
      }
    }
  }, Math.min(1_000, requestTimeoutMs / 4));

  return {
    port: (server.address() as net.AddressInfo).port,
    get cut() {
      return cut;
    },
    async close() {
      clearInterval(timer);
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const entry of [...open]) entry.close();
      await closed;
    },
  };
}
