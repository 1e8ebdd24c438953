/**
 * The slow-client guard in front of every server: half a request is cut after the
 * request timeout, a silent connection after the idle timeout; answers, keep-alive and
 * long streams pass.
 */
import assert from "node:assert/strict";
import { listen } from "../../http/serve.ts";

const app = {
  fetch(request: Request) {
    if (new URL(request.url).pathname !== "/stream") return new Response("hello");
    // Speaks at once, then trickles for longer than the request timeout.
    let n = 0;
    let timer: ReturnType<typeof setInterval> | undefined;
    return new Response(
      new ReadableStream({
        start(controller) {
          controller.enqueue(new TextEncoder().encode("start\n"));
          timer = setInterval(() => {
            controller.enqueue(new TextEncoder().encode(`${++n}\n`));
            if (n === 6) {
              clearInterval(timer);
              controller.close();
            }
          }, 200);
        },
        cancel() {
          clearInterval(timer);
        },
      }),
    );
  },
};

async function readUntilClosed(conn: Deno.Conn, limitMs: number): Promise<number> {
  const started = performance.now();
  const buffer = new Uint8Array(1024);
  const timer = setTimeout(() => conn.close(), limitMs);
  try {
    while ((await conn.read(buffer)) !== null) { /* drain */ }
  } catch {
    /* closed */
  } finally {
    clearTimeout(timer);
  }
  return performance.now() - started;
}

Deno.test("half a request is cut after the request timeout; whole ones and long streams pass", async () => {
  await using server = listen(app, { guard: { requestTimeoutMs: 500 } });
  const slow = await Deno.connect({ hostname: "127.0.0.1", port: server.port });
  await slow.write(new TextEncoder().encode("GET / HTTP/1.1\r\nHost: x\r\n"));
  const heldFor = await readUntilClosed(slow, 5_000);
  try {
    slow.close();
  } catch { /* the guard closed it */ }
  assert.ok(heldFor < 2_000, `held for ${Math.round(heldFor)} ms`);

  // Keep-alive: three requests on one connection, then a stream of 1.2 s.
  const client = Deno.createHttpClient({});
  try {
    for (let i = 0; i < 3; i++) {
      assert.equal(await (await fetch(`${server.url}/`, { client })).text(), "hello");
    }
    const streamed = await (await fetch(`${server.url}/stream`, { client })).text();
    assert.equal(streamed, "start\n1\n2\n3\n4\n5\n6\n");
  } finally {
    client.close();
  }
});

Deno.test("a connection silent both ways is closed after the idle timeout", async () => {
  await using server = listen(app, { guard: { idleTimeoutMs: 300 } });
  const idle = await Deno.connect({ hostname: "127.0.0.1", port: server.port });
  const heldFor = await readUntilClosed(idle, 5_000);
  try {
    idle.close();
  } catch { /* the guard closed it */ }
  assert.ok(heldFor < 2_000, `held for ${Math.round(heldFor)} ms`);
});
