/**
 * The benchmarks cannot rot: `deno task bench --quick` runs every scenario at a small
 * size against the real engine and must finish cleanly. Timings are not asserted.
 */
import assert from "node:assert/strict";
import { docker } from "../../testing/docker.ts";
import { LABEL_WORKER } from "../../worker/docker_runtime.ts";

const MAIN = new URL("../../bench/main.ts", import.meta.url).pathname;

async function bench(args: string[]) {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", MAIN, ...args],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const decode = (b: Uint8Array) => new TextDecoder().decode(b);
  return { code: out.code, stdout: decode(out.stdout), stderr: decode(out.stderr) };
}

Deno.test("every benchmark scenario runs in quick mode and prints its table", async () => {
  const { code, stdout, stderr } = await bench(["--quick"]);
  assert.equal(code, 0, stdout + stderr);
  for (
    const title of [
      /== Submit to Running vs the Docker API/,
      /cube joined, N=5 .* \d+\.\d\dx/,
      /cube static, N=5 .* \d+\.\d\dx/,
      /== Healing/,
      /manager killed -9 \(6 tasks\) .* 6\/6 containers untouched/,
      /0 tasks started twice/,
      /== Scheduler throughput/,
      /epvm --score-limit 2 +[\d,]+ +[\d,]+ +[\d,]+/,
      /== Control plane at scale: 50 simulated nodes, 500 tasks/,
      /Running in the manager \/ started on nodes +500 \/ 500/,
      /== API throughput/,
      /== What TLS, tokens and the slow-client guard cost/,
      /== Services: a rolling update of 4 replicas; 500 replicas on 50 simulated nodes/,
      /fewest replicas Running during it\s+\d of 4\s+≥ 2: met/,
      /GET \/tasks\/\{id\} requests\/s\s+\d+\s+\d+\s+[\d.]+x/,
      /GET \/tasks\/\{id\} +\d+ /,
      /== Several managers on etcd: failover over 2 kills/,
      /kill -9 of the leader → another accepts a task: median \/ max\s+\d+ ms \/ \d+ ms/,
      /POST \/tasks per second .* KV \/ etcd\s+\d+ \/ \d+\s+etcd\/KV [\d.]+x/,
    ]
  ) assert.match(stdout, title);
  assert.doesNotMatch(stdout, /FAILED/);
  // Cleaned up after itself: no benchmark container is left on the engine.
  const left = (await docker.listContainers({ all: true })).filter((c) =>
    c.Labels["cube.bench"] || /^(heal|c)-/.test(c.Labels[LABEL_WORKER] ?? "") &&
      /^\/cube-(heal|bench)-/.test(c.Names[0])
  );
  assert.deepEqual(left.map((c) => c.Names[0]), []);
});

Deno.test("the bench refuses an unknown scenario or a bad size with one line", async () => {
  const unknown = await bench(["--only", "speed"]);
  assert.equal(unknown.code, 2);
  assert.equal(
    unknown.stderr.trim(),
    'bench: unknown scenario "speed" (expected: submit, healing, scheduler, scale, api, security, services, managers)',
  );
  const bad = await bench(["--n", "ten"]);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /--n takes positive whole numbers/);
});
