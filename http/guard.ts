/**
 * A guard in front of `Deno.serve` against slow clients (slowloris): `Deno.serve` has no
 * header or request timeout (denoland/deno#3515), so a client that sends half a request
 * and then a byte every few seconds would hold its connection forever, and enough of them
 * would exhaust the server's file descriptors.
 *
 * The guard accepts connections itself and passes their bytes through, still encrypted,
 * to the real server on a loopback port, timing two things per connection:
 *
 * - **a request that is not answered**: from the first byte a client sends (after the
 *   server last spoke) until the server's first byte back. A whole request, or a TLS
 *   handshake, must arrive and be answered within `requestTimeoutMs`; a streamed answer
 *   (`logs --follow`) is not cut, since the server has spoken;
 * - **silence both ways**, longer than `idleTimeoutMs` (a connection nobody uses).
 *
 * @module
 */

export interface GuardOptions {
  hostname: string;
  port: number;
  /** The real server's port on 127.0.0.1. */
  upstreamPort: number;
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
 * Bytes read at a time, per direction. Each open connection holds its two buffers while it
 * waits, so this is per-connection memory: 1,000 idle nodes held 128 MB at 64 KiB. 16 KiB
 * is one TLS record, the most a peer sends in one piece.
 */
const CHUNK = 16 * 1024;

async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  let written = 0;
  while (written < bytes.length) written += await conn.write(bytes.subarray(written));
}

export function guard(options: GuardOptions): Guard {
  const requestTimeoutMs = options.requestTimeoutMs ?? 30_000;
  const idleTimeoutMs = options.idleTimeoutMs ?? 15 * 60_000;
  const listener = Deno.listen({ hostname: options.hostname, port: options.port });
  const open = new Set<{ close(): void; check(now: number): void }>();
  const passing = new Set<Promise<void>>();
  let cut = 0;

  const pass = async (client: Deno.Conn) => {
    let upstream: Deno.Conn;
    try {
      upstream = await Deno.connect({ hostname: "127.0.0.1", port: options.upstreamPort });
    } catch {
      client.close();
      return;
    }
    // No Nagle on either side: a relay writes what it read as it reads it, so an answer
    // often leaves as two small writes, and the second waited for the peer's delayed ACK:
    // 40 ms added to every request with a body (a batch of tasks took 44 ms, not 0.3).
    for (const conn of [client, upstream] as Deno.TcpConn[]) conn.setNoDelay?.(true);
    let lastByte = Date.now();
    /** When the client started a request the server has not answered yet; 0: none. */
    let waitingSince = 0;
    let closed = false;
    const close = () => {
      if (closed) return;
      closed = true;
      open.delete(entry);
      for (const conn of [client, upstream]) {
        try {
          conn.close();
        } catch { /* already closed */ }
      }
    };
    const entry = {
      close,
      check(now: number) {
        if (
          (waitingSince && now - waitingSince > requestTimeoutMs) ||
          now - lastByte > idleTimeoutMs
        ) {
          cut++;
          close();
        }
      },
    };
    open.add(entry);
    const pump = async (from: Deno.Conn, to: Deno.Conn, fromClient: boolean) => {
      const buffer = new Uint8Array(CHUNK);
      try {
        for (;;) {
          const n = await from.read(buffer);
          if (n === null) break;
          lastByte = Date.now();
          if (fromClient) waitingSince ||= lastByte;
          else waitingSince = 0;
          await writeAll(to, buffer.subarray(0, n));
        }
        // HTTP clients do not half-close: the end of what one sends means it has gone,
        // and the server must see it (an aborted request, a log stream to end).
        close();
      } catch {
        close();
      }
    };
    await Promise.all([pump(client, upstream, true), pump(upstream, client, false)]);
    close();
  };

  const accepting = (async () => {
    for (;;) {
      let client: Deno.Conn;
      try {
        client = await listener.accept();
      } catch {
        return; // the listener was closed
      }
      const passed = pass(client);
      passing.add(passed);
      passed.finally(() => passing.delete(passed));
    }
  })();
  const timer = setInterval(() => {
    const now = Date.now();
    for (const connection of [...open]) connection.check(now);
  }, Math.min(1_000, requestTimeoutMs / 4));

  return {
    port: (listener.addr as Deno.NetAddr).port,
    get cut() {
      return cut;
    },
    async close() {
      clearInterval(timer);
      listener.close();
      await accepting;
      for (const connection of [...open]) connection.close();
      await Promise.allSettled([...passing]);
    },
  };
}
