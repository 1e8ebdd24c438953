/** What each node has been promised, kept as tasks change rather than summed afresh. */
import assert from "node:assert/strict";
import { NodeLoads } from "../../manager/policy.ts";
import { newTask, State, type Task } from "../../task/mod.ts";
import { fakeNode } from "../../testing/nodes.ts";

const on = (node: string, state: State, fields: Partial<Task> = {}): Task => ({
  ...newTask({ Image: "x", ...fields }),
  Node: node,
  State: state,
});

Deno.test("a node's allocation follows its tasks as they are placed, run, finish and are forgotten", () => {
  const loads = new NodeLoads();
  const a = on("n1", State.Scheduled, { Cpu: 0.5, Memory: 100, Disk: 10 });
  const b = on("n1", State.Scheduled, { Cpu: 0.25, Memory: 50 });
  loads.update(null, a);
  loads.update(null, b);
  loads.update(null, on("", State.Pending, { Cpu: 1 })); // not placed: counts nowhere
  loads.update(a, { ...a, State: State.Running });
  let [n1, n2] = loads.allocate([fakeNode("n1"), fakeNode("n2")]);
  assert.deepEqual(
    [n1.CpuAllocated, n1.MemoryAllocated, n1.DiskAllocated, n1.TaskCount],
    [0.75, 150, 10, 2],
  );
  assert.deepEqual([n2.CpuAllocated, n2.TaskCount], [0, 0]);

  loads.update({ ...a, State: State.Running }, { ...a, State: State.Completed });
  loads.update(b, { ...b, Node: "n2" }); // moved
  [n1, n2] = loads.allocate([fakeNode("n1"), fakeNode("n2")]);
  assert.deepEqual([n1.CpuAllocated, n1.TaskCount, n2.CpuAllocated, n2.TaskCount], [0, 0, 0.25, 1]);
  loads.update({ ...b, Node: "n2" }, null); // forgotten
  assert.equal(loads.allocate([fakeNode("n2")])[0].TaskCount, 0);
});

Deno.test("CPU added and taken away in any order leaves exactly the CPU of the tasks left", () => {
  // 0.1 + 0.2 - 0.1 is 0.20000000000000004 in floating point: a node at exactly its
  // capacity would seem over it.
  const loads = new NodeLoads();
  const tasks = [0.1, 0.2, 0.7, 1.0].map((Cpu) => on("n", State.Running, { Cpu }));
  for (const t of tasks) loads.update(null, t);
  loads.update(tasks[0], null);
  loads.update(tasks[2], null);
  assert.equal(loads.allocate([fakeNode("n")])[0].CpuAllocated, 1.2);
  loads.update(null, tasks[0]);
  loads.update(null, tasks[2]);
  assert.equal(loads.allocate([fakeNode("n")])[0].CpuAllocated, 2);
});
