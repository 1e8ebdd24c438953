/**
 * The `cube` CLI as a user drives it: `cube manager` and `cube worker` run as real
 * processes on free loopback ports, every command runs as `deno run main.ts ...`, and
 * output and exit codes are checked. The first test is the README's walk-through.
 */
import assert from "node:assert/strict";
import { bookTaskEvent } from "../../testing/nodes.ts";
import { State } from "../../task/mod.ts";
import {
  docker,
  HTTP_IMAGE,
  removeContainersOf,
  SLEEP_IMAGE,
  uniqueName,
} from "../../testing/docker.ts";
import {
  type CubeProcess,
  spawnCube,
  trustManagerDir,
  waitForHealth,
} from "../../testing/process.ts";
import { freePort, request, tempDir, waitFor } from "../../testing/wait.ts";

const MAIN = new URL("../../main.ts", import.meta.url).pathname;

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the CLI; its contexts are `env.XDG_CONFIG_HOME`'s, never the user's. */
async function cube(args: string[], env: Record<string, string> = {}): Promise<Result> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", MAIN, ...args],
    env: { XDG_CONFIG_HOME: "/nonexistent/cube-test-config", ...env },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const decoder = new TextDecoder();
  return { code: out.code, stdout: decoder.decode(out.stdout), stderr: decoder.decode(out.stderr) };
}

interface Cluster extends AsyncDisposable {
  url: string;
  env: Record<string, string>;
  worker: string;
  dir: string;
}

async function startProcesses(): Promise<Cluster> {
  const dir = await tempDir();
  const managerPort = freePort();
  const workerPort = freePort();
  const url = `https://127.0.0.1:${managerPort}`;
  const worker = uniqueName("cli");
  const processes: CubeProcess[] = [];
  // The CLI's contexts live here: the manager's first start adds one, and every command
  // below finds the manager, its CA and the admin token through it, with no flags.
  const env = { XDG_CONFIG_HOME: `${dir.path}/config` };
  processes.push(spawnCube([
    "manager",
    "-H",
    "127.0.0.1",
    "-p",
    String(managerPort),
    "--dir",
    `${dir.path}/manager`,
  ], env));
  const trusted = await trustManagerDir(url, `${dir.path}/manager`, processes[0]);
  await waitForHealth(url, processes[0]);
  const joinToken = (await request(`${url}/tokens/join`)).body.Token;
  processes.push(spawnCube([
    "worker",
    "-H",
    "127.0.0.1",
    "-p",
    String(workerPort),
    "-n",
    worker,
    "--dir",
    `${dir.path}/worker`,
    "--publish-ip",
    "127.0.0.1",
    "--pull",
    "missing",
    "--stop-grace",
    "1",
    "--manager",
    url,
    "--join-token",
    joinToken,
  ], env));
  await waitFor("the worker to join", async () => {
    const { body } = await request(`${url}/nodes`);
    return body.length === 1 && body[0].Status === "ready";
  }, { timeoutMs: 30_000 });
  return {
    url,
    env,
    worker,
    dir: dir.path,
    async [Symbol.asyncDispose]() {
      for (const p of processes.reverse()) await p.stop();
      trusted[Symbol.dispose]();
      await removeContainersOf(worker);
      await dir[Symbol.asyncDispose]();
    },
  };
}

