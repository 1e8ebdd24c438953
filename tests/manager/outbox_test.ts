/**
 * The outbox: placements reach a worker in batches. Placements made round after round are
 * held until the rounds are over (or a bounded linger), so a node gets its replicas in one
 * request, not one request per round; a batch the worker refuses in part goes the one-task
 * way for what it refused. The worker here is a transport that answers as a worker does:
 * what is under test is what the manager sends, and when.
 */
import assert from "node:assert/strict";
import { LINGER_MS, Outbox, SENDS_IN_FLIGHT } from "../../manager/outbox.ts";
import { WorkerClient } from "../../manager/worker_client.ts";
import { newTask, State, type Task } from "../../task/mod.ts";
import { settle, SimClock } from "../../simulation/clock.ts";

function setup(refuse = new Set<string>()) {
  const clock = new SimClock();
  const closing = new AbortController();
  const requests: { node: string; ids: string[] }[] = [];
  const oneByOne: string[] = [];
  const work: Promise<unknown>[] = [];
  const client = (node: string) =>
    new WorkerClient(node, `http://${node}`, 1_000, (_url, init) => {
      const events = JSON.parse(String(init.body)) as { Task: Task }[];
      requests.push({ node, ids: events.map((e) => e.Task.ID) });
      const answers = events.map((e) => ({ Status: refuse.has(e.Task.ID) ? 409 : 201 }));
      return Promise.resolve(Response.json(answers));
    });
  const outbox = new Outbox(
    client,
    (task) => task,
    (task) => oneByOne.push(task.ID),
    (promise) => work.push(promise),
    clock,
    closing.signal,
  );
  const placed = (node: string) => ({
    ...newTask({ Image: "x" }),
    State: State.Scheduled,
    Node: node,
  });
  return { clock, closing, requests, oneByOne, work, outbox, placed };
}

Deno.test("placements made round after round reach each node in one request once the rounds are over", async () => {
  const { requests, outbox, placed, closing, work } = setup();
  const rounds = [["a", "b"], ["a", "b"], ["a", "c"]];
  for (const round of rounds) {
    for (const node of round) outbox.add(placed(node));
    await settle(); // the next round comes in a later turn
  }
  assert.equal(requests.length, 0, "held while rounds follow each other");
  outbox.flush();
  await settle();
  const byNode = Object.fromEntries(requests.map((r) => [r.node, r.ids.length]));
  assert.deepEqual(byNode, { a: 3, b: 2 }, "one request per node with two or more");
  closing.abort();
  await Promise.allSettled(work);
});

Deno.test("held placements go out after the linger even when no one flushes", async () => {
  const { clock, requests, oneByOne, outbox, placed, closing, work } = setup();
  const a1 = placed("a");
  const a2 = placed("a");
  outbox.add(a1);
  outbox.add(a2);
  await clock.run(LINGER_MS - 100);
  assert.equal(requests.length, 0);
  await clock.run(200);
  assert.deepEqual(requests, [{ node: "a", ids: [a1.ID, a2.ID] }]);
  assert.deepEqual(oneByOne, []);
  closing.abort();
  await Promise.allSettled(work);
});

Deno.test("what a worker refuses in a batch, and a lone task, go the one-task way", async () => {
  const refused = new Set<string>();
  const { requests, oneByOne, outbox, placed, closing, work } = setup(refused);
  const [ok, no, lone] = [placed("a"), placed("a"), placed("b")];
  refused.add(no.ID);
  for (const task of [ok, no, lone]) outbox.add(task);
  outbox.flush();
  await settle();
  closing.abort(); // ends the linger timer; the sends are under way
  await Promise.allSettled(work);
  assert.deepEqual(requests, [{ node: "a", ids: [ok.ID, no.ID] }]);
  assert.deepEqual(oneByOne.sort(), [no.ID, lone.ID].sort());
});

Deno.test("a flush to many nodes sends to at most SENDS_IN_FLIGHT at once, the next as each answers", async () => {
  const clock = new SimClock();
  const closing = new AbortController();
  const work: Promise<unknown>[] = [];
  let inFlight = 0;
  let most = 0;
  const answered: string[] = [];
  const waiting: (() => void)[] = [];
  const client = (node: string) =>
    new WorkerClient(node, `http://${node}`, 1_000, async (_url, init) => {
      const events = JSON.parse(String(init.body)) as { Task: Task }[];
      inFlight++;
      most = Math.max(most, inFlight);
      // Node n0 never answers (until the end): it holds one lane, not the others.
      await new Promise<void>((resolve) => node === "n0" ? waiting.push(resolve) : resolve());
      inFlight--;
      answered.push(node);
      return Response.json(events.map(() => ({ Status: 201 })));
    });
  const outbox = new Outbox(client, (t) => t, () => {}, (p) => work.push(p), clock, closing.signal);
  const nodes = Array.from({ length: 3 * SENDS_IN_FLIGHT }, (_, i) => `n${i}`);
  for (const node of nodes) {
    for (let i = 0; i < 2; i++) {
      outbox.add({ ...newTask({ Image: "x" }), State: State.Scheduled, Node: node });
    }
  }
  outbox.flush();
  await settle();
  assert.equal(most, SENDS_IN_FLIGHT);
  assert.equal(answered.length, nodes.length - 1, "every node but the silent one answered");
  for (const resolve of waiting) resolve();
  await settle();
  assert.equal(answered.length, nodes.length);
  closing.abort();
  await Promise.allSettled(work);
});
