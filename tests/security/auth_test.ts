/**
 * Who may do what, over real HTTPS against a real manager: every route for every kind of
 * caller, refusals that change nothing, join tokens, node credentials, rotation, and
 * identities that survive restarts.
 */
import assert from "node:assert/strict";
import { HEARTBEAT_STATS } from "../../testing/nodes.ts";
import { startManager, startWorker } from "../../roles/start.ts";
import { joinCluster, loadIdentity } from "../../security/mod.ts";
import { startCluster, testManagerSettings, testWorkerSettings } from "../../testing/cluster.ts";
import { removeContainersOf, SLEEP_IMAGE, uniqueName } from "../../testing/docker.ts";
import { request, tempDir, trust, waitFor } from "../../testing/wait.ts";
import { State } from "../../task/mod.ts";

type Caller =
  | "none"
  | "bad"
  | "expired"
  | "revoked"
  | "reader"
  | "operator"
  | "admin"
  | "node";

/** What a request that got past authorization answers: a probe, so nothing changes. */
const PASSED = "passed";

Deno.test("every route answers each kind of caller as its role says, and a refusal changes nothing", async () => {
  await using cluster = await startCluster();
  const url = cluster.url;
  const make = async (Role: string, extra: Record<string, unknown> = {}) =>
    (await request(`${url}/tokens`, { body: { Role, ...extra } })).body;
  const reader = await make("reader", { Name: "r" });
  const operator = await make("operator", { Name: "o" });
  const expired = await make("reader", { Ttl: 0.05 });
  const revoked = await make("admin");
  assert.equal((await request(`${url}/tokens/${revoked.ID}`, { method: "DELETE" })).status, 200);
  const node = await cluster.nodeCredential("other");
  await new Promise((resolve) => setTimeout(resolve, 100));
  const tokens: Record<Caller, string | null> = {
    none: null,
    bad: `cube_${reader.ID}_${"A".repeat(43)}`,
    expired: expired.Token,
    revoked: revoked.Token,
    reader: reader.Token,
    operator: operator.Token,
    admin: cluster.adminToken,
    node,
  };
  const task = await cluster.submit({ Name: "kept", Image: SLEEP_IMAGE, Env: ["PASSWORD=s3cret"] });

  // Each probe passes authorization only to fail validation or lookup after it.
  const probes: Array<[string, string, unknown, number]> = [
    ["GET", "/tasks", undefined, 200],
    ["POST", "/tasks", { Imagee: "x" }, 400],
    ["GET", `/tasks/${task.ID}`, undefined, 200],
    ["GET", `/tasks/${task.ID}/events`, undefined, 200],
    ["GET", `/tasks/${crypto.randomUUID()}/logs`, undefined, 404],
    ["DELETE", "/tasks/not-a-uuid", undefined, 400],
    ["GET", "/nodes", undefined, 200],
    ["POST", "/nodes", { Name: "other" }, 400],
    ["DELETE", "/nodes/bad name!", undefined, 400],
    ["PATCH", "/nodes/bad name!", { Availability: "pause" }, 400],
    ["POST", "/nodes/other/tasks", [], 404],
    ["POST", "/nodes/someone/tasks", [], 404],
    ["GET", "/health", undefined, 200],
    ["GET", "/services", undefined, 200],
    ["POST", "/services", { Name: "Bad_Name", Task: {} }, 400],
    ["POST", "/services/none/scale", { Replicas: 1 }, 404],
    ["DELETE", "/services/none", undefined, 404],
    ["GET", "/tokens", undefined, 200],
    ["POST", "/tokens", { Role: "root" }, 400],
    ["DELETE", "/tokens/zz", undefined, 400],
    ["GET", "/tokens/join", undefined, 200],
    ["GET", "/join/ca", undefined, 200],
    ["POST", "/join", { Name: "x" }, 401],
  ];
  const open = (path: string) => path === "/health" || path === "/join/ca";
  const expected = (caller: Caller, method: string, path: string): number | typeof PASSED => {
    if (open(path)) return PASSED;
    if (path === "/join") return 401; // the join takes the join token, and nothing else
    if (["none", "bad", "expired", "revoked"].includes(caller)) return 401;
    const heartbeat = method === "POST" && /^\/nodes(\/[^/]+\/tasks)?$/.test(path);
    if (caller === "node") {
      return heartbeat && (path === "/nodes" || path === "/nodes/other/tasks") ? PASSED : 403;
    }
    if (heartbeat) return 403;
    if (path.startsWith("/tokens")) return caller === "admin" ? PASSED : 403;
    if (caller === "reader") return method === "GET" ? PASSED : 403;
    return PASSED;
  };
  for (const caller of Object.keys(tokens) as Caller[]) {
    for (const [method, path, body, passed] of probes) {
      for (const prefix of ["", "/v1"]) {
        const response = await request(`${url}${prefix}${path}`, {
          method,
          body,
          token: tokens[caller],
        });
        const want = expected(caller, method, path);
        const what = `${caller} ${method} ${prefix}${path}: ${JSON.stringify(response.body)}`;
        assert.equal(response.status, want === PASSED ? passed : want, what);
        if (response.status >= 400) {
          assert.equal(response.body.HTTPStatusCode, response.status, what);
          assert.equal(typeof response.body.Message, "string", what);
        }
      }
    }
  }

  // Refused for real: valid requests from callers who may not make them change nothing.
  const snapshot = async () => ({
    tasks: (await request(`${url}/tasks`)).body,
    nodes: (await request(`${url}/nodes`)).body,
    tokens: (await request(`${url}/tokens`)).body,
    join: (await request(`${url}/tokens/join`)).body,
  });
  const before = await snapshot();
  const mutations: Array<[string, string, unknown, Caller[]]> = [
    ["POST", "/tasks", { Name: "sneaky", Image: SLEEP_IMAGE }, ["none", "bad", "reader", "node"]],
    ["DELETE", `/tasks/${task.ID}`, undefined, ["expired", "revoked", "reader", "node"]],
    ["POST", "/tokens", { Role: "admin" }, ["none", "reader", "operator", "node"]],
    ["DELETE", `/tokens/${reader.ID}`, undefined, ["bad", "reader", "operator", "node"]],
    ["POST", "/tokens/join/rotate", undefined, ["none", "reader", "operator", "node"]],
    ["POST", "/nodes", { Name: "fake", Api: "https://10.0.0.1:1", Stats: HEARTBEAT_STATS }, [
      "admin",
      "operator",
      "node",
    ]],
    ["POST", `/nodes/other/tasks`, [], ["admin", "reader"]],
  ];
  for (const [method, path, body, callers] of mutations) {
    for (const caller of callers) {
      const { status } = await request(`${url}${path}`, { method, body, token: tokens[caller] });
      assert.ok(status === 401 || status === 403, `${caller} ${method} ${path}: ${status}`);
    }
  }
  assert.deepEqual(await snapshot(), before);

  // A reader sees the names of a task's environment, never the values.
  const seen = (await request(`${url}/tasks/${task.ID}`, { token: reader.Token })).body;
  assert.deepEqual(seen.Env, ["PASSWORD=***"]);
  const listed = (await request(`${url}/tasks`, { token: reader.Token })).body;
  assert.deepEqual(listed[0].Env, ["PASSWORD=***"]);
  assert.deepEqual((await cluster.task(task.ID)).Env, ["PASSWORD=s3cret"], "an operator sees it");
  await request(`${url}/services`, {
    body: { Name: "secretive", Replicas: 0, Task: { Image: SLEEP_IMAGE, Env: ["KEY=v"] } },
  });
  const asReader = (await request(`${url}/services/secretive`, { token: reader.Token })).body;
  assert.deepEqual(asReader.Spec.Task.Env, ["KEY=***"]);
  const listedServices = (await request(`${url}/services`, { token: reader.Token })).body;
  assert.deepEqual(listedServices[0].Spec.Task.Env, ["KEY=***"]);
  assert.deepEqual((await request(`${url}/services/secretive`)).body.Spec.Task.Env, ["KEY=v"]);
  // Nothing secret in what the API says about tokens.
  const listing = JSON.stringify((await request(`${url}/tokens`)).body);
  for (const secret of [reader.Token, operator.Token, cluster.adminToken, node]) {
    assert.ok(!listing.includes(secret.slice("cube_000000000000_".length)));
  }
  assert.ok(!listing.includes("Hash"));
});