Deno.test("the README walk-through: run, status, logs, nodes, a failing health check, stop", async () => {
  await using cluster = await startProcesses();
  const port = freePort();
  const web = await cube([
    "run",
    HTTP_IMAGE,
    "--name",
    "web",
    "-p",
    `${port}:80`,
    "--health",
    "/health",
  ], cluster.env);
  assert.equal(web.code, 0, web.stderr);
  const webId = web.stdout.trim();
  assert.match(webId, /^[0-9a-f-]{36}$/);

  const status = await cube(["status"], cluster.env);
  assert.equal(status.code, 0, status.stderr);
  assert.match(
    status.stdout,
    new RegExp(`^${webId}\\s+web\\s+\\d+ seconds? ago\\s+Running\\s+cube-web-`, "m"),
  );

  assert.equal(await (await fetch(`http://127.0.0.1:${port}/`)).text(), "hello from cube\n");
  const logs = await cube(["logs", "web"], cluster.env);
  assert.equal(logs.code, 0, logs.stderr);
  assert.match(logs.stdout, /^listening on :80\nGET \/ -> 200$/m);

  const nodes = await cube(["nodes"], cluster.env);
  assert.match(
    nodes.stdout,
    new RegExp(`${cluster.worker}\\s+ready\\s+active\\s+0/\\d+ cores.*\\s1\\s+-$`, "m"),
  );

  const sick = await cube([
    "run",
    HTTP_IMAGE,
    "--name",
    "sick",
    "--health",
    "/healthfail",
    "--health-interval",
    "0.3",
    "--health-retries",
    "2",
    "--max-restarts",
    "2",
  ], cluster.env);
  assert.equal(sick.code, 0, sick.stderr);
  const sickId = sick.stdout.trim();
  await waitFor("sick to give up", async () => {
    const { body } = await request(`${cluster.url}/tasks/${sickId}`);
    return body.State === State.Failed && /gave up/.test(body.Error);
  }, { timeoutMs: 30_000 });
  const story = await cube(["status", "sick"], cluster.env);
  assert.equal(story.code, 0, story.stderr);
  assert.match(story.stdout, /State:\s+Failed/);
  assert.match(story.stdout, /Restarts:\s+2 of 2 \(policy: on-failure\)/);
  assert.match(
    story.stdout,
    /Error:\s+health check GET \/healthfail failed 2 times in a row: HTTP 500; gave up after 2 restarts/,
  );
  assert.match(
    story.stdout,
    /restart 1\/2 on .* after: health check GET \/healthfail failed 2 times in a row: HTTP 500/,
  );
  assert.match(story.stdout, /restart 2\/2 on /);

  const stop = await cube(["stop", "web"], cluster.env);
  assert.equal(stop.code, 0, stop.stderr);
  assert.equal(stop.stdout.trim(), `${webId} Completed`);
  const after = await cube(["status"], cluster.env);
  assert.match(after.stdout, new RegExp(`^${webId}\\s+web\\s+.*Completed`, "m"));
  assert.match(after.stdout, new RegExp(`^${sickId}\\s+sick\\s+.*Failed`, "m"));
  const unknown = await cube(["stop", "nope"], cluster.env);
  assert.equal(unknown.code, 1);
  assert.equal(
    unknown.stderr.trim(),
    `cube: no task matches "nope" (by ID, ID prefix or name); see 'cube status'`,
  );
});

