/**
 * The task book's group commit: concurrent changes share commits, each lands with its
 * history event, and a change KV refuses fails alone.
 */
import assert from "node:assert/strict";
import { TaskBook } from "../../manager/mod.ts";
import { KvDatabase } from "../../store/mod.ts";
import { newTask, State, transition } from "../../task/mod.ts";
import { tempDir } from "../helpers/wait.ts";

Deno.test("concurrent saves all land in KV with their history, and survive a reopen", async () => {
  await using dir = await tempDir();
  const path = `${dir.path}/book.kv`;
  const tasks = Array.from({ length: 500 }, (_, i) => newTask({ Image: "x", Name: `t${i}` }));
  {
    using db = await KvDatabase.open(path);
    const book = new TaskBook(db);
    await Promise.all(tasks.map((t) => book.save(t, "submitted", "run")));
    await Promise.all(
      tasks.map((t) => book.save(transition(t, State.Scheduled, { Node: "n1" }), "placed")),
    );
    assert.equal(book.size, 500);
    assert.equal(book.get(tasks[7].ID)?.State, State.Scheduled);
  }
  using db = await KvDatabase.open(path);
  const book = new TaskBook(db);
  const loaded = await book.load();
  assert.equal(loaded.length, 500);
  assert.ok(loaded.every((t) => t.State === State.Scheduled && t.Node === "n1"));
  assert.equal(book.desired(tasks[123].ID), "run");
  const story = await book.history(tasks[123].ID);
  assert.deepEqual(story.map((e) => [e.StateName, e.Message]), [
    ["Pending", "submitted"],
    ["Scheduled", "placed"],
  ]);
});

Deno.test("a change KV refuses fails alone; the others in its commit still land", async () => {
  using db = await KvDatabase.open(":memory:");
  const book = new TaskBook(db);
  const good = newTask({ Image: "x", Name: "good" });
  const huge = newTask({ Image: "x", Name: "huge", Env: ["BLOB=" + "x".repeat(70 * 1024)] });
  const results = await Promise.allSettled([
    book.save(good, "submitted"),
    book.save(huge, "submitted"),
    book.saveMany([{ task: newTask({ Image: "y" }), message: "submitted" }]),
  ]);
  assert.deepEqual(results.map((r) => r.status), ["fulfilled", "rejected", "fulfilled"]);
  assert.equal(book.get(huge.ID), undefined);
  assert.equal(book.size, 2);
  assert.equal((await new TaskBook(db).load()).length, 2);
});
