/**
 * The security side of starting a manager or a worker: the state directory's files, the
 * names a certificate answers at, verified HTTPS clients, and the book's open mode rules.
 *
 * @module
 */

import {
  clientTransport,
  mixedTransport,
  type Transport,
  trustingClient,
  TrustingClients,
} from "../lib/transport.ts";
import { Authority, type AuthorityRecord, type TokenRecord, Tokens } from "../security/mod.ts";
import type { Database } from "../store/mod.ts";
import { systemClock } from "../lib/clock.ts";
import { writePrivateFile } from "../lib/files.ts";

export function isLoopback(host: string): boolean {
  const bare = host.replace(/^\[|\]$/g, "");
  return bare === "localhost" || bare === "::1" || /^127\.\d+\.\d+\.\d+$/.test(bare);
}

function isAnyAddress(host: string): boolean {
  return host === "0.0.0.0" || host === "::" || host === "";
}

/** The names a server's certificate answers at: its listen and advertised hosts and the usual ones. */
export function certificateNames(host: string, advertise?: string): string[] {
  const names = new Set(["127.0.0.1", "localhost", Deno.hostname()]);
  if (!isAnyAddress(host)) names.add(host.replace(/^\[|\]$/g, ""));
  if (advertise) {
    try {
      names.add(new URL(advertise).hostname.replace(/^\[|\]$/g, ""));
    } catch { /* a bad --advertise is refused where it is parsed */ }
  }
  return [...names];
}

/**
 * A transport that trusts `caPem` only, keeping connections alive; close it when done.
 * `multiplex`: many calls to one peer at once share an HTTP/2 connection, but for a few
 * with a body (`mixedTransport`).
 */
export function verifiedTransport(
  caPem: string,
  credential?: string,
  options: { multiplex?: boolean } = {},
): { transport: Transport; close(): void } {
  if (options.multiplex) {
    const clients = new TrustingClients(caPem);
    return { transport: mixedTransport(clients, credential), close: () => clients.close() };
  }
  const client = trustingClient(caPem);
  return { transport: clientTransport(client, credential), close: () => client.close() };
}

export interface ManagerSecrets {
  authority: Authority;
  tokens: Tokens;
  /** The admin token, on the first start only (it is in `admin.token` then). */
  adminToken?: string;
  caPath: string;
  adminTokenPath: string;
}

/**
 * The manager's secrets from its store, made on the first start: then the admin token
 * is written to `<dir>/admin.token` (0600). `<dir>/ca.pem` is written on every start.
 */
export async function openManagerSecrets(db: Database, dir: string): Promise<ManagerSecrets> {
  await Deno.mkdir(dir, { recursive: true });
  const authority = await Authority.open(db.store<AuthorityRecord>("security"));
  const tokens = new Tokens(db.store<TokenRecord>("tokens"), systemClock, db.store("node-names"));
  const caPath = `${dir}/ca.pem`;
  const adminTokenPath = `${dir}/admin.token`;
  await Deno.writeTextFile(caPath, authority.caPem);
  // What signs the workers' certificates: a Prometheus scraping workers trusts it.
  await Deno.writeTextFile(`${dir}/node-ca.pem`, authority.nodeCaPem);
  let adminToken: string | undefined;
  if (authority.created) {
    adminToken = (await tokens.create("admin", { name: "first admin" })).token;
    await writePrivateFile(adminTokenPath, `${adminToken}\n`);
  }
  return { authority, tokens, adminToken, caPath, adminTokenPath };
}
