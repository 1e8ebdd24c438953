/**
 * User tokens (issue 9's first step; not wired into the routes yet): bearer tokens with a
 * role, stored only as a SHA-256 hash, shown once when created, compared in constant time,
 * with an optional expiry and revocation. A token reads `cube_<id>_<secret>`: the ID finds
 * the record, the hash of the whole token proves it.
 *
 * @module
 */

import type { Clock } from "../lib/clock.ts";
import { CubeError } from "../lib/errors.ts";
import type { Store } from "../store/mod.ts";

export type Role = "admin" | "operator" | "reader";
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
}

/** A token as listed: its record without the hash. */
export type TokenInfo = Omit<TokenRecord, "Hash">;

const TOKEN = /^cube_([0-9a-f]{12})_([A-Za-z0-9_-]{43})$/;

function hex(bytes: ArrayBuffer): string {
  return [...new Uint8Array(bytes)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

async function sha256(text: string): Promise<string> {
  return hex(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text)));
}

/** Equal strings of equal length, in time that does not depend on where they differ. */
export function constantTimeEqual(a: string, b: string): boolean {
  if (a.length !== b.length) return false;
  let difference = 0;
  for (let i = 0; i < a.length; i++) difference |= a.charCodeAt(i) ^ b.charCodeAt(i);
  return difference === 0;
}

function randomBase64Url(bytes: number): string {
  const raw = crypto.getRandomValues(new Uint8Array(bytes));
  return btoa(String.fromCharCode(...raw)).replaceAll("+", "-").replaceAll("/", "_")
    .replace(/=+$/, "");
}

function unauthorized(message: string): CubeError {
  return new CubeError(401, message);
}

export class Tokens {
  constructor(private readonly store: Store<TokenRecord>, private readonly clock: Clock) {}

  /** Makes a token; the returned `token` is the only time it is ever seen. */
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
    const id = hex(crypto.getRandomValues(new Uint8Array(6)).buffer);
    const token = `cube_${id}_${randomBase64Url(32)}`;
    const now = this.clock.now();
    const record: TokenRecord = {
      ID: id,
      Name: options.name ?? "",
      Role: role,
      Hash: await sha256(token),
      CreateTime: new Date(now).toISOString(),
      ExpireTime: options.ttlMs ? new Date(now + options.ttlMs).toISOString() : "",
      RevokeTime: "",
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
    const record = match ? (await this.store.get(match[1]))?.value : undefined;
    // Hash even when there is no record, so an unknown ID costs the same as a wrong secret.
    const hash = await sha256(token);
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
    if (!updated) throw new CubeError(404, `Token ${id} not found`);
    const { Hash: _, ...info } = updated;
    return info;
  }
}

/**
 * What a role may do: a reader only reads, an operator does everything but manage
 * tokens, an admin everything. `403` with the reason otherwise.
 */
export function authorize(role: Role, method: string, path: string): void {
  const reading = method === "GET" || method === "HEAD";
  const tokens = /^(\/v1)?\/tokens(\/|$)/.test(path);
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
