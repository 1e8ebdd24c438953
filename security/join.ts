/**
 * A worker joining a cluster with a join token, and the identity it comes away with.
 *
 * 1. It fetches the manager's CA certificate without trusting anything yet (it is public),
 *    and checks its SHA-256 against the digest in the join token: a man in the middle, or
 *    a manager of another cluster, fails here.
 * 2. From then on it trusts that CA only: it sends a certificate request for its name (its
 *    key never leaves it) with the join token, over TLS it verifies.
 * 3. It gets back its certificate (signed by the node CA), its node credential (to
 *    heartbeat and report as itself) and the manager credential (what the manager calls
 *    it with; nobody else gets in).
 *
 * A static worker (the book's `--workers`) does the same when a manager invites it.
 *
 * @module
 */

import https from "node:https";
import { CubeError, errorMessage, fetchFailure, messageIn } from "../lib/errors.ts";
import { writePrivateFile } from "../lib/files.ts";
import { caDigest, createCsr } from "./ca.ts";
import { parseJoinToken } from "./join_token.ts";
import { trustingClient } from "../lib/transport.ts";

/** What a joined worker keeps in its state directory (mode 0600). */
export interface NodeIdentity {
  Name: string;
  /** The manager it joined. */
  Manager: string;
  /** The cluster CA (PEM): the only CA it trusts for managers. */
  Ca: string;
  /** Its certificate (PEM), signed by the node CA, and its private key (PEM); "" for none. */
  Certificate: string;
  Key: string;
  /** Its node credential: a bearer token for its own heartbeats and reports. */
  Credential: string;
  /** The manager's credential for this node: the only caller it lets in. */
  ManagerCredential: string;
}

/** What `POST /join` answers. */
export interface JoinAnswer {
  Name: string;
  Certificate: string;
  Credential: string;
  ManagerCredential: string;
}

/** A `POST` or `GET` over TLS that trusts any certificate: only for public data checked afterwards. */
function unverified(
  url: URL,
  options: { method?: string; body?: string; timeoutMs: number },
): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const request = https.request({
      host: url.hostname.replace(/^\[|\]$/g, ""),
      port: url.port || 443,
      path: url.pathname,
      method: options.method ?? "GET",
      rejectUnauthorized: false,
      timeout: options.timeoutMs,
      headers: options.body === undefined
        ? {}
        : { "content-type": "application/json", "content-length": String(options.body.length) },
    }, (response) => {
      let text = "";
      response.setEncoding("utf8");
      response.on("data", (chunk: string) => {
        text += chunk;
        if (text.length > 64 * 1024) request.destroy(new Error("answer too large"));
      });
      response.on("end", () => resolve({ status: response.statusCode ?? 0, text }));
      response.on("error", reject);
    });
    request.on(
      "timeout",
      () => request.destroy(new Error(`no answer within ${options.timeoutMs} ms`)),
    );
    request.on("error", reject);
    request.end(options.body);
  });
}

function httpsUrl(manager: string, path: string): URL {
  let url: URL;
  try {
    url = new URL(path, manager.replace(/\/?$/, "/"));
  } catch {
    throw new CubeError(400, `Invalid manager URL "${manager}": expected https://HOST:PORT`);
  }
  if (url.protocol !== "https:") {
    throw new CubeError(
      400,
      `Cannot join the manager at ${manager}: joining takes https:// (the manager serves TLS)`,
    );
  }
  return url;
}

/**
 * The manager's CA certificate, fetched without trust and then checked against the digest
 * in the join token: after this, the manager is verified on every call.
 */
