/**
 * The simulated network between the manager and the workers: every call is delayed by a
 * random amount (so calls overtake each other), and may be lost on the way there or
 * back, or delivered twice; a partition drops everything to and from a host; a host that
 * is down refuses at once. The receiving side is the real Hono app of each process.
 *
 * @module
 */

import type { Transport } from "../lib/transport.ts";
import type { SimClock } from "./clock.ts";
import type { Random } from "./random.ts";

export interface Endpoint {
  fetch(request: Request): Response | Promise<Response>;
}

export interface NetworkFaults {
  /** Chance that a request, or its answer, is lost. */
  loss: number;
  /** Chance that a request is delivered twice. */
  duplicate: number;
  /** Largest one-way delay, in ms. */
  maxDelayMs: number;
}

/** Told of every request a host answered. */
export type Delivered = (
  from: string,
  to: string,
  method: string,
  path: string,
  status: number,
) => void;

export class SimNetwork {
  readonly #endpoints = new Map<string, Endpoint>();
  /** host → end of its partition (simulated ms). */
  readonly #partitions = new Map<string, number>();
  onDelivered: Delivered = () => {};

  constructor(
    private readonly clock: SimClock,
    private readonly random: Random,
    readonly faults: NetworkFaults,
  ) {}

  /** Puts a host on the network (or takes it off, when `endpoint` is null: it refuses). */
  attach(host: string, endpoint: Endpoint | null): void {
    if (endpoint) this.#endpoints.set(host, endpoint);
    else this.#endpoints.delete(host);
  }

  partition(host: string, ms: number): void {
    this.#partitions.set(host, this.clock.now() + ms);
  }

  healAll(): void {
    this.#partitions.clear();
  }

  isPartitioned(host: string): boolean {
    const until = this.#partitions.get(host);
    if (until === undefined) return false;
    if (until > this.clock.now()) return true;
    this.#partitions.delete(host);
    return false;
  }

  #cut(a: string, b: string): boolean {
    return this.isPartitioned(a) || this.isPartitioned(b);
  }

  #delay(): number {
    return this.random.int(0, this.faults.maxDelayMs);
  }

  /** Calls from `from`, as a `Transport`. */
  transport(from: string): Transport {
    return (url, init, timeoutMs) => this.#call(from, url, init, timeoutMs);
  }

  #call(from: string, url: string, init: RequestInit, timeoutMs: number): Promise<Response> {
    const target = new URL(url);
    const to = target.host;
    const method = init.method ?? "GET";
    const body = typeof init.body === "string" ? init.body : undefined;
    const headers = init.headers;
    return new Promise<Response>((resolve, reject) => {
      let settled = false;
      const timer = new AbortController();
      const finish = (settle: () => void) => {
        if (settled) return;
        settled = true;
        timer.abort();
        settle();
      };
      if (timeoutMs > 0) {
        this.clock.sleep(timeoutMs, timer.signal).then(() =>
          finish(() => reject(new DOMException(`no answer within ${timeoutMs} ms`, "TimeoutError")))
        );
      }
      const deliver = async (primary: boolean) => {
        await this.clock.sleep(this.#delay());
        if (this.#cut(from, to) || this.random.chance(this.faults.loss)) return;
        const endpoint = this.#endpoints.get(to);
        if (!endpoint) {
          if (primary) finish(() => reject(new TypeError("connection refused")));
          return;
        }
        let response: Response;
        try {
          response = await endpoint.fetch(new Request(url, { method, headers, body }));
        } catch (error) {
          if (primary) finish(() => reject(error));
          return;
        }
        const text = await response.text();
        this.onDelivered(from, to, method, target.pathname, response.status);
        await this.clock.sleep(this.#delay());
        if (!primary || this.#cut(from, to) || this.random.chance(this.faults.loss)) return;
        finish(() =>
          resolve(
            new Response(text === "" ? null : text, {
              status: response.status,
              headers: response.headers,
            }),
          )
        );
      };
      deliver(true);
      if (this.random.chance(this.faults.duplicate)) deliver(false);
    });
  }
}
