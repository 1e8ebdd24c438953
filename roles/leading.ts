/**
 * A manager's role: alone on its store (`leadAlone`, Deno KV), it leads from the start;
 * among several on one etcd cluster (`leadOnEtcd`), it campaigns (store/etcd_election.ts).
 * While it leads, a `Manager` runs on the term's fenced store and serves the whole API;
 * while it follows, it answers `/health` and `/managers` and forwards the rest to the
 * leader (manager/follower_app.ts). A new term starts a fresh `Manager`, which loads
 * everything from the store as after a restart: nothing is carried over in memory from
 * a term that may have been overtaken.
 *
 * @module
 */

import type { Hono } from "hono";
import type { Handler } from "../http/serve.ts";
import { systemClock } from "../lib/clock.ts";
import { CubeError } from "../lib/errors.ts";
import { createManagerApp, type Manager } from "../manager/mod.ts";
import { type ClusterView, createFollowerApp, soleManager } from "../manager/follower_app.ts";
import { Authority, type AuthorityRecord, type TokenRecord, Tokens } from "../security/mod.ts";
import { type Database, type EtcdDatabase, EtcdElection, type Term } from "../store/mod.ts";
import { TrustingClients } from "../lib/transport.ts";

export interface ManagerRole extends Handler {
  /** Campaigns (with several managers); call once this manager's URL is known. */
  start(): void;
  /** Stops the control loops; with several managers, resigns first (another leads at once). */
  close(): Promise<void>;
  /** The manager running the control loops; a 503 while this one does not lead. */
  manager(): Manager;
  leading(): boolean;
}

/** The only manager (its store is Deno KV or memory): it leads from the start, for good. */
export async function leadAlone(options: {
  manager: Manager;
  security: { tokens: Tokens; authority: Authority };
  url: () => string;
  shutdown: AbortSignal;
}): Promise<ManagerRole> {
  const { manager } = options;
  await manager.start();
  const app = createManagerApp({
    manager,
    shutdown: options.shutdown,
    security: options.security,
    cluster: soleManager(options.url),
  });
  return {
    fetch: (request) => app.fetch(request),
    start() {},
    close: () => manager.close(),
    manager: () => manager,
    leading: () => true,
  };
}

export function leadOnEtcd(options: {
  db: EtcdDatabase;
  /** A manager on the given (fenced) store. */
  managerOn: (db: Database) => Manager;
  /** Checks tokens where a follower answers itself (`GET /managers`). */
  tokens: Tokens;
  /** The cluster CA: the leader's certificate is signed by it. */
  caPem: string;
  url: () => string;
  shutdown: AbortSignal;
  /** Lease TTL in seconds. */
  ttlSeconds?: number;
  log?: (message: string) => void;
}): ManagerRole {
  const clients = new TrustingClients(options.caPem);
  let election: EtcdElection | null = null;
  let current: { manager: Manager; app: Hono } | null = null;
  const cluster: ClusterView = {
    get url() {
      return options.url();
    },
    leader: () => election?.leader ?? null,
    leading: () => current !== null,
    storeError: () => election?.storeError ?? null,
    managers: () => election ? election.managers() : Promise.resolve([]),
  };
  const follower = createFollowerApp({
    cluster,
    tokens: options.tokens,
    clients,
    shutdown: options.shutdown,
  });

  async function lead(term: Term): Promise<void> {
    // Everything this term writes goes through the fenced store, tokens included.
    const authority = await Authority.open(term.db.store<AuthorityRecord>("security"));
    const tokens = new Tokens(
      term.db.store<TokenRecord>("tokens"),
      systemClock,
      term.db.store("node-names"),
    );
    const manager = options.managerOn(term.db);
    try {
      await manager.start();
    } catch (error) {
      await manager.close().catch(() => {});
      throw error;
    }
    if (!term.signal.aborted) {
      current = {
        manager,
        app: createManagerApp({
          manager,
          // Streams opened in this term end with it: a follower's clients reconnect.
          shutdown: AbortSignal.any([term.signal, options.shutdown]),
          security: { tokens, authority },
          cluster,
        }),
      };
      await new Promise((resolve) => {
        if (term.signal.aborted) resolve(undefined);
        term.signal.addEventListener("abort", resolve, { once: true });
      });
      current = null;
    }
    await manager.close();
  }

  return {
    fetch: (request) => (current?.app ?? follower).fetch(request),
    start() {
      election ??= new EtcdElection(options.db, {
        url: options.url(),
        lead,
        ttlSeconds: options.ttlSeconds,
        log: options.log,
      });
      election.start();
    },
    async close() {
      await election?.close();
      clients.close();
    },
    manager() {
      if (!current) {
        throw new CubeError(503, "This manager does not lead: its control loops are not running");
      }
      return current.manager;
    },
    leading: () => current !== null,
  };
}
