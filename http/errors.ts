/**
 * The one error class cube throws across layers. Like Hono's `HTTPException`, it carries
 * the status a caller should see; the HTTP layer turns it into the book's error shape
 * `{"HTTPStatusCode": 400, "Message": "..."}`.
 *
 * @module
 */

export type ErrorStatus = 400 | 404 | 409 | 413 | 415 | 422 | 500 | 502 | 503 | 504;

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
