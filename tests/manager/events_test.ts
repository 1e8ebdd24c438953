/**
 * The event stream: a task's way to Running arrives live and in order over a real
 * cluster; a client resumes after the last index it saw; filters narrow it; indexes never
 * repeat across a restart; events the store collected are reported gone, not skipped
 * silently; bad queries are 400s.
 */
import assert from "node:assert/strict";
import { systemClock } from "../../lib/clock.ts";
import { ndjson } from "../../lib/ndjson.ts";
import { EventLog } from "../../manager/event_log.ts";
import { createEventRoutes } from "../../manager/event_routes.ts";
import { KvDatabase } from "../../store/mod.ts";
import type { ClusterEvent } from "../../task/mod.ts";
import { startCluster } from "../../testing/cluster.ts";
import { HTTP_IMAGE, SLEEP_IMAGE } from "../../testing/docker.ts";
import { request, tempDir, trustedFetch, waitFor } from "../../testing/wait.ts";

/** Reads NDJSON lines from a stream until `done` says so; cancels it then. */
async function readUntil(
  response: Response,
  done: (events: ClusterEvent[]) => boolean,
): Promise<ClusterEvent[]> {
  const events: ClusterEvent[] = [];
  if (done(events)) {
    await response.body?.cancel();
    return events;
  }
  for await (const event of ndjson<ClusterEvent>(response.body!)) {
    events.push(event);
    if (done(events)) break;
  }
  return events;
}

Deno.test("a task's way to Running streams live, in order, and a client resumes after the last index it saw", async () => {
  await using cluster = await startCluster({ workers: 1 });
  const stream = await trustedFetch(`${cluster.url}/events?format=ndjson&type=task`);
  assert.equal(stream.status, 200);
  assert.match(stream.headers.get("content-type")!, /ndjson/);
  const task = await cluster.submit({ Name: "watched", Image: SLEEP_IMAGE });
  const seen = await readUntil(
    stream,
    (events) => events.some((e) => e.Task === task.ID && e.Action === "Running"),
  );
  const mine = seen.filter((e) => e.Task === task.ID);
  assert.deepEqual(mine.map((e) => e.Action), ["Pending", "Scheduled", "Running"]);
  assert.ok(mine.every((e, i) => i === 0 || e.Index > mine[i - 1].Index), "indexes increase");
  assert.equal(mine[2].Node, [...cluster.workers.keys()][0]);
  assert.equal(mine[0].Name, "watched");

  // Resuming after the first: the rest, and nothing before it.
  const resumed = await trustedFetch(
    `${cluster.url}/events?format=ndjson&follow=false&task=${task.ID}&since=${mine[0].Index}`,
  );
  const rest = await readUntil(resumed, () => false);
  assert.deepEqual(rest.map((e) => e.Action), ["Scheduled", "Running"]);

  // Server-Sent Events resume from Last-Event-ID, as a browser's EventSource does.
  const sse = await trustedFetch(`${cluster.url}/events?follow=false&task=watched`, {
    headers: { "last-event-id": String(mine[1].Index) },
  });
  assert.match(sse.headers.get("content-type")!, /text\/event-stream/);
  const text = await sse.text();
  assert.equal(text, `id: ${mine[2].Index}\nevent: task\ndata: ${JSON.stringify(mine[2])}\n\n`);
});

Deno.test("service and node changes are in the stream too, and filters narrow it", async () => {
  await using cluster = await startCluster({ workers: 1 });
  await request(`${cluster.url}/services`, {
    body: { Name: "web", Replicas: 1, Task: { Image: SLEEP_IMAGE } },
  });
  await request(`${cluster.url}/services/web/scale`, { body: { Replicas: 0 } });
  const all = await readUntil(
    await trustedFetch(`${cluster.url}/events?format=ndjson&follow=false&since=0`),
    () => false,
  );
  assert.ok(all.some((e) => e.Type === "node" && e.Action === "joined"));
  const service = await readUntil(
    await trustedFetch(
      `${cluster.url}/events?format=ndjson&follow=false&since=0&service=web&type=service`,
    ),
    () => false,
  );
  assert.deepEqual(service.map((e) => e.Action), ["created", "scaled"]);
  const last = await readUntil(
    await trustedFetch(`${cluster.url}/events?format=ndjson&follow=false&last=1`),
    () => false,
  );
  assert.equal(last.length, 1);
  // The newest: at least as new as the end of the full read (the replica's stop may follow).
  assert.ok(last[0].Index >= all.at(-1)!.Index);
  for (
    const [query, message] of [
      ["since=-1", /Invalid since/],
      ["type=pods", /Invalid type: "pods" is not one of task, service, node/],
      ["format=xml", /Invalid format/],
    ] as const
  ) {
    const { status, body } = await request(`${cluster.url}/events?${query}`);
    assert.equal(status, 400);
    assert.match(body.Message, message);
  }
});

