/**
 * The cluster's event log: every change of a task, a service or a node gets the next
 * index and goes to the streams open now (`GET /events`) and to the store, many events
 * per write (a 10,000-replica service makes 30,000 events: one write each would double
 * what the task changes themselves cost).
 *
 * Indexes never repeat, even across a crash that loses events not yet written: the log
 * reserves indexes in blocks in the store before handing them out, and a manager that
 * starts again goes on after the last block reserved. The store keeps the newest
 * `MAX_STORED` events; a client that asks for older ones is told they are gone.
 *
 * @module
 */

import type { Clock } from "../lib/clock.ts";
import { CubeError, errorMessage } from "../lib/errors.ts";
import { serializedSize } from "../lib/size.ts";
import type { Database, Store } from "../store/mod.ts";
import { type ClusterEvent, type EventFilter, matchesFilter } from "../task/mod.ts";

const LOG = "log";
const META = "log_meta";
/** Events kept in the store (older ones are collected). */
export const MAX_STORED = 100_000;
/** Events kept in memory for streams that resume a little behind. */
const RECENT = 2_000;
/** Indexes reserved in the store at a time; a new block is reserved when half is used. */
const BLOCK = 100_000;
const FLUSH_MS = 50;
/** Events per stored chunk at most. */
const CHUNK = 500;
/**
 * Bytes per stored chunk at most: Deno KV refuses values over 64 KiB, and 500 events
 * of a big service's rise came to more (the log then kept failing on that chunk).
 */
const CHUNK_BYTES = 32 * 1024;
/** A message longer than this is cut before it is stored (the streams had it whole). */
const MAX_STORED_MESSAGE = 4 * 1024;

export type EventInput = Omit<ClusterEvent, "Index" | "Timestamp">;

/** One open stream: events come through `push`; `end` says why it stops. */
export interface Subscriber {
  filter: EventFilter;
  push(event: ClusterEvent): void;
  end(reason: string): void;
}

export class EventLog {
  readonly #log: Store<ClusterEvent[]>;
  readonly #meta: Store<number>;
  readonly #recent: ClusterEvent[] = [];
  readonly #unsaved: ClusterEvent[] = [];
  readonly #subscribers = new Set<Subscriber>();
  /** Stored chunks, oldest first: the key and the last index in it. */
  #chunks: { key: string; first: number; last: number }[] = [];
  #next = 1;
  #reserved = 0;
  #flushing: Promise<void> | null = null;
  #closed = false;

  constructor(
    private readonly db: Database,
    private readonly clock: Clock,
    private readonly warn: (message: string) => void,
    /** Events the store keeps. */
    private readonly keep = MAX_STORED,
  ) {
    this.#log = db.store<ClusterEvent[]>(LOG);
    this.#meta = db.store<number>(META);
  }

  async load(): Promise<void> {
    const chunks = await this.#log.list();
    for (const { key, value } of chunks) {
      if (value.length === 0) continue;
      this.#chunks.push({ key, first: value[0].Index, last: value.at(-1)!.Index });
      this.#recent.push(...value);
    }
    this.#recent.splice(0, Math.max(0, this.#recent.length - RECENT));
    const reserved = (await this.#meta.get("reserved"))?.value ?? 0;
    const last = this.#chunks.at(-1)?.last ?? 0;
    // Indexes up to `reserved` may have been handed out and lost: go on after them.
    this.#next = Math.max(last, reserved) + 1;
    this.#reserved = this.#next - 1;
    // A store that fails now must not keep the manager from starting: the next write
    // reserves again.
    await this.#reserve().catch((error) =>
      this.warn(`cannot reserve event indexes: ${errorMessage(error)}`)
    );
  }

