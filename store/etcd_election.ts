/**
 * One leader among several managers sharing an etcd cluster.
 *
 * Each manager holds a session: a lease of `ttlSeconds` (about 3 s), kept alive by the
 * client, under which it puts its candidacy `<prefix>/election/<lease>` (value: its URL)
 * and its presence `<prefix>/managers/<url>` (what `cube managers` lists). The oldest
 * candidacy leads, as in etcd's own election recipe. Every manager reads the head of the
 * line every `pollMs`: followers learn the leader's URL from it (for forwarding), and the
 * leader learns that it still is one.
 *
 * A term ends, and the manager steps down, when:
 * - its lease was lost, or not renewed for `ttl - 0.5 s` (the lease may expire on etcd
 *   any moment after that, and another manager may then lead: Kubernetes' renew deadline);
 * - the head of the line is another candidacy;
 * - a fenced write was refused (the term's database requires the election key to still
 *   be the one this term began with: a leader paused past its lease writes nothing);
 * - the manager closes (it resigns: its lease is revoked so another takes over at once).
 *
 * After a term the session is given up and a new one joins the back of the line.
 *
 * @module
 */

import { sleep } from "../lib/async.ts";
import { errorMessage } from "../lib/errors.ts";
import type { ManagerPresence } from "../task/mod.ts";
import type { Database } from "./store.ts";
import type { EtcdDatabase } from "./etcd_store.ts";

/** A time of leading: what the leader runs its control loops on. */
export interface Term {
  /** The store, with every write fenced by this term's election key. */
  db: Database;
  /** Aborted when the term ends (with the reason): stop everything begun in it. */
  signal: AbortSignal;
}

export interface ElectionOptions {
  /** The URL other managers, workers and clients reach this manager at. */
  url: string;
  /** Runs while this manager leads; must return soon after `term.signal` aborts. */
  lead: (term: Term) => Promise<void>;
  /** Lease TTL in seconds (etcd's minimum is 2). */
  ttlSeconds?: number;
  /** How often the head of the line is read, in ms. */
  pollMs?: number;
  log?: (message: string) => void;
}

interface Session {
  lease: ReturnType<EtcdDatabase["lease"]>;
  key: string;
  /** The create revision of the candidacy key: the fence. */
  revision: string;
  renewed: number;
  lost: string | null;
}

const RENEW_MARGIN_MS = 500;

export class EtcdElection {
  readonly #db: EtcdDatabase;
  readonly #url: string;
  readonly #lead: (term: Term) => Promise<void>;
  readonly #ttl: number;
  readonly #pollMs: number;
  readonly #log: (message: string) => void;
  readonly #closing = new AbortController();
  readonly #line: string;
  readonly #presence: string;
  #session: Session | null = null;
  #term: { control: AbortController; done: Promise<void> } | null = null;
  #leader: string | null = null;
  #storeError: string | null = null;
  #loop: Promise<void> | null = null;

  constructor(db: EtcdDatabase, options: ElectionOptions) {
    this.#db = db;
    this.#url = options.url;
    this.#lead = options.lead;
    this.#ttl = options.ttlSeconds ?? 3;
    this.#pollMs = options.pollMs ?? 200;
    this.#log = options.log ?? ((m) => console.log(`[manager] ${m}`));
    this.#line = `${db.prefix}/election/`;
    this.#presence = `${db.prefix}/managers/`;
  }

  /** The leader's URL, as last read; null while there is none (or etcd did not answer). */
  get leader(): string | null {
    return this.#leader;
  }

  /** Whether this manager leads now. */
  get leading(): boolean {
    return this.#term !== null && !this.#term.control.signal.aborted;
  }

  /** Why the last read of the election failed; null while etcd answers. */
  get storeError(): string | null {
    return this.#storeError;
  }

  start(): void {
    this.#loop ??= this.#run();
  }

  /** Ends the term (if any) and resigns, so that another manager leads at once. */
  async close(): Promise<void> {
    this.#closing.abort();
    await this.#loop;
    await this.#endTerm("the manager is shutting down");
    await this.#resign();
  }