Deno.test("the book's task.json runs with cube run -f; status, nodes, logs and stop take IDs, prefixes and names", async () => {
  await using cluster = await startProcesses();
  const id = crypto.randomUUID();
  const file = `${cluster.dir}/task.json`;
  await Deno.writeTextFile(
    file,
    JSON.stringify(bookTaskEvent(id, HTTP_IMAGE)),
  );
  const run = await cube(["run", "-f", file], cluster.env);
  assert.equal(run.code, 0, run.stderr);
  assert.equal(run.stdout.trim(), id);

  const status = await cube(["status"], cluster.env);
  assert.equal(status.code, 0, status.stderr);
  const [header, row] = status.stdout.trim().split("\n");
  assert.match(header, /^ID\s+NAME\s+CREATED\s+STATE\s+CONTAINERNAME\s+IMAGE\s+NODE$/);
  assert.match(
    row,
    new RegExp(
      `^${id}\\s+test-chapter-5-1\\s+\\d+ seconds? ago\\s+Running\\s+cube-test-chapter-5-1-${
        id.slice(0, 8)
      }-\\w+\\s+${HTTP_IMAGE}\\s+${cluster.worker}$`,
    ),
  );

  const one = await cube(["status", "test-chapter-5-1"], cluster.env);
  assert.equal(one.code, 0, one.stderr);
  assert.match(one.stdout, /State:\s+Running/);
  assert.match(one.stdout, /Ports:\s+127\.0\.0\.1:\d+->80\/tcp/);
  assert.match(
    one.stdout,
    /Events:\nTIME\s+STATE\s+NODE\s+MESSAGE\n.*Pending.*submitted\n.*Scheduled.*placed on/,
  );

  const byPrefix = await cube(["status", id.slice(0, 6), "--json"], cluster.env);
  assert.equal(byPrefix.code, 0, byPrefix.stderr);
  const json = JSON.parse(byPrefix.stdout);
  assert.equal(json.ID, id);
  assert.equal(json.State, State.Running);
  assert.ok(Array.isArray(json.Events));

  const nodes = await cube(["nodes"], cluster.env);
  assert.equal(nodes.code, 0, nodes.stderr);
  assert.match(
    nodes.stdout,
    /^NAME\s+STATUS\s+AVAILABILITY\s+CPU\s+MEMORY\s+DISK\s+TASKS\s+LABELS\n/,
  );
  const memTotalKb = Number(
    (await Deno.readTextFile("/proc/meminfo")).match(/^MemTotal:\s+(\d+)/m)![1],
  );
  const gib = (memTotalKb / 1024 / 1024).toFixed(1).replace(/\.0$/, "");
  assert.match(
    nodes.stdout,
    new RegExp(
      `${cluster.worker}\\s+ready\\s+active\\s+0/\\d+ cores\\s+0 B/${gib} GiB\\s+0 B/\\d+(\\.\\d)? [GT]iB\\s+1`,
    ),
  );
  assert.equal((await cube(["node"], cluster.env)).code, 0, "the alias works");

  const task = (await request(`${cluster.url}/tasks/${id}`)).body;
  const port = task.HostPorts["80/tcp"][0].HostPort;
  assert.equal(await (await fetch(`http://127.0.0.1:${port}/health`)).text(), "ok\n");
  const logs = await cube(["logs", id.slice(0, 8)], cluster.env);
  assert.equal(logs.code, 0, logs.stderr);
  assert.match(logs.stdout, /listening on :80\nGET \/health -> 200/);

  const stop = await cube(["stop", id], cluster.env);
  assert.equal(stop.code, 0, stop.stderr);
  assert.equal(stop.stdout.trim(), `${id} Completed`);
  await assert.rejects(docker.getContainer(task.ContainerID).inspect(), /no such container/i);
});

Deno.test("cube run IMAGE takes ports, env, requests and a command; logs -f shows later output; cube events shows its story and follows it", async () => {
  await using cluster = await startProcesses();
  const hostPort = freePort();
  const run = await cube([
    "run",
    SLEEP_IMAGE,
    "--name",
    "talker",
    "-p",
    `127.0.0.1:${hostPort}:80`,
    "-e",
    "GREETING=hi",
    "--memory",
    "64m",
    "--cpu",
    "0.5",
    "--",
    "/bin/sh",
    "-c",
    'echo "$GREETING ready"; while ! [ -e /go ]; do sleep 0.1; done; echo after-start; sleep 600',
  ], cluster.env);
  assert.equal(run.code, 0, run.stderr);
  const id = run.stdout.trim();
  const task = (await request(`${cluster.url}/tasks/${id}`)).body;
  assert.equal(task.Name, "talker");
  assert.equal(task.Memory, 64 * 1024 * 1024);
  assert.equal(task.Cpu, 0.5);
  assert.deepEqual(task.PortBindings, { "80/tcp": `127.0.0.1:${hostPort}` });
  assert.deepEqual(task.HostPorts["80/tcp"], [{ HostIp: "127.0.0.1", HostPort: String(hostPort) }]);

  const follower = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", MAIN, "logs", "-f", "talker"],
    env: cluster.env,
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let seen = "";
  const reader = (async () => {
    for await (const chunk of follower.stdout.pipeThrough(new TextDecoderStream())) seen += chunk;
  })();
  const stderr = new Response(follower.stderr).text();
  try {
    await waitFor("the first line", () => seen.includes("hi ready"), { timeoutMs: 20_000 });
    assert.ok(!seen.includes("after-start"));
    await (await docker.getContainer(task.ContainerID).exec({
      Cmd: ["/bin/sh", "-c", "echo > /go"],
    }))
      .start({});
    await waitFor("a line printed after logs -f started", () => seen.includes("after-start"), {
      timeoutMs: 20_000,
    });
  } finally {
    follower.kill("SIGINT");
    await follower.status;
    await reader;
    await stderr;
  }

  // cube events: the task's story so far, as lines and as JSON; -f shows its stop live.
  const events = await cube(["events", "--task", "talker"], cluster.env);
  assert.equal(events.code, 0, events.stderr);
  assert.match(
    events.stdout,
    /^\s*\d+ \S+ task\s+Pending\s+talker \(\w{8}\): submitted\n.*task\s+Scheduled\s+talker .* on \S+: placed on \S+ by epvm\n.*task\s+Running/m,
  );
  const json = await cube(["events", "--task", id, "--json"], cluster.env);
  const lines = json.stdout.trim().split("\n").map((l) => JSON.parse(l));
  assert.deepEqual(lines.map((e) => e.Action), ["Pending", "Scheduled", "Running"]);
  assert.ok(lines.every((e) => e.Task === id));
  const watcher = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      MAIN,
      "events",
      "-f",
      "--task",
      "talker",
      "--since",
      String(lines[2].Index),
    ],
    env: cluster.env,
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let live = "";
  const watching = (async () => {
    for await (const chunk of watcher.stdout.pipeThrough(new TextDecoderStream())) live += chunk;
  })();
  const watcherErr = new Response(watcher.stderr).text();
  try {
    assert.equal((await cube(["stop", "talker"], cluster.env)).code, 0);
    await waitFor("the stop in the stream", () => /task\s+Completed\s+talker/.test(live), {
      timeoutMs: 20_000,
    });
    assert.ok(!live.includes("Pending"), "only what came after --since");
  } finally {
    watcher.kill("SIGINT");
    await watcher.status;
    await watching;
    await watcherErr;
  }
  const bad = await cube(["events", "--type", "pods"], cluster.env);
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /Invalid type: "pods" is not one of task, service, node/);
});

