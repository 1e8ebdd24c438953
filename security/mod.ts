/**
 * Who may do what: user tokens with roles and node credentials, the cluster's CAs and
 * secrets, worker join tokens and the join itself, and the middleware that checks them.
 *
 * @module
 */

export {
  authorize,
  constantTimeEqual,
  type Role,
  ROLES,
  type TokenInfo,
  type TokenRecord,
  Tokens,
} from "./tokens.ts";
export { caDigest, createCa, createCsr, issueServerCert, type KeyPair, signCsr } from "./ca.ts";
export { Authority, type AuthorityRecord } from "./authority.ts";
export { formatJoinToken, parseJoinToken } from "./join_token.ts";
export {
  inviteWorker,
  type JoinAnswer,
  joinCluster,
  loadIdentity,
  type NodeIdentity,
  saveIdentity,
  verifiedCa,
} from "./join.ts";
export { bearer, principalOf, requireManager, requireToken, routePath } from "./middleware.ts";
export { createSecurityRoutes } from "./routes.ts";