  async #reserve(): Promise<void> {
    const reserved = this.#next + BLOCK;
    await this.#meta.put("reserved", reserved);
    this.#reserved = reserved;
  }

  /** The next index to be given. */
  get next(): number {
    return this.#next;
  }

  /** The oldest index the store still has (`next` when it has none). */
  get oldest(): number {
    return this.#chunks[0]?.first ?? this.#recent[0]?.Index ?? this.#next;
  }

  record(input: EventInput): ClusterEvent {
    const event: ClusterEvent = {
      Index: this.#next++,
      Timestamp: new Date(this.clock.now()).toISOString(),
      ...input,
    };
    this.#recent.push(event);
    if (this.#recent.length > RECENT * 1.5) this.#recent.splice(0, this.#recent.length - RECENT);
    for (const subscriber of this.#subscribers) {
      if (matchesFilter(event, subscriber.filter)) subscriber.push(event);
    }
    if (!this.#closed) {
      this.#unsaved.push(event);
      if (this.#unsaved.length > MAX_STORED) {
        // A store down for long: keep memory bounded; the streams had these already.
        const lost = this.#unsaved.splice(0, this.#unsaved.length - MAX_STORED);
        this.warn(`the store is failing: ${lost.length} events were not kept`);
      }
      this.#flushing ??= this.clock.sleep(FLUSH_MS).then(() => this.#flush());
    }
    return event;
  }

  /**
   * Events after `since` that match, oldest first, and whether some asked for were
   * collected already (`gone`: the index of the oldest still kept).
   */
  async after(
    since: number,
    filter: EventFilter,
  ): Promise<{ events: ClusterEvent[]; gone: number | null }> {
    const gone = since + 1 < this.oldest ? this.oldest : null;
    const recentFrom = this.#recent[0]?.Index ?? this.#next;
    let events: ClusterEvent[];
    if (since + 1 >= recentFrom) {
      events = this.#recent.filter((e) => e.Index > since);
    } else {
      const stored = (await this.#log.list().catch((error) => {
        throw new CubeError(
          503,
          `Cannot read the stored events: the store failed: ${errorMessage(error)}`,
        );
      })).flatMap((e) => e.value);
      const seen = new Set(stored.map((e) => e.Index));
      events = [...stored, ...this.#unsaved.filter((e) => !seen.has(e.Index))]
        .filter((e) => e.Index > since);
    }
    return { events: events.filter((e) => matchesFilter(e, filter)), gone };
  }

  /** The newest `count` events that match. */
  last(count: number, filter: EventFilter): ClusterEvent[] {
    const matching = this.#recent.filter((e) => matchesFilter(e, filter));
    return matching.slice(Math.max(0, matching.length - count));
  }

  subscribe(subscriber: Subscriber): () => void {
    this.#subscribers.add(subscriber);
    return () => this.#subscribers.delete(subscriber);
  }

  /** Ends every open stream (the manager is closing) and writes what is unsaved. */
  async close(): Promise<void> {
    this.#closed = true;
    for (const subscriber of this.#subscribers) subscriber.end("the manager is shutting down");
    this.#subscribers.clear();
    await this.#flushing;
    await this.#flush();
  }

  /** Forgets the oldest chunks beyond the events the store keeps. */
  async collect(): Promise<void> {
    const keepFrom = this.#next - this.keep;
    while (this.#chunks.length > 0 && this.#chunks[0].last < keepFrom) {
      const chunk = this.#chunks[0];
      await this.db.commit([{ store: LOG, key: chunk.key, delete: true }]);
      this.#chunks.shift();
    }
  }

  async #flush(): Promise<void> {
    try {
      while (this.#unsaved.length > 0) {
        const chunk = storedChunk(this.#unsaved);
        const last = chunk.at(-1)!.Index;
        const key = String(chunk[0].Index).padStart(16, "0");
        await this.db.commit([{ store: LOG, key, value: chunk }]);
        // Half the block used: reserve the next before it runs out.
        if (this.#reserved - this.#next < BLOCK / 2) await this.#reserve();
        this.#chunks.push({ key, first: chunk[0].Index, last });
        this.#unsaved.splice(0, chunk.length);
      }
    } catch (error) {
      // Kept for the next try; the streams had them already.
      this.warn(`cannot store events: ${errorMessage(error)}`);
    } finally {
      this.#flushing = null;
      if (this.#unsaved.length > 0 && !this.#closed) {
        this.#flushing = this.clock.sleep(1_000).then(() => this.#flush());
      }
    }
  }
}

/** The oldest unsaved events that fit in one stored chunk (at least one, cut to fit). */
function storedChunk(unsaved: ClusterEvent[]): ClusterEvent[] {
  const chunk: ClusterEvent[] = [];
  let bytes = 2;
  for (const event of unsaved) {
    if (chunk.length === CHUNK) break;
    const size = serializedSize(event) + 1;
    if (chunk.length > 0 && bytes + size > CHUNK_BYTES) break;
    chunk.push(
      size > CHUNK_BYTES && event.Message.length > MAX_STORED_MESSAGE
        ? { ...event, Message: `${event.Message.slice(0, MAX_STORED_MESSAGE)}…` }
        : event,
    );
    bytes += size;
  }
  return chunk;
}
