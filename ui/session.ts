/**
 * Dashboard sessions: signing in with a token gives a random session ID in an HttpOnly,
 * Secure, SameSite=Strict cookie. The token stays on the server, and every request checks
 * it again (a revoked or expired token ends its sessions at once). Sessions live in
 * memory: a manager restart signs everyone out, which is the safe way round.
 *
 * @module
 */

import type { Context } from "hono";
import { deleteCookie, getCookie, setCookie } from "hono/cookie";
import type { TokenInfo, Tokens } from "../security/mod.ts";

export const COOKIE = "cube_session";
/** A session ends this long after it began, whatever the token's own expiry. */
const SESSION_MS = 12 * 3_600_000;

interface Session {
  token: string;
  until: number;
}

export class Sessions {
  readonly #sessions = new Map<string, Session>();

  constructor(private readonly tokens: Tokens | null) {}

  /** Whether sign-in is needed at all (a manager without security is the book's, open). */
  get required(): boolean {
    return this.tokens !== null;
  }

  /** Checks the token and opens a session; throws the token check's 401 when it fails. */
  async signIn(c: Context, token: string): Promise<TokenInfo> {
    const principal = await this.tokens!.verify(token);
    const id = crypto.randomUUID() + crypto.randomUUID();
    this.#sessions.set(id, { token, until: Date.now() + SESSION_MS });
    setCookie(c, COOKIE, id, {
      httpOnly: true,
      secure: true,
      sameSite: "Strict",
      path: "/ui",
      maxAge: SESSION_MS / 1000,
    });
    return principal;
  }

  signOut(c: Context): void {
    const id = getCookie(c, COOKIE);
    if (id) this.#sessions.delete(id);
    deleteCookie(c, COOKIE, { path: "/ui", secure: true });
  }

  /** The caller's principal, or null when not signed in (or the token no longer holds). */
  async principal(c: Context): Promise<TokenInfo | null> {
    const id = getCookie(c, COOKIE);
    const session = id ? this.#sessions.get(id) : undefined;
    if (!id || !session) return null;
    if (session.until < Date.now()) {
      this.#sessions.delete(id);
      return null;
    }
    try {
      return await this.tokens!.verify(session.token);
    } catch {
      this.#sessions.delete(id);
      return null;
    }
  }
}
