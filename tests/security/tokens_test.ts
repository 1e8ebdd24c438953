/**
 * User tokens: shown once, stored hashed, checked in constant time; expiry and
 * revocation; what each role may do.
 */
import assert from "node:assert/strict";
import { CubeError } from "../../lib/errors.ts";
import { authorize, constantTimeEqual, type TokenRecord, Tokens } from "../../security/mod.ts";
import { MemoryDatabase } from "../../store/mod.ts";
import { SimClock } from "../../simulation/clock.ts";

function tokensOn() {
  const db = new MemoryDatabase();
  const clock = new SimClock();
  return { db, clock, tokens: new Tokens(db.store<TokenRecord>("tokens"), clock) };
}

async function rejects(promise: Promise<unknown>, status: number, message: RegExp) {
  await assert.rejects(promise, (error: unknown) => {
    assert.ok(error instanceof CubeError);
    assert.equal(error.status, status);
    assert.match(error.message, message);
    return true;
  });
}

Deno.test("a token is shown once and stored only as its hash", async () => {
  const { db, tokens } = tokensOn();
  const { token, info } = await tokens.create("reader", { name: "ci" });
  assert.match(token, /^cube_[0-9a-f]{12}_[A-Za-z0-9_-]{43}$/);
  assert.equal(info.Role, "reader");
  assert.equal(info.Name, "ci");
  const stored = JSON.stringify(await db.store("tokens").list());
  assert.ok(!stored.includes(token.slice(18)), "the secret is not stored");
  assert.ok(!JSON.stringify(await tokens.list()).includes("Hash"), "nor listed");
  assert.deepEqual(await tokens.verify(token), info);
});

Deno.test("a missing, malformed, unknown or altered token is a 401 that does not say which part was wrong", async () => {
  const { tokens } = tokensOn();
  const { token } = await tokens.create("admin");
  await rejects(tokens.verify(undefined), 401, /A token is required/);
  await rejects(tokens.verify("nonsense"), 401, /^The token is not valid$/);
  const altered = token.slice(0, -1) + (token.endsWith("A") ? "B" : "A");
  await rejects(tokens.verify(altered), 401, /^The token is not valid$/);
  const other = "cube_000000000000_" + token.slice(18);
  await rejects(tokens.verify(other), 401, /^The token is not valid$/);
});

Deno.test("an expired or revoked token is refused with the reason; revoking twice is harmless", async () => {
  const { tokens, clock } = tokensOn();
  const { token: short } = await tokens.create("operator", { ttlMs: 60_000 });
  assert.equal((await tokens.verify(short)).Role, "operator");
  await clock.run(60_001);
  await rejects(tokens.verify(short), 401, /expired at/);
  const { token, info } = await tokens.create("reader");
  await tokens.revoke(info.ID);
  await tokens.revoke(info.ID);
  await rejects(tokens.verify(token), 401, new RegExp(`Token ${info.ID} was revoked`));
  await rejects(tokens.revoke("ffffffffffff"), 404, /not found/);
  await rejects(tokens.create("root" as "admin"), 400, /Invalid role "root"/);
  await rejects(tokens.create("reader", { ttlMs: 0 }), 400, /Invalid TTL/);
});

Deno.test("a reader only reads, an operator does all but tokens, an admin everything", () => {
  const [reader, operator, admin] = (["reader", "operator", "admin"] as const).map((Role) => ({
    Role,
  }));
  authorize(reader, "GET", "/tasks");
  authorize(reader, "GET", "/nodes");
  assert.throws(() => authorize(reader, "POST", "/tasks"), /A reader token may not POST/);
  assert.throws(() => authorize(reader, "GET", "/tokens"), /takes an admin token/);
  authorize(operator, "POST", "/tasks");
  authorize(operator, "DELETE", "/tasks/x");
  assert.throws(() => authorize(operator, "POST", "/tokens"), /takes an admin token/);
  authorize(admin, "POST", "/tokens");
  authorize(admin, "DELETE", "/nodes/w1");
});

Deno.test("a node credential heartbeats and reports for its own name only, and users do neither", () => {
  const w1 = { Role: "node" as const, Node: "w1" };
  authorize(w1, "POST", "/nodes");
  authorize(w1, "POST", "/nodes/w1/tasks");
  assert.throws(() => authorize(w1, "POST", "/nodes/w2/tasks"), /own tasks only, not those of w2/);
  assert.throws(() => authorize(w1, "GET", "/tasks"), /may only heartbeat and report/);
  assert.throws(() => authorize(w1, "POST", "/tasks"), /may only heartbeat and report/);
  for (const Role of ["admin", "operator", "reader"] as const) {
    assert.throws(() => authorize({ Role }, "POST", "/nodes"), /Only a joined worker/);
    assert.throws(() => authorize({ Role }, "POST", "/nodes/w1/tasks"), /Only a joined worker/);
  }
});

Deno.test("constant-time comparison is still a comparison", () => {
  assert.ok(constantTimeEqual("abc", "abc"));
  assert.ok(!constantTimeEqual("abc", "abd"));
  assert.ok(!constantTimeEqual("abc", "abcd"));
});
