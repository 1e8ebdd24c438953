/**
 * The worker join token, `CUBEJOIN-1-<CA digest>-<secret>` (as Swarm's `SWMTKN-1-…`): the
 * secret lets a worker in, the digest lets the worker check it joins the right cluster.
 *
 * @module
 */

const JOIN_TOKEN = /^CUBEJOIN-1-([0-9a-f]{64})-([A-Za-z0-9_-]{43})$/;

export function formatJoinToken(digest: string, secret: string): string {
  return `CUBEJOIN-1-${digest}-${secret}`;
}

/** The digest and secret of a join token, or null when it is not one. */
export function parseJoinToken(token: string): { digest: string; secret: string } | null {
  const match = token.trim().match(JOIN_TOKEN);
  return match ? { digest: match[1], secret: match[2] } : null;
}
