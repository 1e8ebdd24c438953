/**
 * How cube processes call each other: a request with a body (a batch of tasks, a batch of
 * reports) is answered at once, over TLS with the cluster CA and over plain HTTP through
 * the slow-client guard. Both once waited 40 ms for a delayed ACK on every such request.
 */
import assert from "node:assert/strict";
import { listen } from "../../http/serve.ts";
import { trustingClient } from "../../lib/transport.ts";
import { createCa, issueServerCert } from "../../security/ca.ts";

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

/** The median time of nine sequential POSTs of the batch (after one that opens the connection). */
async function medianPostMs(url: string, client?: Deno.HttpClient): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i < 10; i++) {
    const started = performance.now();
    const response = await fetch(url, { method: "POST", body: batch, client });
    assert.deepEqual(await response.json(), { Count: 20 });
    if (i > 0) times.push(performance.now() - started);
  }
  return times.sort((a, b) => a - b)[4];
}

Deno.test("a batch posted over TLS to a cube server is answered without a 40 ms stall", async () => {
  const ca = await createCa();
  await using server = listen(echoCount, {
    tls: await issueServerCert(ca, "worker", ["127.0.0.1"]),
  });
  const client = trustingClient(ca.certPem);
  try {
    const median = await medianPostMs(`${server.url}/tasks`, client);
    assert.ok(median < 20, `median ${median.toFixed(1)} ms`);
  } finally {
    client.close();
  }
});

Deno.test("a batch posted over plain HTTP through the guard is answered without a 40 ms stall", async () => {
  await using server = listen(echoCount);
  const median = await medianPostMs(`${server.url}/tasks`);
  assert.ok(median < 20, `median ${median.toFixed(1)} ms`);
});
