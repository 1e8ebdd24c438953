/**
 * `GET /metrics` on the manager and the worker: the output passes `promtool check
 * metrics`, holds what happened (a task placed and started, requests by route), and a
 * real Prometheus scrapes both over TLS (the manager with a reader token) and answers
 * queries about them.
 */
import assert from "node:assert/strict";
import { State } from "../../task/mod.ts";
import { startCluster } from "../../testing/cluster.ts";
import { SLEEP_IMAGE } from "../../testing/docker.ts";
import { freePort, request, tempDir, trustedFetch, waitFor } from "../../testing/wait.ts";

async function promtool(text: string): Promise<{ code: number; output: string }> {
  const child = new Deno.Command("promtool", {
    args: ["check", "metrics"],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode(text));
  await writer.close();
  const out = await child.output();
  const decoder = new TextDecoder();
  return { code: out.code, output: decoder.decode(out.stdout) + decoder.decode(out.stderr) };
}

/** The value of the sample `name` with (at least) these labels, or undefined. */
function sample(text: string, name: string, labels: Record<string, string> = {}) {
  const pairs = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
  const line = text.split("\n").find((l) =>
    l.startsWith(`${name}{`) && pairs.every((pair) => l.includes(pair))
  );
  return line === undefined ? undefined : Number(line.split(" ").at(-1));
}

Deno.test("the manager's and the worker's metrics pass promtool and say what happened", async () => {
  await using cluster = await startCluster({ workers: 1 });
  const [worker] = [...cluster.workers.values()];
  const task = await cluster.submit({ Name: "counted", Image: SLEEP_IMAGE });
  await cluster.waitForState(task.ID, State.Running);

  const managerText = await (await trustedFetch(`${cluster.url}/metrics`)).text();
  const checked = await promtool(managerText);
  assert.equal(checked.code, 0, checked.output);
  assert.equal(sample(managerText, "cube_tasks", { state: "Running", role: "manager" }), 1);
  assert.equal(sample(managerText, "cube_nodes", { status: "ready", availability: "active" }), 1);
  assert.equal(sample(managerText, "cube_placement_latency_seconds_count"), 1);
  assert.ok(sample(managerText, "cube_store_commit_seconds_count")! >= 3);
  const posts = { route: "/tasks", method: "POST", status: "201" };
  assert.equal(sample(managerText, "cube_http_request_duration_seconds_count", posts), 1);
  assert.ok(sample(managerText, "process_resident_memory_bytes")! > 1e6);
  // Readers may scrape; nobody else.
  assert.equal((await request(`${cluster.url}/metrics`, { token: null })).status, 401);

  // The worker's metrics are open (counts and latencies), like its /health.
  const client = Deno.createHttpClient({
    caCerts: [await Deno.readTextFile(`${cluster.dir}/node-ca.pem`)],
  });
  try {
    const response = await fetch(`${worker.url}/metrics`, { client });
    assert.equal(response.status, 200);
    const workerText = await response.text();
    const workerChecked = await promtool(workerText);
    assert.equal(workerChecked.code, 0, workerChecked.output);
    for (const phase of ["image", "create", "start"]) {
      assert.equal(sample(workerText, "cube_container_start_seconds_count", { phase }), 1, phase);
    }
  } finally {
    client.close();
  }
});

Deno.test("a real Prometheus scrapes the manager and the worker and answers queries about them", async () => {
  await using cluster = await startCluster({ workers: 1 });
  const [worker] = [...cluster.workers.values()];
  const task = await cluster.submit({ Name: "scraped", Image: SLEEP_IMAGE });
  await cluster.waitForState(task.ID, State.Running);
  await using dir = await tempDir();
  const reader = await cluster.manager.createToken("reader", "prometheus");
  await Deno.writeTextFile(`${dir.path}/token`, reader);
  const target = (url: string) => new URL(url).host;
  await Deno.writeTextFile(
    `${dir.path}/prometheus.yml`,
    `global:
  scrape_interval: 1s
scrape_configs:
  - job_name: cube-manager
    scheme: https
    tls_config: { ca_file: ${cluster.dir}/ca.pem }
    authorization: { credentials_file: ${dir.path}/token }
    static_configs: [{ targets: ["${target(cluster.url)}"] }]
  - job_name: cube-worker
    scheme: https
    tls_config: { ca_file: ${cluster.dir}/node-ca.pem }
    static_configs: [{ targets: ["${target(worker.url)}"] }]
`,
  );
  const port = freePort();
  const prometheus = new Deno.Command("prometheus", {
    args: [
      `--config.file=${dir.path}/prometheus.yml`,
      `--storage.tsdb.path=${dir.path}/data`,
      `--web.listen-address=127.0.0.1:${port}`,
    ],
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const log = new Response(prometheus.stderr).text();
  const query = async (q: string) => {
    const response = await fetch(
      `http://127.0.0.1:${port}/api/v1/query?query=${encodeURIComponent(q)}`,
    );
    const body = await response.json();
    return body.data?.result as Array<{ metric: Record<string, string>; value: [number, string] }>;
  };
  try {
    const up = await waitFor("both targets up", async () => {
      const result = await query("up").catch(() => []);
      return result?.length === 2 && result.every((r) => r.value[1] === "1") ? result : undefined;
    }, { timeoutMs: 30_000, intervalMs: 250 });
    assert.deepEqual(up.map((r) => r.metric.job).sort(), ["cube-manager", "cube-worker"]);
    const running = await query('cube_tasks{state="Running"}');
    assert.equal(running.length, 1);
    assert.equal(running[0].value[1], "1");
    const starts = await query("sum(cube_container_start_seconds_count)");
    assert.equal(starts[0].value[1], "3", "one start, three phases");
  } finally {
    prometheus.kill("SIGTERM");
    await prometheus.status;
    await log;
  }
});
