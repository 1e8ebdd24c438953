/**
 * The dispatcher's line on a real task book (Deno KV): a service's replica waits in line
 * unstored and is stored once, when placed (or Pending with why no node can take it), and
 * not at all when it is no longer wanted by then. The sender is a stand-in: what it
 * isolates is the network, which these tests do not need.
 */
import assert from "node:assert/strict";
import { systemClock } from "../../lib/clock.ts";
import { Dispatcher } from "../../manager/dispatcher.ts";
import { ManagerMetrics } from "../../manager/metrics.ts";
import type { Sender } from "../../manager/sender.ts";
import { TaskBook } from "../../manager/task_book.ts";
import { createScheduler } from "../../scheduler/mod.ts";
import { KvDatabase, StoreGuard } from "../../store/mod.ts";
import { newTask, type Node, State, type Task } from "../../task/mod.ts";
import { fakeNode } from "../../testing/nodes.ts";
import { tempDir } from "../../testing/wait.ts";

async function line(nodes: Node[]) {
  const dir = await tempDir();
  const db = await KvDatabase.open(`${dir.path}/line.kv`);
  const tasks = new TaskBook(db, { clock: systemClock, guard: new StoreGuard(db) });
  const sent: Task[] = [];
  const sender = { queue: (t: Task) => sent.push(t), flush: () => {} } as unknown as Sender;
  const dispatcher = new Dispatcher({
    tasks,
    scheduler: createScheduler("epvm"),
    sender,
    clock: systemClock,
    nodes: () => nodes.map((n) => ({ ...n })),
    spreadLabel: () => "",
    metrics: new ManagerMetrics({
      tasks: () => [],
      nodes: () => [],
      services: () => [],
      queued: () => 0,
    }),
  });
  const writes: Task[] = [];
  tasks.observe((_, after) => after && writes.push(after));
  return {
    tasks,
    dispatcher,
    sent,
    writes,
    async [Symbol.asyncDispose]() {
      db.close();
      await dir[Symbol.asyncDispose]();
    },
  };
}

const replica = (slot: number) =>
  newTask({ Name: `web.${slot}`, Image: "any/image", Service: "web", Version: 1 });

Deno.test("a replica in line is stored once, placed, with its submission before it in its story", async () => {
  await using l = await line([fakeNode("a"), fakeNode("b")]);
  const waiting = [1, 2].map((slot) => l.dispatcher.submit(replica(slot), () => true));
  assert.equal(l.tasks.size, 0, "nothing is stored before it is placed");
  assert.equal(l.dispatcher.pending, 2, "but both are counted as waiting for a node");
  await l.dispatcher.round();
  const stored = await Promise.all(waiting);
  assert.deepEqual(stored.map((t) => t?.State), [State.Scheduled, State.Scheduled]);
  assert.deepEqual(new Set(stored.map((t) => t?.Node)), new Set(["a", "b"]), "spread");
  assert.deepEqual(l.sent.map((t) => t.ID), stored.map((t) => t!.ID));
  assert.equal(l.dispatcher.pending, 0);
  const story = l.tasks.history(stored[0]!.ID).History;
  assert.deepEqual(story.map((e) => [e.State, e.Message.split(" ")[0]]), [
    [State.Pending, "submitted"],
    [State.Scheduled, "placed"],
  ]);
  assert.equal(story[0].Timestamp, stored[0]!.CreateTime, "submitted when it joined the line");
  // Observers hear both steps, in order.
  assert.deepEqual(
    l.writes.filter((t) => t.ID === stored[0]!.ID).map((t) => t.State),
    [State.Pending, State.Scheduled],
  );
});

Deno.test("a replica no node can take is stored Pending with why, and stays in line", async () => {
  await using l = await line([fakeNode("small", { Memory: 1024 ** 3 })]);
  const big = { ...replica(1), Memory: 2 * 1024 ** 3 };
  const waiting = l.dispatcher.submit(big, () => true);
  await l.dispatcher.round();
  const stored = await waiting;
  assert.equal(stored?.State, State.Pending);
  assert.match(stored!.Error, /^waiting for a node: no node can take it: 1 evaluated/);
  assert.equal(l.tasks.get(big.ID)?.State, State.Pending);
  assert.equal(l.dispatcher.pending, 1, "still in line, as a stored task now");
  assert.deepEqual(l.tasks.history(big.ID).History.map((e) => e.State), [
    State.Pending,
    State.Pending,
  ]);
});

Deno.test("a replica no longer wanted when its turn comes is never stored", async () => {
  await using l = await line([fakeNode("a")]);
  let wanted = true;
  const waiting = l.dispatcher.submit(replica(1), () => wanted);
  wanted = false; // its service was removed meanwhile
  await l.dispatcher.round();
  assert.equal(await waiting, undefined);
  assert.equal(l.tasks.size, 0);
  assert.equal(l.dispatcher.pending, 0);
  assert.deepEqual(l.sent, []);
});
