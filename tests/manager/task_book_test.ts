/**
 * The task book, the one writer of task state: changes apply to the newest version one
 * at a time per task, concurrent changes share commits, a change KV refuses fails
 * alone, a second writer's changes are never overwritten, and a failing store gives a 503
 * that changes nothing.
 */
import assert from "node:assert/strict";
import { systemClock } from "../../lib/clock.ts";
import { CubeError } from "../../lib/errors.ts";
import { type Edit, STORY_LIMIT, TaskBook } from "../../manager/mod.ts";
import { StoreGuard } from "../../store/mod.ts";
import { type Database, KvDatabase } from "../../store/mod.ts";
import { EtcdDatabase } from "../../store/etcd_store.ts";
import { startEtcd } from "../../testing/etcd.ts";
import { newTask, State, type Task } from "../../task/mod.ts";
import { FaultyDatabase } from "../../testing/faulty_database.ts";
import { tempDir } from "../../testing/wait.ts";

function bookOn(db: Database): TaskBook {
  return new TaskBook(db, { clock: systemClock, guard: new StoreGuard(db) });
}

const to = (state: State, facts: Partial<Task> = {}, message = "") => (t: Task): Edit => ({
  task: { ...t, ...facts, State: state },
  message,
});

Deno.test("concurrent changes all land in KV with their history, and survive a reopen", async () => {
  await using dir = await tempDir();
  const path = `${dir.path}/book.kv`;
  const tasks = Array.from({ length: 500 }, (_, i) => newTask({ Image: "x", Name: `t${i}` }));
  {
    using db = await KvDatabase.open(path);
    const book = bookOn(db);
    await Promise.all(tasks.map((t) => book.create(t, "submitted")));
    await Promise.all(
      tasks.map((t) => book.change(t.ID, to(State.Scheduled, { Node: "n1" }, "placed"))),
    );
    assert.equal(book.size, 500);
    assert.equal(book.get(tasks[7].ID)?.State, State.Scheduled);
  }
  using db = await KvDatabase.open(path);
  const book = bookOn(db);
  const loaded = await book.load();
  assert.equal(loaded.length, 500);
  assert.ok(loaded.every((t) => t.State === State.Scheduled && t.Node === "n1"));
  assert.equal(book.desired(tasks[123].ID), "run");
  const story = book.history(tasks[123].ID).History;
  assert.deepEqual(story.map((e) => [e.StateName, e.Message]), [
    ["Pending", "submitted"],
    ["Scheduled", "placed"],
  ]);
});

Deno.test("a change KV refuses fails alone; the others in its commit still land", async () => {
  using db = await KvDatabase.open(":memory:");
  const book = bookOn(db);
  const good = newTask({ Image: "x", Name: "good" });
  const huge = newTask({ Image: "x", Name: "huge", Env: ["BLOB=" + "x".repeat(70 * 1024)] });
  const results = await Promise.allSettled([
    book.create(good, "submitted"),
    book.create(huge, "submitted"),
    book.create(newTask({ Image: "y" }), "submitted"),
  ]);
  assert.deepEqual(results.map((r) => r.status), ["fulfilled", "rejected", "fulfilled"]);
  assert.equal(book.get(huge.ID), undefined);
  assert.equal(book.size, 2);
  assert.equal((await bookOn(db).load()).length, 2);
});

Deno.test("two changes of one task in flight apply one after the other, each to the newest version", async () => {
  // Finding 3: a node-down and a late report used to each read the task, then save their
  // own copy: the last writer won with stale facts.
  using db = await KvDatabase.open(":memory:");
  const book = bookOn(db);
  const task = await book.create(newTask({ Image: "x" }), "submitted");
  const seen: State[] = [];
  const [a, b] = await Promise.all([
    book.change(task.ID, (t) => {
      seen.push(t.State);
      return { task: { ...t, State: State.Scheduled, Node: "n1", Placement: t.Placement + 1 } };
    }),
    book.change(task.ID, (t) => {
      seen.push(t.State);
      return { task: { ...t, State: State.Running, ContainerID: "c1" } };
    }),
  ]);
  assert.deepEqual(seen, [State.Pending, State.Scheduled]);
  assert.equal(a?.Node, "n1");
  assert.equal(b?.Node, "n1", "the second change saw the first one's node");
  assert.equal(b?.Placement, 1);
  const stored = (await bookOn(db).load())[0];
  assert.equal(stored.State, State.Running);
  assert.equal(stored.Node, "n1");
});

Deno.test("a second writer on the same store takes it over: the first one's changes are refused with a 503 and never overwrite it", async () => {
  using db = await KvDatabase.open(":memory:");
  const first = bookOn(db);
  await first.load();
  const task = await first.create(newTask({ Image: "x" }), "submitted");
  // A second manager opened on the same store (or a new leader while the old one is paused).
  const second = bookOn(db);
  await second.load();
  await second.change(task.ID, (t) => ({ task: { ...t, Error: "the second's" } }));
  const refused = (error: unknown) => {
    assert.ok(error instanceof CubeError);
    assert.equal(error.status, 503);
    assert.match(error.message, /another manager took over the task store/);
    return true;
  };
  // Changes in one commit and alone, a new task, a removal: all refused, nothing lands.
  await assert.rejects(
    Promise.all([
      first.change(task.ID, (t) => ({ task: { ...t, Error: "the first's" } })),
      first.create(newTask({ Image: "y" }), "submitted"),
    ]),
    refused,
  );
  await assert.rejects(first.create(newTask({ Image: "z" }), "submitted"), refused);
  await assert.rejects(first.remove(task.ID, () => true), refused);
  const stored = await bookOn(db).load();
  assert.equal(stored.length, 1);
  assert.equal(stored[0].Error, "the second's");
  assert.equal(
    first.get(task.ID)?.Error,
    "",
    "the refused change left the first's mirror as it was",
  );
});

