/**
 * What a node does with a task it is sent (worker/admission.ts), shared by the Docker
 * worker and the simulated node: a placement runs at most once.
 */
import assert from "node:assert/strict";
import { newTask, State, type Task, type TaskEvent } from "../../task/mod.ts";
import { admit } from "../../worker/admission.ts";

const sent = (task: Partial<Task>): TaskEvent => ({
  ID: crypto.randomUUID(),
  State: State.Running,
  Timestamp: new Date().toISOString(),
  Task: newTask({ Image: "x", ID: "3f2a9c1e-0000-4000-a000-000000000000", ...task }),
});

const record = (fields: Partial<Task>): Task =>
  newTask({ Image: "x", ID: "3f2a9c1e-0000-4000-a000-000000000000", Node: "w1", ...fields });

Deno.test("a late duplicate of a send never starts a placement that already ran to its end", () => {
  // Found by the simulation: a manager restarted after the task completed re-sent it, and
  // the worker ran the finished placement again behind the manager's back.
  const finished = record({ State: State.Completed, Placement: 1, Revision: 3 });
  assert.deepEqual(admit(finished, sent({ Placement: 1 }), "w1"), { kind: "keep" });
});

Deno.test("an older placement arriving after a newer one is ignored", () => {
  const current = record({ State: State.Scheduled, Placement: 3 });
  assert.deepEqual(admit(current, sent({ Placement: 2 }), "w1"), { kind: "keep" });
  const done = record({ State: State.Failed, Placement: 3 });
  assert.deepEqual(admit(done, sent({ Placement: 2 }), "w1"), { kind: "keep" });
});

Deno.test("a newer placement of a task whose copy still runs here adopts that copy", () => {
  const running = record({ State: State.Running, Placement: 2, ContainerID: "c1" });
  assert.deepEqual(admit(running, sent({ Placement: 4 }), "w1"), { kind: "adopt", placement: 4 });
  assert.deepEqual(admit(running, sent({ Placement: 2 }), "w1"), { kind: "keep" });
});

Deno.test("a restart (a newer placement of a finished task) runs, keeping the revision count", () => {
  const failed = record({ State: State.Failed, Placement: 2, Revision: 5 });
  const admission = admit(failed, sent({ Placement: 3 }), "w1");
  assert.equal(admission.kind, "run");
  const task = (admission as { task: Task }).task;
  assert.equal(task.State, State.Scheduled);
  assert.equal(task.Placement, 3);
  assert.equal(task.Revision, 5, "the next write stamps 6: revisions only increase");
  assert.equal(task.Node, "w1");
});

Deno.test("the book's client, which sends no placement, may run a finished task again", () => {
  const finished = record({ State: State.Completed, Placement: 0 });
  assert.equal(admit(finished, sent({}), "w1").kind, "run");
});

Deno.test("a late duplicate of a send does not undo a stop in progress; a newer placement does", () => {
  const stopping = record({ State: State.Running, Placement: 2, ContainerID: "c1" });
  assert.deepEqual(admit(stopping, sent({ Placement: 2 }), "w1", true), { kind: "keep" });
  const newer = admit(stopping, sent({ Placement: 3 }), "w1", true);
  assert.equal(newer.kind, "run", "the stop is replaced; the start adopts the running copy");
  assert.equal((newer as { task: Task }).task.Placement, 3);
});
