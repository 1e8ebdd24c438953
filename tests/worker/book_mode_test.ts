/**
 * The book's tutorial mode: a worker with neither a manager nor a join token serves the
 * book's open API, on loopback only, and says it is unauthenticated; a joined worker lets
 * nobody but its manager in.
 */
import assert from "node:assert/strict";
import { bookTaskEvent } from "../../testing/nodes.ts";
import { State } from "../../task/mod.ts";
import { HTTP_IMAGE, removeContainersOf, uniqueName } from "../../testing/docker.ts";
import { spawnCube, waitForHealth } from "../../testing/process.ts";
import { freePort, request, tempDir, waitFor } from "../../testing/wait.ts";
import { createWorkerApp } from "../../worker/mod.ts";
import type { NodeAgent } from "../../worker/agent.ts";

Deno.test("the seed's walk-through: CUBE_HOST=localhost CUBE_PORT=… cube worker, then the book's curl lines", async () => {
  await using dir = await tempDir();
  const port = freePort();
  const name = uniqueName("book");
  await using worker = spawnCube(["worker", "--publish-ip", "127.0.0.1", "--dir", dir.path], {
    CUBE_HOST: "localhost",
    CUBE_PORT: String(port),
    CUBE_NAME: name,
  });
  const url = `http://localhost:${port}`;
  try {
    await waitForHealth(url, worker);
    assert.match(worker.output(), /WARNING: serving the book's open API: no TLS, no credentials/);
    const id = crypto.randomUUID();
    // The book's task.json, as `curl -d @task.json` sends it (a form content type).
    const posted = await fetch(`${url}/tasks`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: JSON.stringify(bookTaskEvent(id, HTTP_IMAGE)),
    });
    assert.equal(posted.status, 201);
    assert.equal((await posted.json()).ID, id);
    const running = await waitFor("the book's task to run", async () => {
      const { body } = await request(`${url}/tasks`);
      return body[0]?.State === State.Running ? body[0] : undefined;
    });
    const hostPort = running.HostPorts["80/tcp"][0].HostPort;
    assert.equal(await (await fetch(`http://127.0.0.1:${hostPort}/health`)).text(), "ok\n");
    assert.equal((await request(`${url}/tasks/${id}`, { method: "DELETE" })).status, 204);
    await waitFor("the book's task to stop", async () => {
      return (await request(`${url}/tasks/${id}`)).body.State === State.Completed;
    });
  } finally {
    await worker.stop();
    await removeContainersOf(name);
  }
});

Deno.test("an open worker on another address starts only with --insecure, and says so loudly", async () => {
  await using dir = await tempDir();
  const port = freePort();
  await using worker = spawnCube([
    ...["worker", "-H", "0.0.0.0", "-p", String(port), "--insecure", "--dir", dir.path],
  ]);
  await waitForHealth(`http://127.0.0.1:${port}`, worker);
  assert.match(worker.output(), /WARNING: --insecure: serving the book's open API/);
  assert.match(worker.output(), /listening on http:\/\/localhost:\d+ \(open API, no credentials\)/);
});

Deno.test("a joined worker takes calls from its manager's credential only; health stays open", async () => {
  const agent = {
    name: "w1",
    health: () => Promise.resolve({ Status: "ok", Name: "w1" }),
    list: () => Promise.resolve([]),
  } as unknown as NodeAgent;
  const app = createWorkerApp({ worker: agent, managerCredential: "cubemgr_right" });
  for (const authorization of [undefined, "Bearer cubemgr_wrong", "Bearer", "Basic x"]) {
    const response = await app.request("/tasks", {
      headers: authorization ? { authorization } : {},
    });
    assert.equal(response.status, 401, authorization);
    assert.match((await response.json()).Message, /takes calls from its manager only/);
    const post = await app.request("/v1/tasks", {
      method: "POST",
      headers: authorization ? { authorization } : {},
      body: "{}",
    });
    assert.equal(post.status, 401, "refused before the body is read");
  }
  const health = await app.request("/health");
  assert.equal(health.status, 200);
  const allowed = await app.request("/tasks", {
    headers: { authorization: "Bearer cubemgr_right" },
  });
  assert.equal(allowed.status, 200);
});