  /** The managers whose sessions are alive, the leader first. */
  async managers(): Promise<ManagerPresence[]> {
    const client = this.#db.client;
    const [present, head] = await Promise.all([
      client.getAll().prefix(this.#presence).strings(),
      client.getAll().prefix(this.#line).sort("Create", "Ascend").limit(1).strings(),
    ]);
    const leader = Object.values(head)[0] ?? null;
    return Object.values(present)
      .map((value) => JSON.parse(value) as { Url: string; Since: string })
      .map(({ Url, Since }) => ({ Url, Leader: Url === leader, Since }))
      .sort((a, b) => Number(b.Leader) - Number(a.Leader) || a.Url.localeCompare(b.Url));
  }

  async #run(): Promise<void> {
    const signal = this.#closing.signal;
    while (!signal.aborted) {
      try {
        const session = this.#session ?? await this.#join();
        const head = await this.#db.client.getAll().prefix(this.#line)
          .sort("Create", "Ascend").limit(1).exec();
        if (this.#storeError !== null) this.#log("etcd answers again");
        this.#storeError = null;
        const first = head.kvs[0];
        const leader = first ? first.value.toString() : null;
        if (leader !== this.#leader && leader !== null && leader !== this.#url) {
          this.#log(`following the leader at ${leader}`);
        }
        this.#leader = leader;
        const mine = first?.key.toString() === session.key;
        const late = this.#late(session);
        if (session.lost || (this.#term && (!mine || late))) {
          await this.#stepDown(
            session.lost ??
              (!mine ? "another manager holds the election" : "its lease was not renewed in time"),
          );
        } else if (mine && !this.#term && !late) {
          this.#begin(session);
        }
      } catch (error) {
        const message = errorMessage(error);
        if (this.#storeError === null) this.#log(`cannot read the election in etcd: ${message}`);
        this.#storeError = message;
        this.#leader = null;
        const session = this.#session;
        if (this.#term && session && this.#late(session)) {
          await this.#stepDown(`etcd does not answer: ${message}`);
        }
      }
      await sleep(this.#pollMs, signal);
    }
  }

  /** Not renewed for so long that etcd may expire the lease any moment: a leader steps down. */
  #late(session: Session): boolean {
    return Date.now() - session.renewed > this.#ttl * 1000 - RENEW_MARGIN_MS;
  }

  /** A new session: a lease, this manager's presence, and its place at the back of the line. */
  async #join(): Promise<Session> {
    const lease = this.#db.lease(this.#ttl);
    try {
      const id = await lease.grant();
      const key = `${this.#line}${id}`;
      const since = new Date().toISOString();
      const client = this.#db.client;
      const created = await client.if(key, "Create", "==", 0)
        .then(
          client.put(key).value(this.#url).lease(id),
          client.put(`${this.#presence}${encodeURIComponent(this.#url)}`)
            .value(JSON.stringify({ Url: this.#url, Since: since })).lease(id),
        )
        .commit();
      const session: Session = {
        lease,
        key,
        revision: created.header.revision,
        renewed: Date.now(),
        lost: null,
      };
      lease.on("keepaliveSucceeded", () => session.renewed = Date.now());
      lease.on("lost", (error) => {
        session.lost = `its lease was lost: ${errorMessage(error)}`;
      });
      this.#session = session;
      return session;
    } catch (error) {
      lease.release();
      throw error;
    }
  }

  #begin(session: Session): void {
    const control = new AbortController();
    const db = this.#db.fenced({
      key: session.key,
      revision: session.revision,
      onFenced: () => {
        if (!control.signal.aborted) {
          session.lost = "a write was refused: the election key is not its own any more";
        }
      },
    });
    this.#log(`leading the cluster (${this.#url})`);
    const done = this.#lead({ db, signal: control.signal }).catch((error) => {
      this.#log(`could not lead: ${errorMessage(error)}`);
      session.lost ??= `leading failed: ${errorMessage(error)}`;
    });
    this.#term = { control, done };
  }

  async #endTerm(reason: string): Promise<void> {
    const term = this.#term;
    if (!term) return;
    if (!term.control.signal.aborted) {
      this.#log(`stepping down: ${reason}`);
      term.control.abort(new Error(reason));
    }
    await term.done;
    this.#term = null;
  }

  /** Ends the term and gives up the session: a new one goes to the back of the line. */
  async #stepDown(reason: string): Promise<void> {
    await this.#endTerm(reason);
    await this.#resign();
  }

  async #resign(): Promise<void> {
    const session = this.#session;
    this.#session = null;
    if (!session) return;
    // Revoked, another manager takes over at once; if etcd does not answer, the lease
    // expires on its own.
    await session.lease.revoke().catch(() => session.lease.release());
  }
}
