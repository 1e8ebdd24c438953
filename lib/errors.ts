/**
 * The one error class cube throws across layers. Like Hono's `HTTPException`, it carries
 * the status a caller should see; the HTTP layer turns it into the book's error shape
 * `{"HTTPStatusCode": 400, "Message": "..."}`.
 *
 * @module
 */

export type ErrorStatus =
  | 400
  | 401
  | 403
  | 404
  | 409
  | 413
  | 414
  | 415
  | 422
  | 429
  | 431
  | 500
  | 502
  | 503
  | 504;

export class CubeError extends Error {
  override name = "CubeError";
  readonly status: ErrorStatus;

  constructor(status: ErrorStatus, message: string, options?: ErrorOptions) {
    super(message, options);
    this.status = status;
  }
}

/** The message of any thrown value, for logs and task `Error` fields. */
export function errorMessage(error: unknown): string {
  if (error instanceof Error) return error.message;
  return String(error);
}

/**
 * Why a `fetch` failed, in a few words: "connection refused", "no answer within 5000 ms",
 * or the innermost cause (Deno's own message is only "fetch failed").
 */
export function fetchFailure(error: unknown, timeoutMs?: number): string {
  if (error instanceof DOMException && error.name === "TimeoutError") {
    return timeoutMs ? `no answer within ${timeoutMs} ms` : "no answer in time";
  }
  let inner: unknown = error;
  while (inner instanceof Error && inner.cause instanceof Error) inner = inner.cause;
  const message = errorMessage(inner);
  if (/connection refused/i.test(message)) return "connection refused";
  if (/dns error|failed to lookup|name or service not known/i.test(message)) {
    return "host not found";
  }
  // TLS mistakes, each said in words a user can act on.
  if (/invalid HTTP version parsed/i.test(message)) {
    return "it speaks HTTPS, not plain HTTP: use https://";
  }
  if (/UnknownIssuer|invalid peer certificate: (BadSignature|Other)/i.test(message)) {
    return "its certificate is not from a CA this client trusts (give the cluster's ca.pem)";
  }
  if (/NotValidForName/i.test(message)) {
    return "its certificate is not valid for this host name";
  }
  if (/Expired|NotValidYet/i.test(message) && /certificate/i.test(message)) {
    return "its certificate has expired or is not valid yet";
  }
  if (/InvalidContentType|corrupt message/i.test(message)) {
    return "it does not speak TLS: use http://";
  }
  return message.replace(/^error sending request for url \([^)]*\): /, "");
}

/**
 * The `Message` of a body in the book's error shape (`{"HTTPStatusCode", "Message"}`), or
 * undefined when the body is something else (a proxy's page, plain text).
 */
export function messageIn(body: string): string | undefined {
  try {
    const parsed = JSON.parse(body);
    if (typeof parsed?.Message === "string") return parsed.Message;
  } catch { /* not JSON */ }
  return undefined;
}
