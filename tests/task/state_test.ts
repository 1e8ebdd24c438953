import assert from "node:assert/strict";
import { isValidTransition, newTask, State, transition } from "../../task/mod.ts";
import { CubeError } from "../../lib/errors.ts";

const { Pending, Scheduled, Running, Completed, Failed } = State;

Deno.test("the book's transitions are all allowed", () => {
  for (
    const [from, to] of [[Pending, Scheduled], [Scheduled, Running], [Scheduled, Failed], [
      Running,
      Completed,
    ], [Running, Failed]]
  ) {
    assert.ok(isValidTransition(from, to), `${from} -> ${to}`);
  }
});

Deno.test("a finished task only goes back in line (a restart or a reschedule)", () => {
  for (const from of [Completed, Failed]) {
    assert.ok(isValidTransition(from, Scheduled));
    assert.ok(isValidTransition(from, Pending));
    assert.ok(!isValidTransition(from, Running));
  }
  assert.ok(!isValidTransition(Completed, Failed));
  assert.ok(!isValidTransition(Failed, Completed));
});

Deno.test("a running task can be put back in line when its node is lost", () => {
  assert.ok(isValidTransition(Running, Pending));
  assert.ok(isValidTransition(Running, Scheduled));
});

Deno.test("transition merges facts and refuses an illegal move with a 409", () => {
  const task = newTask({ Image: "x", State: Completed });
  const restarted = transition(task, Scheduled, { RestartCount: 1 });
  assert.equal(restarted.State, Scheduled);
  assert.equal(restarted.RestartCount, 1);
  assert.equal(task.State, Completed, "the input is not mutated");
  assert.throws(() => transition(task, Running), (error: unknown) => {
    assert.ok(error instanceof CubeError);
    assert.equal(error.status, 409);
    assert.match(error.message, /cannot go from Completed to Running/);
    return true;
  });
});

Deno.test("unknown states are never valid", () => {
  assert.ok(!isValidTransition(7 as State, Running));
  assert.ok(!isValidTransition(Running, 7 as State));
});
