/**
 * Who may do what: user tokens with roles (and, to come, the cluster CA, certificates and
 * worker join tokens), shared by both roles.
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
