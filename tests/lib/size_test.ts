/**
 * The size a store gives a value, estimated without serializing it: batches are cut by it,
 * so it must not fall short of what a value really takes.
 */
import assert from "node:assert/strict";
import { serializedSize } from "../../lib/size.ts";
import { newTask } from "../../task/mod.ts";

Deno.test("the size estimate of a task record is at least its JSON, and not far above it", () => {
  const record = {
    Task: newTask({ Image: "cube-test/http:1", Env: ["A=1", "B=two"], Name: "web.1" }),
    History: [{ Timestamp: new Date().toISOString(), State: 1, Message: "submitted" }],
    Earlier: 0,
  };
  const json = JSON.stringify(record).length;
  const estimate = serializedSize(record);
  assert.ok(estimate >= json, `${estimate} ≥ ${json}`);
  assert.ok(estimate < json * 2, `${estimate} < 2 × ${json}`);
});

Deno.test("text that is not ASCII counts two bytes a character, as V8 keeps it", () => {
  assert.ok(serializedSize("é".repeat(1000)) >= 2000);
  assert.ok(serializedSize("e".repeat(1000)) < 1100);
  assert.ok(serializedSize({ list: ["ü".repeat(500), 1, true, null] }) >= 1000);
});