Deno.test("health reveals nothing sensitive and plain HTTP to the TLS port fails clearly", async () => {
  await using cluster = await startCluster();
  const health = await request(`${cluster.url}/health`, { token: null });
  assert.equal(health.status, 200);
  assert.deepEqual(Object.keys(health.body).sort(), [
    "Leader",
    "Leadership",
    "Nodes",
    "Queued",
    "Role",
    "Scheduler",
    "States",
    "Status",
    "Store",
    "Tasks",
  ]);
  // The only manager leads, at its own address (which clients and workers know anyway).
  assert.equal(health.body.Leadership, "leader");
  assert.equal(health.body.Leader, cluster.url);
  await assert.rejects(
    fetch(cluster.url.replace("https:", "http:") + "/health"),
    (error: Error) => /invalid HTTP version/.test(String(error.cause)),
  );
  // Without the cluster CA, a client does not trust the manager.
  await assert.rejects(
    fetch(`${cluster.url}/health`),
    (error: Error) => /UnknownIssuer/.test(String(error.cause)),
  );
});

Deno.test("a worker refuses to join a manager whose CA is not the join token's (a man in the middle)", async () => {
  await using cluster = await startCluster();
  await using dir = await tempDir();
  // Another cluster's manager where the worker expects this one.
  await using impostor = await startManager(testManagerSettings(dir.path));
  await assert.rejects(
    joinCluster({
      manager: impostor.url,
      joinToken: cluster.manager.joinToken(),
      name: "victim",
      names: null,
    }),
    /Refusing to join .*: its CA .* is not the one in the join token .*A man in the middle/,
  );
  const tokens = (await request(`${cluster.url}/tokens`)).body;
  assert.ok(!tokens.some((t: { Node?: string }) => t.Node === "victim"));
});

