import assert from "node:assert/strict";
import {
  createScheduler,
  Epvm,
  LIEB,
  marginalCost,
  place,
  RoundRobin,
} from "../../scheduler/mod.ts";
import { newTask } from "../../task/mod.ts";
import { fakeNode } from "../../testing/nodes.ts";

const GiB = 1024 ** 3;

Deno.test("round-robin visits feasible nodes in exact order and wraps", () => {
  const rr = new RoundRobin();
  const nodes = [fakeNode("c"), fakeNode("a"), fakeNode("b")];
  const picks = Array.from({ length: 7 }, () => {
    const placed = place(rr, newTask({ Image: "x" }), nodes);
    assert.ok(placed.node);
    return placed.node.Name;
  });
  assert.deepEqual(picks, ["a", "b", "c", "a", "b", "c", "a"]);
});

Deno.test("round-robin skips a node that is down instead of picking it", () => {
  const rr = new RoundRobin();
  const nodes = [fakeNode("a"), fakeNode("b", { Status: "down" }), fakeNode("c")];
  const picks = Array.from(
    { length: 4 },
    () => place(rr, newTask({ Image: "x" }), nodes).node?.Name,
  );
  assert.deepEqual(picks, ["a", "c", "a", "c"]);
});

Deno.test("E-PVM's cost is the book's LIEB formula on the task's own requests (worked numbers)", () => {
  const task = newTask({ Image: "x", Cpu: 1, Memory: 1 * GiB });
  // Empty node: u = 0, r_cpu = 1/2, r_mem = 1/4.
  const empty = fakeNode("empty");
  assert.ok(Math.abs(marginalCost(task, empty) - 0.35472141218092745) < 1e-12);
  assert.ok(Math.abs(marginalCost(task, empty) - ((LIEB ** 0.5 - 1) + (LIEB ** 0.25 - 1))) < 1e-12);
  // Busy node with 2 tasks: u_cpu = (1 + 2 × 0.1 baseline) / 2 + 0.25 measured = 0.85;
  // u_mem = (2 GiB + 2 × 64 MiB) / 4 GiB + 1/4 in use.
  const busy = fakeNode("busy", { CpuAllocated: 1, MemoryAllocated: 2 * GiB, TaskCount: 2 }, {
    CpuUsage: 0.25,
    MemoryAvailableBytes: 3 * GiB,
  });
  assert.ok(Math.abs(marginalCost(task, busy) - 0.5070936312143155) < 1e-12);
});

Deno.test("E-PVM's CPU term does not cancel out (the book's bug)", () => {
  const node = fakeNode("n");
  const small = marginalCost(newTask({ Image: "x", Cpu: 0.1, Memory: GiB }), node);
  const big = marginalCost(newTask({ Image: "x", Cpu: 1.5, Memory: GiB }), node);
  assert.ok(big > small, "a bigger CPU request costs more");
});

Deno.test("E-PVM prefers the emptier node", () => {
  const epvm = new Epvm();
  const nodes = [
    fakeNode("full", { CpuAllocated: 1.5, MemoryAllocated: 3 * GiB, TaskCount: 6 }),
    fakeNode("half", { CpuAllocated: 1, MemoryAllocated: 2 * GiB, TaskCount: 3 }),
    fakeNode("idle"),
  ];
  assert.equal(place(epvm, newTask({ Image: "x" }), nodes).node?.Name, "idle");
});

Deno.test("E-PVM weighs measured load, not only allocations", () => {
  const epvm = new Epvm();
  const nodes = [fakeNode("hot", {}, { CpuUsage: 0.9 }), fakeNode("cool", {}, { CpuUsage: 0.1 })];
  assert.equal(place(epvm, newTask({ Image: "x" }), nodes).node?.Name, "cool");
});

Deno.test("E-PVM spreads tasks without requests across equal nodes despite measurement noise", () => {
  const epvm = new Epvm();
  const a = fakeNode("a", { TaskCount: 1 }, { CpuUsage: 0.01 });
  const b = fakeNode("b", {}, { CpuUsage: 0.03 });
  assert.equal(place(epvm, newTask({ Image: "x" }), [a, b]).node?.Name, "b");
});