export async function verifiedCa(managerUrl: string, joinToken: string, timeoutMs = 10_000) {
  const manager = managerUrl.replace(/\/$/, "");
  const token = parseJoinToken(joinToken);
  if (!token) {
    throw new CubeError(
      400,
      "Invalid join token: expected CUBEJOIN-1-<digest>-<secret> (print it with 'cube token join' on the manager)",
    );
  }
  let ca: { status: number; text: string };
  try {
    ca = await unverified(httpsUrl(manager, "join/ca"), { timeoutMs });
  } catch (error) {
    if (error instanceof CubeError) throw error;
    throw new CubeError(502, `Cannot reach the manager at ${manager}: ${errorMessage(error)}`);
  }
  if (ca.status !== 200 || !ca.text.includes("BEGIN CERTIFICATE")) {
    throw new CubeError(
      502,
      `The manager at ${manager} did not give its CA (${ca.status}): is it a cube manager?`,
    );
  }
  let digest: string;
  try {
    digest = await caDigest(ca.text);
  } catch {
    throw new CubeError(502, `The manager at ${manager} gave a CA certificate that does not parse`);
  }
  if (digest !== token.digest) {
    throw new CubeError(
      401,
      `Refusing to join ${manager}: its CA (sha256 ${
        digest.slice(0, 16)
      }…) is not the one in the join token (sha256 ${
        token.digest.slice(0, 16)
      }…). A man in the middle, or a token of another cluster.`,
    );
  }
  return ca.text;
}

/**
 * Joins the manager at `manager` as node `name`. `names` are the host names and
 * addresses the worker answers at (its certificate's SANs); with `names` null it asks for
 * no certificate, only credentials (simulated nodes share one listener and certificate).
 * `caPem`, when given, is a CA already checked with `verifiedCa`.
 */
export async function joinCluster(options: {
  manager: string;
  joinToken: string;
  name: string;
  names: readonly string[] | null;
  caPem?: string;
  timeoutMs?: number;
}): Promise<NodeIdentity> {
  const manager = options.manager.replace(/\/$/, "");
  const timeoutMs = options.timeoutMs ?? 10_000;
  const caPem = options.caPem ?? await verifiedCa(manager, options.joinToken, timeoutMs);
  const csr = options.names ? await createCsr(options.name, options.names) : null;
  const client = trustingClient(caPem);
  try {
    let response: Response;
    try {
      response = await fetch(`${manager}/join`, {
        method: "POST",
        client,
        headers: {
          "content-type": "application/json",
          authorization: `Bearer ${options.joinToken.trim()}`,
        },
        body: JSON.stringify({ Name: options.name, ...(csr ? { Csr: csr.csrPem } : {}) }),
        signal: AbortSignal.timeout(timeoutMs),
      });
    } catch (error) {
      throw new CubeError(
        502,
        `Cannot join the manager at ${manager}: ${fetchFailure(error, timeoutMs)}`,
      );
    }
    const text = await response.text();
    if (!response.ok) {
      const status = [400, 401, 403, 409].includes(response.status)
        ? response.status as 400 | 401 | 403 | 409
        : 502;
      throw new CubeError(
        status,
        `The manager at ${manager} refused to let "${options.name}" join: ${
          messageIn(text) ?? text
        }`,
      );
    }
    const answer = JSON.parse(text) as JoinAnswer;
    return {
      Name: options.name,
      Manager: manager,
      Ca: caPem,
      Certificate: answer.Certificate,
      Key: csr?.keyPem ?? "",
      Credential: answer.Credential,
      ManagerCredential: answer.ManagerCredential,
    };
  } finally {
    client.close();
  }
}

/**
 * Asks a static worker that waits to join (`cube worker --join-token T` without
 * `--manager`) to join this manager. Nothing secret is sent: the worker checks the
 * manager against its join token, as any joining worker does.
 */
export async function inviteWorker(api: string, managerUrl: string, timeoutMs = 15_000) {
  const url = httpsUrl(api, "join");
  const body = JSON.stringify({ Manager: managerUrl });
  const answer = await unverified(url, { method: "POST", body, timeoutMs });
  if (answer.status !== 200) {
    throw new CubeError(502, messageIn(answer.text) ?? `${answer.status} ${answer.text}`);
  }
}

/** Loads a node identity saved by `saveIdentity`; null when there is none yet. */
export async function loadIdentity(path: string): Promise<NodeIdentity | null> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return null;
    throw error;
  }
  const identity = JSON.parse(text) as NodeIdentity;
  for (const field of ["Name", "Manager", "Ca", "Certificate", "Key", "Credential"] as const) {
    if (typeof identity[field] !== "string") {
      throw new Error(`The node identity in ${path} has no ${field}: remove it to join afresh`);
    }
  }
  return identity;
}

/** Saves a node identity, readable by its owner only. */
export async function saveIdentity(path: string, identity: NodeIdentity): Promise<void> {
  await writePrivateFile(path, JSON.stringify(identity, null, 2) + "\n");
}