Deno.test("a name is taken by the node that joined with it, until that node is removed", async () => {
  await using cluster = await startCluster();
  await cluster.nodeCredential("w9");
  await assert.rejects(cluster.nodeCredential("w9"), /Node name "w9" is taken by a joined node/);
  assert.equal((await request(`${cluster.url}/nodes/w9`, { method: "DELETE" })).status, 204);
  const again = await cluster.nodeCredential("w9");
  assert.match(again, /^cube_[0-9a-f]{12}_/);
});

Deno.test("a rotated join token lets no new worker in, and joined workers keep working", async () => {
  await using cluster = await startCluster({ workers: 1 });
  const old = cluster.manager.joinToken();
  const rotated = (await request(`${cluster.url}/tokens/join/rotate`, { method: "POST" })).body;
  assert.notEqual(rotated.Token, old);
  assert.equal((await request(`${cluster.url}/tokens/join`)).body.Token, rotated.Token);
  await assert.rejects(
    joinCluster({ manager: cluster.url, joinToken: old, name: "late", names: null }),
    /join token is not valid \(it may have been rotated\)/,
  );
  const joined = await joinCluster({
    manager: cluster.url,
    joinToken: rotated.Token,
    name: "late",
    names: null,
  });
  assert.match(joined.Credential, /^cube_/);
  // The worker that joined before the rotation still runs tasks.
  const task = await cluster.submit({ Name: "after-rotation", Image: SLEEP_IMAGE });
  await cluster.waitForState(task.ID, State.Running);
});

Deno.test("the manager and the worker keep their identities across restarts", async () => {
  await using dir = await tempDir();
  const name = uniqueName("keep");
  let manager = await startManager(testManagerSettings(dir.path));
  const port = new URL(manager.url).port;
  const adminToken = manager.adminToken!;
  const caPem = manager.caPem;
  let trusted = trust(manager.url, { caPem, token: adminToken });
  let worker = await startWorker(
    testWorkerSettings(name, dir.path, { manager: manager.url, joinToken: manager.joinToken() }),
  );
  try {
    const identityPath = `${dir.path}/worker-${name}.identity.json`;
    const identity = await loadIdentity(identityPath);
    assert.ok(identity);
    assert.equal((await Deno.stat(identityPath)).mode! & 0o777, 0o600);
    assert.equal((await Deno.stat(`${dir.path}/admin.token`)).mode! & 0o777, 0o600);
    await worker.close();
    await manager.close();
    trusted[Symbol.dispose]();

    manager = await startManager(testManagerSettings(dir.path, { port: Number(port) }));
    assert.equal(manager.caPem, caPem, "the same cluster CA");
    assert.equal(manager.adminToken, undefined, "no second admin token");
    trusted = trust(manager.url, { caPem: manager.caPem, token: adminToken });
    worker = await startWorker(
      testWorkerSettings(name, dir.path, { manager: manager.url, joinToken: manager.joinToken() }),
    );
    assert.deepEqual(await loadIdentity(identityPath), identity, "no second join");
    await waitFor("the worker to be ready again", async () => {
      const { body } = await request(`${manager.url}/nodes`);
      return body.some((n: { Name: string; Status: string }) =>
        n.Name === name && n.Status === "ready"
      );
    });
    const nodeTokens = (await request(`${manager.url}/tokens`)).body.filter((
      t: { Node?: string },
    ) => t.Node === name);
    assert.equal(nodeTokens.length, 1);
  } finally {
    await worker.close();
    await manager.close();
    trusted[Symbol.dispose]();
    await removeContainersOf(name);
  }
});

