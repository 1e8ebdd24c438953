/**
 * The cluster CA: a server certificate it issues is trusted by a fetch client that
 * trusts the CA (a real TLS server on loopback) and by nothing else; a node's request is
 * signed for its own name only; the digest a join token pins is the CA's.
 */
import assert from "node:assert/strict";
import { caDigest, createCa, createCsr, issueServerCert, signCsr } from "../../security/ca.ts";
import { CubeError } from "../../lib/errors.ts";

function serveTls(certPem: string, keyPem: string) {
  return Deno.serve(
    { hostname: "127.0.0.1", port: 0, cert: certPem, key: keyPem, onListen() {} },
    () => new Response("ok"),
  );
}

Deno.test("a server certificate from the cluster CA is trusted by a client that pins the CA, and only by it", async () => {
  const ca = await createCa();
  const other = await createCa(new Date(), "someone else's CA");
  const server = await issueServerCert(ca, "manager", ["localhost", "127.0.0.1"]);
  const tls = serveTls(server.certPem, server.keyPem);
  const trusting = Deno.createHttpClient({ caCerts: [ca.certPem] });
  const stranger = Deno.createHttpClient({ caCerts: [other.certPem] });
  try {
    for (const host of ["localhost", "127.0.0.1"]) {
      const response = await fetch(`https://${host}:${tls.addr.port}/`, { client: trusting });
      assert.equal(await response.text(), "ok");
    }
    await assert.rejects(fetch(`https://localhost:${tls.addr.port}/`, { client: stranger }));
    await assert.rejects(
      fetch(`https://localhost:${tls.addr.port}/`),
      "the system's roots do not know it",
    );
  } finally {
    trusting.close();
    stranger.close();
    await tls.shutdown();
  }
});

Deno.test("a node's request is signed for its own name, and its key never leaves it", async () => {
  const ca = await createCa();
  const { csrPem, keyPem } = await createCsr("w1", ["127.0.0.1"]);
  assert.ok(!csrPem.includes("PRIVATE KEY"));
  const certPem = await signCsr(ca, csrPem, "w1");
  const tls = serveTls(certPem, keyPem);
  const client = Deno.createHttpClient({ caCerts: [ca.certPem] });
  try {
    const response = await fetch(`https://127.0.0.1:${tls.addr.port}/`, { client });
    assert.equal(await response.text(), "ok");
  } finally {
    client.close();
    await tls.shutdown();
  }
  await assert.rejects(signCsr(ca, csrPem, "w2"), (error: unknown) => {
    assert.ok(error instanceof CubeError);
    assert.equal(error.status, 400);
    assert.match(error.message, /asks for "w1", not "w2"/);
    return true;
  });
  await assert.rejects(signCsr(ca, "garbage", "w1"), /not a PEM PKCS#10 request/);
});

Deno.test("the digest a join token pins is the CA certificate's SHA-256", async () => {
  const ca = await createCa();
  const digest = await caDigest(ca.certPem);
  assert.match(digest, /^[0-9a-f]{64}$/);
  assert.equal(await caDigest(ca.certPem), digest);
  assert.notEqual(await caDigest((await createCa()).certPem), digest);
});
