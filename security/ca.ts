/**
 * The cluster CA (issue 9's next step; not wired into the servers yet): an ECDSA P-256
 * certificate authority the manager creates on its first start and keeps in its store,
 * certificates it issues for the manager's own HTTPS (with the SANs it answers at) and,
 * from a node's certificate request, for a node (so the node's private key never leaves
 * it), and the CA's SHA-256 digest that a join token carries (as Swarm's `SWMTKN-1-…`).
 *
 * @module
 */

import "reflect-metadata";
import * as x509 from "@peculiar/x509";
import { CubeError } from "../lib/errors.ts";

x509.cryptoProvider.set(crypto);

const ALGORITHM = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" } as const;
const DAY = 86_400_000;

/** A certificate and its private key, both PEM. */
export interface KeyPair {
  certPem: string;
  keyPem: string;
}

function serial(): string {
  // Positive, 16 random bytes: unique enough for a cluster's lifetime.
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  bytes[0] &= 0x7f;
  return [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");
}

async function exportKey(key: CryptoKey): Promise<string> {
  return x509.PemConverter.encode(await crypto.subtle.exportKey("pkcs8", key), "PRIVATE KEY");
}

async function importKey(pem: string): Promise<CryptoKey> {
  const der = x509.PemConverter.decode(pem)[0];
  return await crypto.subtle.importKey("pkcs8", der, ALGORITHM, false, ["sign"]);
}

function subjectNames(names: readonly string[]): x509.JsonGeneralName[] {
  return names.map((value) =>
    /^[\d.]+$/.test(value) || value.includes(":")
      ? { type: "ip" as const, value }
      : { type: "dns" as const, value }
  );
}

/** A new cluster CA, valid for ten years from `now`. */
export async function createCa(now = new Date(), name = "cube cluster CA"): Promise<KeyPair> {
  const keys = await crypto.subtle.generateKey(ALGORITHM, true, ["sign", "verify"]);
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serial(),
    name: `CN=${name}`,
    notBefore: now,
    notAfter: new Date(now.getTime() + 3650 * DAY),
    keys,
    signingAlgorithm: ALGORITHM,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(
        x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign,
        true,
      ),
    ],
  });
  return { certPem: cert.toString("pem"), keyPem: await exportKey(keys.privateKey) };
}

async function issue(
  ca: KeyPair,
  subject: string,
  publicKey: CryptoKey,
  names: readonly string[],
  days: number,
  now: Date,
): Promise<string> {
  const caCert = new x509.X509Certificate(ca.certPem);
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serial(),
    subject: `CN=${subject}`,
    issuer: caCert.subject,
    notBefore: now,
    notAfter: new Date(now.getTime() + days * DAY),
    signingKey: await importKey(ca.keyPem),
    publicKey,
    signingAlgorithm: ALGORITHM,
    extensions: [
      // Not a CA: a certificate with CA:TRUE cannot be a server's own.
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([
        x509.ExtendedKeyUsage.serverAuth,
        x509.ExtendedKeyUsage.clientAuth,
      ]),
      new x509.SubjectAlternativeNameExtension(subjectNames(names)),
    ],
  });
  return cert.toString("pem");
}

/** A certificate and key for a server that answers at `names` (host names and IPs). */
export async function issueServerCert(
  ca: KeyPair,
  subject: string,
  names: readonly string[],
  options: { days?: number; now?: Date } = {},
): Promise<KeyPair> {
  const keys = await crypto.subtle.generateKey(ALGORITHM, true, ["sign", "verify"]);
  const certPem = await issue(
    ca,
    subject,
    keys.publicKey,
    names,
    options.days ?? 365,
    options.now ?? new Date(),
  );
  return { certPem, keyPem: await exportKey(keys.privateKey) };
}

/** A node's certificate request for its name: the key stays with the node. */
export async function createCsr(
  name: string,
  names: readonly string[],
): Promise<{ csrPem: string; keyPem: string }> {
  const keys = await crypto.subtle.generateKey(ALGORITHM, true, ["sign", "verify"]);
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({
    name: `CN=${name}`,
    keys,
    signingAlgorithm: ALGORITHM,
    extensions: [new x509.SubjectAlternativeNameExtension(subjectNames(names))],
  });
  return { csrPem: csr.toString("pem"), keyPem: await exportKey(keys.privateKey) };
}

/**
 * Signs a node's request for `name`: refused (400) when the request is malformed, its
 * signature does not hold, or it asks for another name.
 */
export async function signCsr(
  ca: KeyPair,
  csrPem: string,
  name: string,
  options: { days?: number; now?: Date } = {},
): Promise<string> {
  let csr: x509.Pkcs10CertificateRequest;
  try {
    csr = new x509.Pkcs10CertificateRequest(csrPem);
  } catch {
    throw new CubeError(400, "Invalid certificate request: not a PEM PKCS#10 request");
  }
  if (!(await csr.verify())) {
    throw new CubeError(400, "Invalid certificate request: its signature does not hold");
  }
  const asked = csr.subjectName.getField("CN")[0];
  if (asked !== name) {
    throw new CubeError(400, `Invalid certificate request: it asks for "${asked}", not "${name}"`);
  }
  const san = csr.getExtension("2.5.29.17"); // subjectAltName
  const names = san
    ? new x509.SubjectAlternativeNameExtension(san.rawData).names.items.map((n) => n.value)
    : [];
  const publicKey = await csr.publicKey.export(ALGORITHM, ["verify"]);
  return await issue(ca, name, publicKey, names, options.days ?? 365, options.now ?? new Date());
}

/** The hex SHA-256 of the CA certificate (DER): what a join token pins. */
export async function caDigest(certPem: string): Promise<string> {
  const der = new x509.X509Certificate(certPem).rawData;
  const digest = await crypto.subtle.digest("SHA-256", der);
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
}
