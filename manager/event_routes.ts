/**
 * `GET /events`: the event stream, as Server-Sent Events (`id:` is the event's index, so
 * a browser's `EventSource` resumes by itself) or, with `?format=ndjson`, one JSON object
 * per line.
 *
 * - where it starts: `?since=INDEX` or a `Last-Event-ID` header (the events after it),
 *   `?last=N` (the newest N), else now. Asked for events the store no longer has, the
 *   stream says so first (`gone`) and goes on from the oldest it has;
 * - `?follow=false` ends the stream after what is stored (the CLI's `cube events`);
 * - filters: `?task=` (ID or name), `?service=`, `?node=`, `?type=task,service,node`;
 * - a comment (`: keep-alive`; an empty line in NDJSON) every 15 s while it is quiet;
 * - a client that falls 10,000 events behind is told so and cut: it resumes with `since`.
 *
 * @module
 */

import { Hono } from "hono";
import { CubeError } from "../lib/errors.ts";
import { type ClusterEvent, EVENT_TYPES, type EventFilter, type EventType } from "../task/mod.ts";
import type { EventLog } from "./event_log.ts";

const KEEP_ALIVE_MS = 15_000;
const MAX_QUEUED = 10_000;

function count(value: string | undefined, name: string): number | undefined {
  if (value === undefined || value === "") return undefined;
  if (!/^\d{1,15}$/.test(value)) {
    throw new CubeError(400, `Invalid ${name}: "${value}" is not a whole number`);
  }
  return Number(value);
}

function typesOf(value: string | undefined): EventType[] | undefined {
  if (!value) return undefined;
  const types = value.split(",").map((t) => t.trim());
  for (const type of types) {
    if (!(EVENT_TYPES as readonly string[]).includes(type)) {
      throw new CubeError(
        400,
        `Invalid type: "${type}" is not one of ${EVENT_TYPES.join(", ")}`,
      );
    }
  }
  return types as EventType[];
}

export function createEventRoutes(
  events: EventLog,
  shutdown?: AbortSignal,
  path = "/events",
): Hono {
  const routes = new Hono();

  routes.get(path, async (c) => {
    const query = c.req.query();
    const since = count(query.since, "since") ??
      count(c.req.header("last-event-id"), "Last-Event-ID");
    const last = count(query.last, "last");
    const follow = !["false", "0", "no"].includes(query.follow ?? "");
    const ndjson = query.format === "ndjson";
    if (query.format && !ndjson && query.format !== "sse") {
      throw new CubeError(400, `Invalid format: "${query.format}" is not sse or ndjson`);
    }
    const filter: EventFilter = {
      task: query.task || undefined,
      service: query.service || undefined,
      node: query.node || undefined,
      types: typesOf(query.type),
    };

    const encoder = new TextEncoder();
    const frame = (event: ClusterEvent) =>
      ndjson
        ? `${JSON.stringify(event)}\n`
        : `id: ${event.Index}\nevent: ${event.Type}\ndata: ${JSON.stringify(event)}\n\n`;
    const notice = (kind: "gone" | "end", message: string) =>
      ndjson
        ? `${JSON.stringify({ Type: kind, Message: message })}\n`
        : `event: ${kind}\ndata: ${JSON.stringify({ Message: message })}\n\n`;

    // Subscribed before the history is read, so nothing falls between the two.
    const queue: string[] = [];
    let wake: (() => void) | null = null;
    let ended = false;
    /** Live events while the history is read: kept apart, then merged without repeats. */
    let early: ClusterEvent[] | null = [];
    const push = (text: string) => {
      queue.push(text);
      wake?.();
    };
    const end = (message?: string) => {
      if (ended) return;
      if (message) push(notice("end", message));
      ended = true;
      wake?.();
    };
    const unsubscribe = follow
      ? events.subscribe({
        filter,
        push: (event) => {
          if (early) return void early.push(event);
          if (queue.length >= MAX_QUEUED) {
            unsubscribe();
            end(`too far behind: resume with since=${event.Index - 1}`);
            return;
          }
          push(frame(event));
        },
        end: (reason) => end(reason),
      })
      : () => {};

    let history: { events: ClusterEvent[]; gone: number | null };
    try {
      history = since !== undefined
        ? await events.after(since, filter)
        : { events: last ? events.last(last, filter) : [], gone: null };
    } catch (error) {
      unsubscribe(); // the store failed: no stream, and nothing left listening
      throw error;
    }
    const head: string[] = [];
    if (history.gone !== null) {
      head.push(notice(
        "gone",
        `events up to ${history.gone - 1} were collected; the stream goes on from ${history.gone}`,
      ));
    }
    for (const event of history.events) head.push(frame(event));
    const newest = history.events.at(-1)?.Index ?? 0;
    const live = early.filter((e) => e.Index > newest).map(frame);
    early = null;
    queue.unshift(...head, ...live);
    if (!follow) end();

    const signal = shutdown ? AbortSignal.any([c.req.raw.signal, shutdown]) : c.req.raw.signal;
    const stop = () => {
      unsubscribe();
      end();
    };
    signal.addEventListener("abort", stop, { once: true });
    const body = new ReadableStream<Uint8Array>({
      async pull(controller) {
        while (queue.length === 0 && !ended) {
          const quiet = new Promise<boolean>((resolve) => {
            const timer = setTimeout(() => resolve(true), KEEP_ALIVE_MS);
            wake = () => {
              clearTimeout(timer);
              resolve(false);
            };
          });
          const idle = await quiet;
          wake = null;
          if (idle && queue.length === 0 && !ended) {
            controller.enqueue(encoder.encode(ndjson ? "\n" : ": keep-alive\n\n"));
            return;
          }
        }
        if (queue.length > 0) {
          controller.enqueue(encoder.encode(queue.splice(0).join("")));
          return;
        }
        signal.removeEventListener("abort", stop);
        unsubscribe();
        controller.close();
      },
      cancel() {
        signal.removeEventListener("abort", stop);
        stop();
      },
    });
    return c.body(body, 200, {
      "content-type": ndjson ? "application/x-ndjson" : "text/event-stream",
      "cache-control": "no-cache",
    });
  });

  return routes;
}