Deno.test("every mistake gets a clear message and a non-zero exit", async () => {
  await using cluster = await startProcesses();
  const malformed = `${cluster.dir}/bad.json`;
  await Deno.writeTextFile(malformed, "{ not json");
  const typo = `${cluster.dir}/typo.json`;
  await Deno.writeTextFile(typo, JSON.stringify({ Task: { Imagee: "x" } }));
  const downPort = freePort();
  const cases: Array<[string[], RegExp, Record<string, string>?]> = [
    [["run", "--bogus"], /unknown option '--bogus'/],
    [["run"], /nothing to run: give an IMAGE or -f task.json/],
    [["run", "-f", `${cluster.dir}/missing.json`], /task file ".*missing\.json" not found/],
    [["run", "-f", malformed], /task file ".*bad\.json" is not valid JSON/],
    [["run", "-f", typo], /Task\.Imagee: unknown field \(did you mean "Image"\?\)/],
    [["run", "x", "-p", "eighty"], /invalid --publish "eighty"/],
    [["run", "x", "--memory", "lots"], /"lots" is not a size/],
    [["status", "nope"], /no task matches "nope"/],
    [["stop", crypto.randomUUID()], /no task matches/],
    [["logs", "nope"], /no task matches "nope"/],
    [["manager", "--scheduler", "random"], /Allowed choices are epvm, roundrobin/],
    [["frobnicate"], /unknown command 'frobnicate'/],
    [
      ["status"],
      new RegExp(
        `cannot reach the manager at https://127\\.0\\.0\\.1:${downPort}: connection refused — is 'cube manager' running\\?`,
      ),
      { CUBE_MANAGER: `https://127.0.0.1:${downPort}` },
    ],
    // The three TLS and token mistakes, each one line that says what to do.
    [
      ["status"],
      /refused the token: The token is not valid \(log in with 'cube login/,
      { ...cluster.env, CUBE_TOKEN: `cube_000000000000_${"x".repeat(43)}` },
    ],
    [
      ["status", "--manager", cluster.url],
      /its certificate is not from a CA this client trusts \(give the cluster's ca\.pem\)/,
      { XDG_CONFIG_HOME: `${cluster.dir}/elsewhere` },
    ],
    [
      ["status", "--manager", cluster.url.replace("https:", "http:")],
      /it speaks HTTPS, not plain HTTP: use https:\/\//,
      { XDG_CONFIG_HOME: `${cluster.dir}/elsewhere` },
    ],
    [
      ["status", "--manager", cluster.url, "--ca", `${cluster.dir}/manager/ca.pem`],
      /refused a call without a token: A token is required/,
      { XDG_CONFIG_HOME: `${cluster.dir}/elsewhere` },
    ],
    [["token", "create", "--role", "root"], /Allowed choices are admin, operator, reader/],
    [["worker", "-H", "0.0.0.0", "-p", "0"], /Refusing to serve the open API on 0\.0\.0\.0/],
    [["worker", "--manager", cluster.url], /without a join token: pass --join-token/],
    [
      ["worker", "-p", "0"],
      /Invalid worker store "etcd:\/\/127\.0\.0\.1:1\/x": etcd is for managers; .*unset CUBE_STORE/,
      { CUBE_STORE: "etcd://127.0.0.1:1/x" },
    ],
    [
      [
        "worker",
        "--manager",
        cluster.url,
        "--join-token",
        `CUBEJOIN-1-${"0".repeat(64)}-${"x".repeat(43)}`,
        "--dir",
        `${cluster.dir}/w2`,
      ],
      /Refusing to join .*: its CA \(sha256 .*\) is not the one in the join token .*A man in the middle/,
    ],
  ];
  for (const [args, message, env] of cases) {
    const result = await cube(args, env ?? cluster.env);
    assert.notEqual(result.code, 0, `cube ${args.join(" ")} should fail`);
    assert.match(result.stderr, message, `cube ${args.join(" ")}`);
    assert.doesNotMatch(result.stderr, /\n\s+at /, "no stack trace");
  }
  const failing = await cube(
    ["run", "cube-test/fail", "--name", "crash", "--max-restarts", "0"],
    cluster.env,
  );
  assert.equal(failing.code, 1);
  assert.match(failing.stderr, /task [0-9a-f]{8} Failed: container exited with code 3/);
  const version = await cube(["--version"]);
  assert.equal(version.code, 0);
  assert.match(version.stdout, /^\d+\.\d+\.\d+/);
  const help = await cube(["run", "--help"]);
  assert.equal(help.code, 0);
  assert.match(help.stdout, /--publish <spec>/);
});

Deno.test("cube sim joins simulated nodes to a manager; cube run places tasks on them", async () => {
  await using dir = await tempDir();
  const port = freePort();
  const url = `https://127.0.0.1:${port}`;
  const env = { XDG_CONFIG_HOME: `${dir.path}/config` };
  await using manager = spawnCube([
    ...["manager", "-H", "127.0.0.1", "-p", String(port), "--dir", dir.path],
    ...["--scheduler", "roundrobin"],
  ], env);
  using _trusted = await trustManagerDir(url, dir.path, manager);
  await waitForHealth(url, manager);
  const join = await cube(["token", "join"], env);
  assert.equal(join.code, 0, join.stderr);
  await using sim = spawnCube(["sim", "--nodes", "3", "--prefix", "fake", "--memory", "2g"], {
    CUBE_MANAGER: url,
    CUBE_JOIN_TOKEN: join.stdout.trim(),
  });
  await waitFor("three simulated nodes", async () => {
    const { body } = await request(`${url}/nodes`);
    return body.filter((n: { Status: string }) => n.Status === "ready").length === 3;
  }, { timeoutMs: 30_000 });
  assert.match(sim.output(), /cube sim: 3 simulated nodes \(fake-1 \.\. fake-3\) at https:\/\//);

  const nodes = await cube(["nodes"], env);
  assert.equal(nodes.code, 0, nodes.stderr);
  assert.match(
    nodes.stdout,
    /^fake-1\s+ready\s+active\s+0\/4 cores\s+0 B\/2 GiB\s+0 B\/100 GiB\s+0\s+-$/m,
  );
  // Nodes as an operator changes them: a label a constraint then matches, pause, activate.
  const label = await cube(["node", "label", "fake-3", "zone=z", "rack=r"], env);
  assert.equal(label.stdout.trim(), "fake-3 zone=z,rack=r", label.stderr);
  assert.equal(
    (await cube(["node", "label", "fake-3", "rack-"], env)).stdout.trim(),
    "fake-3 zone=z",
  );
  const pinned = await cube([
    "run",
    "any/image",
    "--name",
    "z",
    "--constraint",
    "node.labels.zone==z",
  ], env);
  assert.equal(pinned.code, 0, pinned.stderr);
  assert.match((await cube(["status", "z"], env)).stdout, /^Node:\s+fake-3$/m);
  assert.equal((await cube(["node", "pause", "fake-1"], env)).stdout.trim(), "fake-1 pause");
  assert.match((await cube(["node"], env)).stdout, /^fake-1\s+ready\s+pause\s/m);
  assert.equal((await cube(["node", "activate", "fake-1"], env)).stdout.trim(), "fake-1 active");
  assert.match(
    (await cube(["node", "label", "fake-1", "=x"], env)).stderr,
    /invalid label change "=x"/,
  );
  const ids = [];
  for (const name of ["a", "b"]) {
    const run = await cube(["run", "any/image", "--name", name], env);
    assert.equal(run.code, 0, run.stderr);
    ids.push(run.stdout.trim());
  }
  const status = await cube(["status"], env);
  assert.match(status.stdout, new RegExp(`^${ids[0]}\\s+a\\s+.*Running.*fake-1$`, "m"));
  assert.match(status.stdout, new RegExp(`^${ids[1]}\\s+b\\s+.*Running.*fake-2$`, "m"));
  const stop = await cube(["stop", "a"], env);
  assert.equal(stop.stdout.trim(), `${ids[0]} Completed`);

  // A service: created and waited for, listed, its tasks, scaled, removed.
  const created = await cube([
    ...["service", "create", "web", "any/image", "--replicas", "6"],
    ...["--update-parallelism", "2", "--update-monitor", "0"],
  ], env);
  assert.equal(created.code, 0, created.stderr);
  assert.equal(created.stdout.trim(), "web");
  assert.match((await cube(["service", "ls"], env)).stdout, /^web\s+6\/6\s+any\/image\s+1\s+-\s/m);
  const ps = (await cube(["service", "ps", "web"], env)).stdout;
  for (const node of ["fake-1", "fake-2", "fake-3"]) {
    assert.equal(ps.split(node).length - 1, 2, `two replicas on ${node}:\n${ps}`);
  }
  assert.match(ps, /^[0-9a-f]{8}\s+web\.1\s+1\s+Running\s+fake-\d/m);
  const scaled = await cube(["service", "scale", "web", "2"], env);
  assert.equal(scaled.stdout.trim(), "web scaled to 2", scaled.stderr);
  assert.match((await cube(["service", "ls"], env)).stdout, /^web\s+2\/2\s/m);
  const inspect = JSON.parse((await cube(["service", "inspect", "web"], env)).stdout);
  assert.equal(inspect.Spec.Replicas, 2);
  assert.equal(inspect.Spec.Task.Image, "any/image");
  const update = await cube(
    ["service", "update", "web", "--env", "V=2", "--image", "other/image"],
    env,
  );
  assert.equal(update.stdout.trim(), "web version 2", update.stderr);
  const v2 = JSON.parse((await cube(["service", "inspect", "web"], env)).stdout);
  assert.deepEqual([v2.Spec.Task.Image, v2.Spec.Task.Env, v2.UpdateStatus.State], [
    "other/image",
    ["V=2"],
    "completed",
  ]);
  assert.equal((await cube(["service", "rollback", "web"], env)).stdout.trim(), "web version 3");
  assert.match(
    (await cube(["service", "ls"], env)).stdout,
    /^web\s+2\/2\s+any\/image\s+3\s+rolled back\s/m,
  );
  assert.equal((await cube(["service", "restart", "web"], env)).stdout.trim(), "web version 4");
  // A spec file is the source of truth: apply creates, changes, and is idempotent.
  const file = `${dir.path}/api.json`;
  const spec = {
    Name: "api",
    Replicas: 2,
    Task: { Image: "any/image" },
    UpdateConfig: { Monitor: 0 },
  };
  await Deno.writeTextFile(file, JSON.stringify(spec));
  assert.equal((await cube(["apply", "-f", file], env)).stdout.trim(), "api created");
  assert.equal((await cube(["apply", "-f", file], env)).stdout.trim(), "api unchanged");
  await Deno.writeTextFile(file, JSON.stringify({ ...spec, Task: { Image: "any/image:2" } }));
  const applied = await cube(["apply", "-f", file], env);
  assert.equal(applied.stdout.trim(), "api updated to version 2", applied.stderr);
  await Deno.writeTextFile(
    file,
    JSON.stringify({ ...spec, Replicas: 3, Task: { Image: "any/image:2" } }),
  );
  assert.equal((await cube(["apply", "-f", file], env)).stdout.trim(), "api scaled");
  assert.match((await cube(["service", "ls"], env)).stdout, /^api\s+3\/3\s+any\/image:2\s+2\s/m);
  await Deno.writeTextFile(file, JSON.stringify({ ...spec, Replicas: "many" }));
  assert.match((await cube(["apply", "-f", file], env)).stderr, /Invalid service: Replicas/);
  assert.equal((await cube(["service", "rm", "web"], env)).stdout.trim(), "web removed");
  const missing = await cube(["service", "ps", "web"], env);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /Service web not found/);

  const bad = await cube(["sim", "--nodes", "0", "--join-token", "x"]);
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /"0" is not a whole number of nodes \(1 or more\)/);
});

Deno.test("tokens, login and contexts: a reader context reads and cannot run; revoking cuts it off", async () => {
  await using cluster = await startProcesses();
  const env = cluster.env;
  const created = await cube([
    "token",
    "create",
    "--role",
    "reader",
    "--name",
    "ci",
    "--ttl",
    "30d",
  ], env);
  assert.equal(created.code, 0, created.stderr);
  const token = created.stdout.trim();
  assert.match(token, /^cube_[0-9a-f]{12}_[A-Za-z0-9_-]{43}$/);
  assert.match(created.stderr, /\(reader, expires .*\): keep it now, it is not shown again/);

  const login = await cube([
    ...["login", cluster.url, "--token", token],
    ...["--ca", `${cluster.dir}/manager/ca.pem`, "--name", "ro"],
  ], env);
  assert.equal(login.code, 0, login.stderr);
  assert.match(login.stdout, /logged in to https:\/\/127\.0\.0\.1:\d+ as context "ro"/);
  const contexts = await cube(["context", "ls"], env);
  assert.match(contexts.stdout, /^\*\s+ro\s+https:\/\/127\.0\.0\.1:\d+\s+yes\s+yes$/m);
  assert.match(contexts.stdout, /^\s+local\s+https:\/\/127\.0\.0\.1:\d+\s+yes\s+yes$/m);
  const config = `${cluster.dir}/config/cube/config.json`;
  assert.equal((await Deno.stat(config)).mode! & 0o777, 0o600);

  assert.equal((await cube(["status"], env)).code, 0);
  const refused = await cube(["run", SLEEP_IMAGE, "-d"], env);
  assert.equal(refused.code, 1);
  assert.match(refused.stderr, /A reader token may not POST \/tasks: it may only read/);
  assert.match((await cube(["token", "ls"], env)).stderr, /managing tokens takes an admin token/);

  assert.equal((await cube(["context", "use", "local"], env)).code, 0);
  const listed = await cube(["token", "ls"], env);
  assert.match(listed.stdout, /^[0-9a-f]{12}\s+ci\s+reader\s+-\s+.*\s+active$/m);
  const id = token.split("_")[1];
  const revoke = await cube(["token", "revoke", id], env);
  assert.equal(revoke.stdout.trim(), `revoked ${id} (ci)`);
  const cut = await cube(["status", "--token", token], env);
  assert.equal(cut.code, 1);
  assert.match(cut.stderr, new RegExp(`refused the token: Token ${id} was revoked`));
  assert.match((await cube(["context", "use", "nope"], env)).stderr, /no context "nope" \(known: /);

  const join = (await cube(["token", "join"], env)).stdout.trim();
  assert.match(join, /^CUBEJOIN-1-[0-9a-f]{64}-[A-Za-z0-9_-]{43}$/);
  const rotated = await cube(["token", "join", "--rotate"], env);
  assert.match(rotated.stdout.trim(), /^CUBEJOIN-1-/);
  assert.notEqual(rotated.stdout.trim(), join);
  assert.equal(join.split("-")[2], rotated.stdout.trim().split("-")[2], "the same CA digest");
});