Deno.test("requests with random methods, paths, bodies and auth headers never get a 5xx", async () => {
  await using cluster = await startCluster();
  const reader = (await request(`${cluster.url}/tokens`, { body: { Role: "reader" } })).body.Token;
  const node = await cluster.nodeCredential("fuzz");
  let seed = 42;
  const random = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)];
  const paths = [
    "/tasks",
    `/tasks/${crypto.randomUUID()}`,
    "/tasks/%zz",
    "/tasks/x/events",
    "/tasks/x/logs?follow=1&tail=-1",
    "/nodes",
    "/nodes/fuzz/tasks",
    "/nodes/%2e%2e/tasks",
    "/nodes/other",
    "/tokens",
    "/tokens/join",
    "/tokens/join/rotate",
    "/tokens/000000000000",
    "/join",
    "/join/ca",
    "/health",
    "/v1/tasks",
    "/" + "a".repeat(9_000),
  ];
  const auth = [
    null,
    `Bearer ${reader}`,
    `Bearer ${node}`,
    `Bearer ${cluster.adminToken}`,
    "Bearer",
    "Basic dXNlcjpwYXNz",
    `Bearer ${cluster.adminToken}x`,
    `bearer   ${reader}`,
    "Bearer cube__",
    `Bearer ${cluster.manager.joinToken()}`,
    `Bearer ${"x".repeat(20_000)}`,
  ];
  const bodies = [
    undefined,
    "{",
    "[]",
    "null",
    JSON.stringify({ Role: "admin" }),
    JSON.stringify({ Name: "fuzz", Api: "https://127.0.0.1:1", Stats: HEARTBEAT_STATS }),
    JSON.stringify({ Name: "fuzz", Csr: "-----BEGIN CERTIFICATE REQUEST-----\nAAAA" }),
    JSON.stringify([{ ID: "x" }]),
    "x".repeat(60_000),
  ];
  for (let i = 0; i < 400; i++) {
    const method = pick(["GET", "POST", "DELETE", "PUT", "PATCH"]);
    const header = pick(auth);
    const body = method === "GET" ? undefined : pick(bodies);
    const { status, body: answer } = await request(`${cluster.url}${pick(paths)}`, {
      method,
      rawBody: body,
      token: null,
      headers: header ? { authorization: header } : {},
    });
    assert.ok(status < 500, `${method} → ${status}: ${JSON.stringify(answer).slice(0, 200)}`);
  }
});

Deno.test("one token holds at most 8 log streams at once; closing one frees its place", async () => {
  await using cluster = await startCluster({ workers: 1 });
  const task = await cluster.submit({ Name: "chatty", Image: SLEEP_IMAGE });
  await cluster.waitForState(task.ID, State.Running);
  const reader = (await request(`${cluster.url}/tokens`, { body: { Role: "reader" } })).body.Token;
  const client = Deno.createHttpClient({ caCerts: [cluster.manager.caPem] });
  const follow = (token: string, signal: AbortSignal) =>
    fetch(`${cluster.url}/tasks/${task.ID}/logs?follow=1`, {
      client,
      signal,
      headers: { authorization: `Bearer ${token}` },
    });
  // A stream a client leaves: its body cancelled, which closes the connection (an
  // abandoned, unread body would hold it until garbage collection).
  const streams: Response[] = [];
  try {
    for (let i = 0; i < 8; i++) {
      const response = await follow(reader, new AbortController().signal);
      streams.push(response);
      assert.equal(response.status, 200);
    }
    const ninth = await follow(reader, AbortSignal.timeout(5_000));
    assert.equal(ninth.status, 429);
    assert.match((await ninth.json()).Message, /has 8 log streams open already/);
    // Another token has places of its own.
    const admin = await follow(cluster.adminToken, AbortSignal.timeout(5_000));
    assert.equal(admin.status, 200);
    await admin.body?.cancel();
    await streams.shift()!.body?.cancel();
    await waitFor("a place to be freed", async () => {
      const response = await follow(reader, new AbortController().signal);
      if (response.status === 200) {
        streams.push(response);
        return true;
      }
      await response.body?.cancel();
      return false;
    });
  } finally {
    for (const response of streams) await response.body?.cancel();
    client.close();
  }
});
