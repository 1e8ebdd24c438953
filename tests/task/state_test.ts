import assert from "node:assert/strict";
import { isForward, isValidTransition, State } from "../../task/mod.ts";

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

Deno.test("a report moves a task only forward, or keeps a live state with new facts", () => {
  assert.ok(isForward(Scheduled, Running));
  assert.ok(isForward(Scheduled, Failed));
  assert.ok(isForward(Running, Completed));
  assert.ok(isForward(Running, Running), "new facts (ports) in place");
  assert.ok(!isForward(Running, Scheduled));
  assert.ok(!isForward(Running, Pending));
  assert.ok(!isForward(Completed, Running));
  assert.ok(!isForward(Failed, Completed));
  assert.ok(!isForward(Failed, Failed), "a finished task takes no more reports");
});

Deno.test("unknown states are never valid", () => {
  assert.ok(!isValidTransition(7 as State, Running));
  assert.ok(!isValidTransition(Running, 7 as State));
});