Deno.test("indexes never repeat after a restart, and collected events are reported gone", async () => {
  await using dir = await tempDir();
  const path = `${dir.path}/events.kv`;
  let lastIndex = 0;
  {
    using db = await KvDatabase.open(path);
    const log = new EventLog(db, systemClock, () => {}, 10);
    await log.load();
    for (let i = 0; i < 30; i++) {
      lastIndex = log.record({ Type: "node", Action: "back", Message: `m${i}` }).Index;
      // Stored ten to a write: the store collects whole writes.
      if (i % 10 === 9) await new Promise((resolve) => setTimeout(resolve, 120));
    }
    await log.close();
    await log.collect();
  }
  using db = await KvDatabase.open(path);
  const log = new EventLog(db, systemClock, () => {}, 10);
  await log.load();
  const next = log.record({ Type: "node", Action: "down", Message: "after" });
  assert.ok(next.Index > lastIndex, `${next.Index} comes after ${lastIndex}`);
  const app = createEventRoutes(log);
  const response = await app.request("/events?format=ndjson&follow=false&since=0");
  const lines = (await response.text()).trim().split("\n").map((l) => JSON.parse(l));
  assert.equal(lines[0].Type, "gone");
  assert.match(lines[0].Message, /were collected; the stream goes on from \d+/);
  assert.ok(lines.length - 1 < 31, "the oldest are gone from the store");
  assert.equal(lines.at(-1).Message, "after");
  await log.close();
});

Deno.test("a task's story tells of its image pull and of its first passing health check, as they happen", async () => {
  await using cluster = await startCluster({ workers: 0 });
  // `always`: a pull is tried (no registry answers here), and the local copy is used.
  await cluster.addWorker("w1", { pull: "always" });
  const task = await cluster.submit({
    Name: "told",
    Image: HTTP_IMAGE,
    HealthCheck: "/health",
    Health: { Interval: 0.2, Timeout: 1, FailureThreshold: 3 },
  });
  const story = await waitFor("the health check to pass", async () => {
    const { body } = await request(`${cluster.url}/tasks/${task.ID}/events`);
    return body.some((e: { Message: string }) => /health check GET \/health passed/.test(e.Message))
      ? body as { StateName: string; Message: string }[]
      : undefined;
  }, { timeoutMs: 30_000 });
  const told = story.map((e) => `${e.StateName}: ${e.Message}`);
  const pulling = told.indexOf(`Scheduled: pulling image "${HTTP_IMAGE}"`);
  const running = told.findIndex((line) => line.startsWith("Running: running on"));
  const fellBack = told.findIndex((line) =>
    /^Running: pull of image "cube-test\/http" failed .*; using the local copy$/.test(line)
  );
  const healthy = told.indexOf("Running: health check GET /health passed");
  assert.ok(pulling > 0 && running > pulling, told.join("\n"));
  assert.ok(healthy > running, told.join("\n"));
  // The fallback is said with the start (in the Running event's facts), not as an event of its own.
  assert.equal(fellBack, -1, told.join("\n"));
  const now = await cluster.task(task.ID);
  assert.equal(now.Progress, "health check GET /health passed");
  // The stream carries the same: a "changed" event for each.
  const { body: events } = await request(
    `${cluster.url}/events?task=${task.ID}&follow=false&format=ndjson&since=0`,
  );
  const lines = String(events).trim().split("\n").map((l) => JSON.parse(l) as ClusterEvent);
  assert.ok(
    lines.some((e) => e.Action === "changed" && /pulling image/.test(e.Message)),
    JSON.stringify(lines),
  );
});

Deno.test("a burst of events bigger than one store value is stored whole, a huge message cut to fit", async () => {
  await using dir = await tempDir();
  const path = `${dir.path}/events.kv`;
  const warnings: string[] = [];
  {
    using db = await KvDatabase.open(path);
    const log = new EventLog(db, systemClock, (m) => warnings.push(m));
    await log.load();
    // 500 events of ~200 bytes: one write of them all would pass KV's 64 KiB per value.
    for (let i = 0; i < 500; i++) {
      log.record({
        Type: "task",
        Action: "Running",
        Message: `running on sim-${i} ${"x".repeat(150)}`,
      });
    }
    log.record({ Type: "task", Action: "Failed", Message: "e".repeat(100_000) });
    await log.close();
  }
  assert.deepEqual(warnings, []);
  using db = await KvDatabase.open(path);
  const log = new EventLog(db, systemClock, () => {});
  await log.load();
  const { events } = await log.after(0, {});
  assert.equal(events.length, 501);
  assert.match(events[0].Message, /^running on sim-0 /);
  assert.ok(events[500].Message.length < 5_000, "the huge message was cut");
  assert.ok(events[500].Message.startsWith("eeee"));
  await log.close();
});
