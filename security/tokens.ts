/**
 * Bearer tokens: user tokens with a role, and node credentials (a joined worker's, good
 * for its own name only). Stored only as a SHA-256 hash, shown once when created,
 * compared in constant time, with an optional expiry and revocation. A token reads
 * `cube_<id>_<secret>`: the ID finds the record, the hash of the whole token proves it.
 *
 * @module
 */

import { createHash } from "node:crypto";
import type { Clock } from "../lib/clock.ts";
import { CubeError, errorMessage } from "../lib/errors.ts";
import type { Store } from "../store/mod.ts";

/** A user's role; `node` is a joined worker's credential, never given to a user. */
export type Role = "admin" | "operator" | "reader" | "node";
/** The roles a user token may have. */
export const ROLES: readonly Role[] = ["admin", "operator", "reader"];

/** What is stored of a token: never the token itself. */
export interface TokenRecord {
  ID: string;
  Name: string;
  Role: Role;
  /** Hex SHA-256 of the whole token. */
  Hash: string;
  CreateTime: string;
  /** RFC 3339, or "" for no expiry. */
  ExpireTime: string;
  /** RFC 3339 of the revocation, or "". */
  RevokeTime: string;
  /** A node credential's node name; absent on user tokens. */
  Node?: string;
}

/** A token as listed: its record without the hash. */
export type TokenInfo = Omit<TokenRecord, "Hash">;

const TOKEN = /^cube_([0-9a-f]{12})_([A-Za-z0-9_-]{43})$/;

