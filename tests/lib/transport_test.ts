/**
 * How cube processes call each other: a request with a body (a batch of tasks, a batch of
 * reports) is answered at once, over TLS with the cluster CA and over plain HTTP through
 * the slow-client guard. Both once waited 40 ms for a delayed ACK on every such request.
 */
import assert from "node:assert/strict";
import { listen } from "../../http/serve.ts";
import {
  BODIES_IN_FLIGHT,
  mixedTransport,
  trustingClient,
  TrustingClients,
} from "../../lib/transport.ts";
import { createCa, issueServerCert } from "../../security/ca.ts";
import { medianMs } from "../../testing/wait.ts";

const echoCount = {
  async fetch(request: Request) {
    const items = await request.json();
    return Response.json({ Count: items.length });
  },
};

/** A batch the size the manager sends a worker: 20 tasks, about 30 KB of JSON. */
const batch = JSON.stringify(
  Array.from({ length: 20 }, (_, i) => ({ i, Env: ["x".repeat(1500)] })),
);

/** Posts the batch through `send` and checks the answer. */
function postBatch(send: (init: RequestInit) => Promise<Response>): () => Promise<void> {
  return async () => {
    const response = await send({ method: "POST", body: batch });
    assert.deepEqual(await response.json(), { Count: 20 });
  };
}

Deno.test("a batch posted over TLS to a cube server is answered without a 40 ms stall", async () => {
  const ca = await createCa();
  await using server = await listen(echoCount, {
    tls: await issueServerCert(ca, "worker", ["127.0.0.1"]),
  });
  using client = trustingClient(ca.certPem);
  const median = await medianMs(
    postBatch((init) => fetch(`${server.url}/tasks`, { ...init, client })),
  );
  assert.ok(median < 20, `median ${median.toFixed(1)} ms`);
});

Deno.test("a batch posted over plain HTTP through the guard is answered without a 40 ms stall", async () => {
  await using server = await listen(echoCount);
  const median = await medianMs(postBatch((init) => fetch(`${server.url}/tasks`, init)));
  assert.ok(median < 20, `median ${median.toFixed(1)} ms`);
});

Deno.test("the manager's transport to a worker posts batches without the stall, and never opens a connection per call", async () => {
  const ca = await createCa();
  const { certPem, keyPem } = await issueServerCert(ca, "worker", ["127.0.0.1"]);
  const ports = new Set<number>();
  await using server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, cert: certPem, key: keyPem, onListen() {} },
    async (request, info) => {
      ports.add(info.remoteAddr.port);
      if (request.method === "GET") return Response.json({ Count: 0 });
      await new Promise((r) => setTimeout(r, 5));
      return await echoCount.fetch(request);
    },
  );
  using clients = new TrustingClients(ca.certPem);
  const transport = mixedTransport(clients);
  const url = `https://127.0.0.1:${server.addr.port}/tasks`;
  const median = await medianMs(postBatch((init) => transport(url, init, 5_000)));
  assert.ok(median < 25, `median ${median.toFixed(1)} ms`);
  ports.clear();
  // Many at once: bodiless calls share one connection; batches take a few more at most.
  await Promise.all(Array.from({ length: 200 }, async (_, i) => {
    const init = i % 2 ? { method: "GET" } : { method: "POST", body: batch };
    const response = await transport(url, init, 5_000);
    await response.body?.cancel();
  }));
  assert.ok(
    ports.size <= BODIES_IN_FLIGHT + 1,
    `${ports.size} connections for 200 calls at once`,
  );
});

Deno.test("a read, a small submit and a batch through TrustingClients wait for no 40 ms stall", async () => {
  const ca = await createCa();
  const task = { Env: ["x".repeat(600)] };
  await using server = await listen({ fetch: () => Response.json(task) }, {
    tls: await issueServerCert(ca, "manager", ["127.0.0.1"]),
  });
  using clients = new TrustingClients(ca.certPem);
  // The batch (30 KB) must go over HTTP/1.1: Deno's fetch over HTTP/2 holds it 44 ms.
  const inits = [{}, { method: "POST", body: JSON.stringify({ Image: "web" }) }, {
    method: "POST",
    body: batch,
  }];
  for (const init of inits) {
    const median = await medianMs(async () => {
      const response = await fetch(`${server.url}/tasks`, { ...init, client: clients.for(init) });
      assert.deepEqual(await response.json(), task);
    });
    const what = `${init.method ?? "GET"} of ${init.body?.length ?? 0} bytes`;
    assert.ok(median < 20, `${what}: median ${median.toFixed(1)} ms`);
  }
});
