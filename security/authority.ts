/**
 * The manager's secrets, created on its first start and kept in its store so that a
 * restart (or, later, another manager on the same store) finds the same cluster:
 *
 * - the cluster CA, which signs the managers' HTTPS certificates; its digest is in the
 *   join token, so a joining worker trusts this CA and no other;
 * - the node CA, which signs the workers' certificates from their requests. It is a
 *   second CA on purpose: a worker trusts only the cluster CA, so a joined (or stolen)
 *   node certificate can never pass for a manager;
 * - the manager key, from which each node's manager credential is derived (HMAC of its
 *   name): what the manager shows a worker to be let in, different for every node;
 * - the join secret of the worker join token, which `cube token join --rotate` replaces.
 *
 * @module
 */

import { CubeError } from "../lib/errors.ts";
import type { Store } from "../store/mod.ts";
import { caDigest, createCa, issueServerCert, type KeyPair, signCsr } from "./ca.ts";
import { formatJoinToken, parseJoinToken } from "./join_token.ts";
import { base64Url, constantTimeEqual, randomBase64Url } from "./tokens.ts";

/** What is stored, under one key. */
export interface AuthorityRecord {
  Ca: KeyPair;
  NodeCa: KeyPair;
  /** base64url, 32 random bytes. */
  ManagerKey: string;
  /** base64url, 32 random bytes. */
  JoinSecret: string;
}

const KEY = "authority";

export class Authority {
  readonly #derived = new Map<string, string>();
  #hmac: CryptoKey | null = null;

  private constructor(
    private readonly store: Store<AuthorityRecord>,
    private record: AuthorityRecord,
    /** Hex SHA-256 of the cluster CA certificate. */
    readonly caDigest: string,
  ) {}

  /** Loads the cluster's secrets, creating them on the first start. */
  static async open(store: Store<AuthorityRecord>): Promise<Authority & { created: boolean }> {
    let entry = await store.get(KEY);
    let created = false;
    if (!entry) {
      const record: AuthorityRecord = {
        Ca: await createCa(new Date(), "cube cluster CA"),
        NodeCa: await createCa(new Date(), "cube node CA"),
        ManagerKey: randomBase64Url(32),
        JoinSecret: randomBase64Url(32),
      };
      // Another manager on the same store may have come first: then its secrets win.
      created = await store.putIf(KEY, record, null) !== null;
      entry = await store.get(KEY);
      if (!entry) {
        throw new Error("The cluster's secrets vanished from the store as they were made");
      }
    }
    const authority = new Authority(store, entry.value, await caDigest(entry.value.Ca.certPem));
    return Object.assign(authority, { created });
  }

  /** The cluster CA certificate (public): what clients and workers trust. */
  get caPem(): string {
    return this.record.Ca.certPem;
  }

  /** The node CA certificate: what the manager trusts when it calls a worker. */
  get nodeCaPem(): string {
    return this.record.NodeCa.certPem;
  }

  /** A fresh HTTPS certificate for a manager that answers at `names`. */
  serverCert(names: readonly string[]): Promise<KeyPair> {
    return issueServerCert(this.record.Ca, "cube manager", names);
  }

  /** A node's certificate for `name`, from its request (its key never leaves it). */
  signNode(csrPem: string, name: string): Promise<string> {
    return signCsr(this.record.NodeCa, csrPem, name);
  }

  /** The worker join token: `CUBEJOIN-1-<CA digest>-<secret>`. */
  joinToken(): string {
    return formatJoinToken(this.caDigest, this.record.JoinSecret);
  }

  /** Replaces the join secret: the old token stops working for new joins. */
  async rotateJoin(): Promise<string> {
    const updated = await this.store.update(
      KEY,
      (current) => current ? { ...current, JoinSecret: randomBase64Url(32) } : undefined,
    );
    if (!updated) throw new CubeError(503, "The cluster's secrets are missing from the store");
    this.record = updated;
    return this.joinToken();
  }

  /** Checks a join token in constant time; a 401 that says what to do otherwise. */
  async checkJoin(token: string | undefined): Promise<void> {
    // Re-read: a rotation by another manager on the same store counts at once.
    const current = (await this.store.get(KEY))?.value;
    if (current) this.record = current;
    const parsed = token ? parseJoinToken(token) : null;
    if (
      !parsed || !constantTimeEqual(parsed.digest, this.caDigest) ||
      !constantTimeEqual(parsed.secret, this.record.JoinSecret)
    ) {
      throw new CubeError(
        401,
        "The join token is not valid (it may have been rotated): get the current one with 'cube token join'",
      );
    }
  }

  /** The manager credential of node `name`: the secret the manager calls it with. */
  async managerCredential(name: string): Promise<string> {
    const known = this.#derived.get(name);
    if (known) return known;
    this.#hmac ??= await crypto.subtle.importKey(
      "raw",
      new TextEncoder().encode(this.record.ManagerKey),
      { name: "HMAC", hash: "SHA-256" },
      false,
      ["sign"],
    );
    const mac = await crypto.subtle.sign(
      "HMAC",
      this.#hmac,
      new TextEncoder().encode(`cube manager credential for node ${name}`),
    );
    const credential = `cubemgr_${base64Url(new Uint8Array(mac))}`;
    if (this.#derived.size > 10_000) this.#derived.clear();
    this.#derived.set(name, credential);
    return credential;
  }
}
