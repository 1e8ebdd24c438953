/**
 * The rules a worker's report is folded in by (manager/reports.ts): ordered by placement
 * and revision, only forward, and stale copies stopped only on another node.
 */
import assert from "node:assert/strict";
import { foldReport } from "../../manager/reports.ts";
import { newTask, State, type Task } from "../../task/mod.ts";

const running: Task = newTask({
  Image: "x",
  State: State.Running,
  Node: "w1",
  Placement: 2,
  Revision: 3,
  ContainerID: "c1",
});

const report = (fields: Partial<Task>): Task => ({ ...running, ...fields });

Deno.test("a stale poll answer taken before a pushed Running does not move the task back", () => {
  // Finding 2: the safety-net poll answered after the push turned Running back into
  // Scheduled, cleared ContainerID and added a "now Scheduled" event.
  const stale = report({ State: State.Scheduled, ContainerID: "", Revision: 1 });
  assert.deepEqual(foldReport(running, "run", "w1", stale), { kind: "ignore" });
});

Deno.test("a report without stamps (an older worker) still cannot move a task back", () => {
  const unstamped = report({ State: State.Scheduled, Placement: 0, Revision: 0 });
  const outcome = foldReport(running, "run", "w1", unstamped);
  assert.equal(outcome.kind, "ignore");
  assert.match((outcome as { why: string }).why, /back from Running to Scheduled/);
});

Deno.test("a newer report moves the task forward and records its revision", () => {
  const failed = report({ State: State.Failed, Revision: 4, Error: "exit 1", ExitCode: 1 });
  const outcome = foldReport(running, "run", "w1", failed);
  assert.equal(outcome.kind, "apply");
  const { task, message } = (outcome as { edit: { task: Task; message: string } }).edit;
  assert.equal(task.State, State.Failed);
  assert.equal(task.Revision, 4);
  assert.equal(message, "exit 1");
  assert.deepEqual(foldReport(task, "run", "w1", failed), { kind: "ignore" }, "a duplicate");
});

Deno.test("a late report of the run before a restart in place is ignored, never stopped", () => {
  const old = report({ State: State.Running, Placement: 1, Revision: 9 });
  assert.deepEqual(foldReport(running, "run", "w1", old), { kind: "ignore" });
});

Deno.test("a copy running on a node the task is not placed on is stopped there", () => {
  const outcome = foldReport(running, "run", "w2", report({ Node: "w2", Revision: 7 }));
  assert.equal(outcome.kind, "stop-copy");
  assert.deepEqual(foldReport(undefined, "run", "w2", running).kind, "stop-copy");
  assert.deepEqual(
    foldReport(running, "run", "w2", report({ Node: "w2", State: State.Completed })),
    { kind: "ignore" },
    "a finished copy needs nothing",
  );
});

Deno.test("one worker known under two names is not its own stale copy", () => {
  // Finding 7: listed with --workers (as its address) and joined (as its name).
  const outcome = foldReport(running, "run", "127.0.0.1:5556", report({ Revision: 3 }));
  assert.equal(outcome.kind, "ignore");
});

Deno.test("a stopped task still running on its node is asked to stop again, whatever its revision", () => {
  const stopped = { ...running, State: State.Completed };
  assert.deepEqual(foldReport(stopped, "stop", "w1", report({ Revision: 3 })), { kind: "stop" });
});