Deno.test("E-PVM breaks ties by task count, then name", () => {
  const epvm = new Epvm();
  assert.equal(
    place(epvm, newTask({ Image: "x" }), [fakeNode("b"), fakeNode("a")]).node?.Name,
    "a",
  );
});

Deno.test("no scheduler picks a node that is down or lacks room; the reason names each", () => {
  for (const scheduler of [new Epvm(), new RoundRobin()]) {
    const nodes = [
      fakeNode("dead", { Status: "down", Error: "no heartbeat for 5 s" }),
      fakeNode("small", { Memory: 1 * GiB }),
      fakeNode("busy", { MemoryAllocated: 3.5 * GiB }),
    ];
    const placed = place(scheduler, newTask({ Image: "x", Memory: 2 * GiB }), nodes);
    assert.equal(placed.node, null);
    assert.ok(!placed.node && placed.reason);
    if (placed.node === null) {
      assert.match(placed.reason, /3 evaluated/);
      assert.match(placed.reason, /dead is down \(no heartbeat for 5 s\)/);
      assert.match(placed.reason, /small lacks memory \(1\.0 GiB of 2\.0 GiB free\)/);
      assert.match(placed.reason, /busy lacks memory \(512 MiB of 2\.0 GiB free\)/);
    }
  }
});

Deno.test("allocations count against capacity for CPU and disk too", () => {
  const nodes = [fakeNode("a", { CpuAllocated: 1.5, DiskAllocated: 99 * GiB })];
  const placed = place(new Epvm(), newTask({ Image: "x", Cpu: 1, Disk: 2 * GiB }), nodes);
  assert.ok(placed.node === null && /lacks CPU .*disk/.test(placed.reason));
});

Deno.test("with no nodes the reason says so; unknown scheduler names are refused", () => {
  const placed = place(new Epvm(), newTask({ Image: "x" }), []);
  assert.ok(placed.node === null && /no worker nodes/.test(placed.reason));
  assert.throws(() => createScheduler("random"), /Unknown scheduler "random"/);
  assert.equal(createScheduler("roundrobin").name, "roundrobin");
});

Deno.test("E-PVM with a score limit scores only that many feasible nodes, from a moving start", () => {
  const nodes = Array.from({ length: 8 }, (_, i) => fakeNode(`n${i}`));
  const scheduler = new Epvm({ scoreLimit: 2 });
  const task = newTask({ Image: "x" });
  // log2(8) = 3 exceeds the limit of 2, so three nodes are scored.
  const first = scheduler.selectCandidates(task, nodes);
  assert.deepEqual(first.nodes.map((n) => n.Name), ["n0", "n1", "n2"]);
  const second = scheduler.selectCandidates(task, nodes);
  assert.deepEqual(second.nodes.map((n) => n.Name), ["n1", "n2", "n3"]);
});

Deno.test("E-PVM with a score limit skips full nodes and still explains when none fit", () => {
  const full = { MemoryAllocated: 4 * GiB };
  const nodes = [fakeNode("a", full), fakeNode("b", full), fakeNode("c"), fakeNode("d", full)];
  const scheduler = new Epvm({ scoreLimit: 1 });
  const placed = place(scheduler, newTask({ Image: "x", Memory: GiB }), nodes);
  assert.equal(placed.node?.Name, "c");
  const none = place(scheduler, newTask({ Image: "x", Memory: 8 * GiB }), nodes);
  assert.ok(none.node === null && /4 evaluated/.test(none.reason));
});

Deno.test("E-PVM's batch scoring equals the marginal cost of each node, whatever their sizes", () => {
  const nodes = [
    fakeNode("a"),
    fakeNode("b", { Cores: 8, Memory: 32 * GiB, CpuAllocated: 3 }),
    fakeNode("c", { Cores: 8, Memory: 32 * GiB, TaskCount: 4 }, { CpuUsage: 0.4 }),
    fakeNode("d", { MemoryAllocated: GiB }),
  ];
  const task = newTask({ Image: "x", Cpu: 0.5, Memory: 512 * 1024 ** 2 });
  const scores = new Epvm().score(task, nodes);
  for (const node of nodes) {
    assert.ok(Math.abs(scores.get(node.Name)! - marginalCost(task, node)) < 1e-12, node.Name);
  }
});