Deno.test("a failing store rejects a change with a 503 and leaves the task as it was", async () => {
  using kv = await KvDatabase.open(":memory:");
  const db = new FaultyDatabase(kv);
  const guard = new StoreGuard(db);
  const book = new TaskBook(db, { clock: systemClock, guard });
  const task = await book.create(newTask({ Image: "x" }), "submitted");
  db.failing = "disk full";
  await assert.rejects(
    book.change(task.ID, to(State.Scheduled, { Node: "n1" })),
    (error: unknown) => {
      assert.ok(error instanceof CubeError);
      assert.equal(error.status, 503);
      assert.match(error.message, /the store failed: disk full/);
      return true;
    },
  );
  assert.equal(book.get(task.ID)?.State, State.Pending);
  assert.equal(guard.error, "disk full");
  db.failing = null;
  await guard.probe(Date.now());
  assert.equal(guard.error, null);
  assert.equal((await book.change(task.ID, to(State.Scheduled)))?.State, State.Scheduled);
});

Deno.test("the writer refuses a move the state table forbids, with a 409, and stores nothing", async () => {
  using db = await KvDatabase.open(":memory:");
  const book = bookOn(db);
  const task = await book.create(newTask({ Image: "x" }), "submitted");
  await book.change(task.ID, to(State.Scheduled));
  await book.change(task.ID, to(State.Completed));
  await assert.rejects(
    book.change(task.ID, to(State.Running)),
    /cannot go from Completed to Running/,
  );
  assert.equal(book.get(task.ID)?.State, State.Completed);
  assert.equal(book.history(task.ID).History.length, 3);
});

Deno.test("a task's story keeps its first event and the latest ones, and counts those let go", async () => {
  await using dir = await tempDir();
  const path = `${dir.path}/book.kv`;
  const task = newTask({ Image: "x" });
  {
    using db = await KvDatabase.open(path);
    const book = bookOn(db);
    await book.create(task, "submitted");
    for (let i = 1; i <= 30; i++) {
      await book.change(task.ID, (t) => ({ task: t, message: `change ${i}` }));
    }
  }
  using db = await KvDatabase.open(path);
  const book = bookOn(db);
  await book.load();
  const story = book.history(task.ID);
  assert.equal(story.History.length, STORY_LIMIT);
  assert.equal(story.Earlier, 31 - STORY_LIMIT);
  assert.equal(story.History[0].Message, "submitted");
  assert.equal(story.History[1].Message, `change ${32 - STORY_LIMIT}`);
  assert.equal(story.History.at(-1)!.Message, "change 30");
});

Deno.test("a store written before stories moved into task records loads whole, its lines moved in", async () => {
  using db = await KvDatabase.open(":memory:");
  const task = { ...newTask({ Image: "x", Name: "old" }), CreateTime: "2026-01-01T00:00:00Z" };
  const line = (state: State, message: string, at: string) => ({
    Timestamp: at,
    State: state,
    StateName: State[state],
    Node: "n1",
    Message: message,
  });
  // The old layout: the task as it is under "tasks", one line per event under "events".
  await db.store<Task>("tasks").put(task.ID, { ...task, State: State.Running, Node: "n1" });
  const lines = db.store("events");
  await lines.put(`${task.ID}:000000000000001:000000`, line(State.Pending, "submitted", "t1"));
  await lines.put(`${task.ID}:000000000000002:000001`, line(State.Running, "Running", "t2"));
  const book = bookOn(db);
  const [loaded] = await book.load();
  assert.equal(loaded.Name, "old");
  assert.equal(loaded.State, State.Running);
  assert.deepEqual(book.history(task.ID).History.map((e) => e.Message), ["submitted", "Running"]);
  assert.equal((await lines.list()).length, 0, "the old lines are gone");
  await book.change(task.ID, (t) => ({ task: t, message: "still here" }));
  const again = bookOn(db);
  await again.load();
  assert.equal(again.history(task.ID).History.length, 3);
});

Deno.test("the task book runs unchanged on etcd: concurrent changes land in transactions it can hold", async () => {
  await using etcd = await startEtcd();
  const commits: number[] = [];
  {
    using db = EtcdDatabase.open(etcd.url);
    const book = new TaskBook(db, {
      clock: systemClock,
      guard: new StoreGuard(db),
      onCommit: (_, changes) => commits.push(changes),
    });
    const tasks = Array.from({ length: 300 }, (_, i) => newTask({ Image: "x", Name: `e${i}` }));
    await Promise.all(tasks.map((t) => book.create(t, "submitted")));
    // Two writes each (the record and the desired state): 100 of them, KV's most, would be
    // 200 writes, more than an etcd transaction holds.
    await Promise.all(tasks.map((t) =>
      book.change(t.ID, (current) => ({
        task: { ...current, State: State.Scheduled, Node: "n1" },
        message: "placed",
        desired: "stop",
      }))
    ));
  }
  const total = commits.reduce((a, b) => a + b, 0);
  assert.equal(total, 600, "every change went in a grouped commit, none was refused");
  assert.ok(commits.length < 600, `${commits.length} commits for 600 changes`);
  using db = EtcdDatabase.open(etcd.url);
  const loaded = await new TaskBook(db, { clock: systemClock, guard: new StoreGuard(db) }).load();
  assert.equal(loaded.length, 300);
  assert.ok(loaded.every((t) => t.State === State.Scheduled && t.Node === "n1"));
});