function hex(bytes: ArrayBuffer): string {
  return [...new Uint8Array(bytes)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/**
 * Hex SHA-256. Synchronous (node:crypto): every request of a thousand nodes hashes its
 * token, and WebCrypto's promise per digest was 6% of a busy manager's time.
 */
function sha256(text: string): string {
  return createHash("sha256").update(text).digest("hex");
}

/** Equal strings of equal length, in time that does not depend on where they differ. */
export function constantTimeEqual(a: string, b: string): boolean {
  if (a.length !== b.length) return false;
  let difference = 0;
  for (let i = 0; i < a.length; i++) difference |= a.charCodeAt(i) ^ b.charCodeAt(i);
  return difference === 0;
}

/** Bytes as unpadded base64url: safe in a shell word, a header and a URL. */
export function base64Url(bytes: Uint8Array): string {
  return btoa(String.fromCharCode(...bytes)).replaceAll("+", "-").replaceAll("/", "_")
    .replace(/=+$/, "");
}

/** `bytes` random bytes as base64url: a secret. */
export function randomBase64Url(bytes: number): string {
  return base64Url(crypto.getRandomValues(new Uint8Array(bytes)));
}

function unauthorized(message: string): CubeError {
  return new CubeError(401, message);
}

/**
 * How long a token record read from the store is trusted without reading it again: a
 * revocation through this manager counts at once; one through another manager on the same
 * store, within this long.
 */
const FRESH_MS = 1_000;

export class Tokens {
  readonly #recent = new Map<string, { record: TokenRecord; at: number }>();

  /**
   * @param store token records by ID
   * @param nodes node name → the ID of that node's credential: one joined node per name
   */
  constructor(
    private readonly store: Store<TokenRecord>,
    private readonly clock: Clock,
    private readonly nodes?: Store<string>,
  ) {}

  /** Makes a user token; the returned `token` is the only time it is ever seen. */
  async create(
    role: Role,
    options: { name?: string; ttlMs?: number } = {},
  ): Promise<{ token: string; info: TokenInfo }> {
    if (!ROLES.includes(role)) {
      throw new CubeError(400, `Invalid role "${role}": expected admin, operator or reader`);
    }
    if (options.ttlMs !== undefined && !(options.ttlMs > 0)) {
      throw new CubeError(400, "Invalid TTL: it must be a positive duration");
    }
    return await this.#create(role, options.name ?? "", options.ttlMs);
  }

  /**
   * A joined node's credential, good for `name` only. 409 when another node holds the
   * name (its credential not revoked): a name is taken until that node is removed.
   */
  async createNode(name: string): Promise<{ token: string; info: TokenInfo }> {
    if (!this.nodes) throw new Error("Tokens: no node index to create node credentials in");
    const held = await this.nodes.get(name);
    if (held) {
      const record = (await this.store.get(held.value))?.value;
      if (record && !record.RevokeTime) {
        throw new CubeError(
          409,
          `Node name "${name}" is taken by a joined node: remove that node first (DELETE /nodes/${name})`,
        );
      }
    }
    const created = await this.#create("node", name, undefined, name);
    if (await this.nodes.putIf(name, created.info.ID, held?.version ?? null) === null) {
      await this.store.delete(created.info.ID);
      throw new CubeError(409, `Node name "${name}" was taken by another node joining just now`);
    }
    return created;
  }

  /**
   * Revokes the credential of node `name`, if it has one: the name is free again. Says
   * whether there was one.
   */
  async revokeNode(name: string): Promise<boolean> {
    const held = await this.nodes?.get(name);
    if (!held) return false;
    await this.revoke(held.value).catch(() => {});
    await this.nodes!.deleteIf(name, held.version);
    return true;
  }

  async #create(
    role: Role,
    name: string,
    ttlMs: number | undefined,
    node?: string,
  ): Promise<{ token: string; info: TokenInfo }> {
    const id = hex(crypto.getRandomValues(new Uint8Array(6)).buffer);
    const token = `cube_${id}_${randomBase64Url(32)}`;
    const now = this.clock.now();
    const record: TokenRecord = {
      ID: id,
      Name: name,
      Role: role,
      Hash: sha256(token),
      CreateTime: new Date(now).toISOString(),
      ExpireTime: ttlMs ? new Date(now + ttlMs).toISOString() : "",
      RevokeTime: "",
      ...(node === undefined ? {} : { Node: node }),
    };
    if (await this.store.putIf(id, record, null) === null) {
      throw new CubeError(409, `Token ${id} exists already; try again`);
    }
    const { Hash: _, ...info } = record;
    return { token, info };
  }

  /**
   * The role a bearer token carries; a 401 that says why for a token that is missing,
   * malformed, unknown, expired or revoked (never which part of a wrong token was wrong).
   */
  async verify(token: string | undefined): Promise<TokenInfo> {
    if (!token) throw unauthorized("A token is required: send Authorization: Bearer <token>");
    const match = token.match(TOKEN);
    const record = match ? await this.#record(match[1]) : undefined;
    // Hash even when there is no record, so an unknown ID costs the same as a wrong secret.
    const hash = sha256(token);
    if (!record || !constantTimeEqual(hash, record.Hash)) {
      throw unauthorized("The token is not valid");
    }
    if (record.RevokeTime) throw unauthorized(`Token ${record.ID} was revoked`);
    if (record.ExpireTime && Date.parse(record.ExpireTime) <= this.clock.now()) {
      throw unauthorized(`Token ${record.ID} expired at ${record.ExpireTime}`);
    }
    const { Hash: _, ...info } = record;
    return info;
  }

  /** A token's record, read from the store at most once a second (a read per request costs). */
  async #record(id: string): Promise<TokenRecord | undefined> {
    const now = Date.now();
    const recent = this.#recent.get(id);
    if (recent && now - recent.at < FRESH_MS) return recent.record;
    let record: TokenRecord | undefined;
    try {
      record = (await this.store.get(id))?.value;
    } catch (error) {
      // Not the caller's fault, and not a crash: the book's 503, as for any store failure.
      throw new CubeError(503, `Cannot check the token: the store failed: ${errorMessage(error)}`, {
        cause: error,
      });
    }
    if (this.#recent.size >= 10_000) this.#recent.clear();
    if (record) this.#recent.set(id, { record, at: now });
    else this.#recent.delete(id);
    return record;
  }

  async list(): Promise<TokenInfo[]> {
    return (await this.store.list()).map(({ value: { Hash: _, ...info } }) => info);
  }

  /** Revokes a token at once; repeating it is harmless; 404 when unknown. */
  async revoke(id: string): Promise<TokenInfo> {
    const updated = await this.store.update(
      id,
      (record) =>
        !record || record.RevokeTime
          ? undefined
          : { ...record, RevokeTime: new Date(this.clock.now()).toISOString() },
    );
    this.#recent.delete(id);
    if (!updated) throw new CubeError(404, `Token ${id} not found`);
    const { Hash: _, ...info } = updated;
    return info;
  }
}

function safeDecode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

/**
 * What a token may do: a reader only reads, an operator does everything but manage
 * tokens, an admin everything; a node credential only heartbeats and reports, for its own
 * name. `403` with the reason otherwise. `path` is without the `/v1` prefix.
 */
export function authorize(who: Pick<TokenInfo, "Role" | "Node">, method: string, path: string) {
  const role = who.Role;
  const reading = method === "GET" || method === "HEAD";
  const tokens = /^\/tokens(\/|$)/.test(path);
  const reports = path.match(/^\/nodes\/([^/]+)\/tasks$/);
  if (role === "node") {
    const of = reports ? safeDecode(reports[1]) : "";
    if (method === "POST" && path === "/nodes") return;
    if (method === "POST" && reports && of === who.Node) return;
    throw new CubeError(
      403,
      reports
        ? `Node ${who.Node} may report its own tasks only, not those of ${of}`
        : `A node credential may only heartbeat and report, not ${method} ${path}`,
    );
  }
  if (method === "POST" && (path === "/nodes" || reports)) {
    throw new CubeError(
      403,
      "Only a joined worker heartbeats and reports: start it with 'cube worker --join-token T'",
    );
  }
  if (role === "admin") return;
  if (role === "operator" && !tokens) return;
  if (role === "reader" && reading && !tokens) return;
  throw new CubeError(
    403,
    `A ${role} token may not ${method} ${path}${
      tokens ? ": managing tokens takes an admin token" : ": it may only read"
    }`,
  );
}
