import assert from "node:assert/strict";
import { Etcd3 } from "etcd3";
import { CubeError } from "../../lib/errors.ts";
import { EtcdElection, type Term } from "../../store/mod.ts";
import { EtcdDatabase } from "../../store/etcd_store.ts";
import { startEtcd } from "../../testing/etcd.ts";
import { waitFor } from "../../testing/wait.ts";

/** A candidate whose terms the test can see: the current one, and how many began. */
function candidate(db: EtcdDatabase, url: string) {
  const seen = { term: null as Term | null, terms: 0, ended: 0 };
  const election = new EtcdElection(db, {
    url,
    ttlSeconds: 2,
    pollMs: 100,
    log: () => {},
    lead: async (term) => {
      seen.term = term;
      seen.terms++;
      await new Promise((resolve) => term.signal.addEventListener("abort", resolve));
      seen.ended++;
    },
  });
  election.start();
  return Object.assign(seen, { election });
}

function endpoints(url: string): string[] {
  return url.replace(/^etcd:\/\//, "").replace(/\/.*$/, "").split(",").map((h) => `http://${h}`);
}

Deno.test("one of two managers leads; when it resigns, the other leads within a second", async () => {
  await using etcd = await startEtcd();
  using db = EtcdDatabase.open(etcd.url);
  const a = candidate(db, "https://a:5555");
  await waitFor("a to lead", () => a.election.leading);
  const b = candidate(db, "https://b:5555");
  try {
    await waitFor("b to see a as the leader", () => b.election.leader === "https://a:5555");
    assert.equal(b.election.leading, false);
    assert.deepEqual(
      (await b.election.managers()).map((m) => [m.Url, m.Leader]),
      [["https://a:5555", true], ["https://b:5555", false]],
    );
    // A write in a's term lands.
    await a.term!.db.store<string>("things").put("k", "from a");

    const resigned = performance.now();
    await a.election.close();
    assert.equal(a.ended, 1, "a's term ended when it closed");
    await waitFor("b to lead", () => b.election.leading, { timeoutMs: 1_000 });
    assert.ok(performance.now() - resigned < 1_000);
    assert.equal(b.election.leader, "https://b:5555");
    assert.deepEqual((await b.election.managers()).map((m) => m.Url), ["https://b:5555"]);
  } finally {
    await a.election.close();
    await b.election.close();
  }
});

Deno.test("a leader whose election key is gone can write nothing, and steps down", async () => {
  await using etcd = await startEtcd();
  using db = EtcdDatabase.open(etcd.url);
  const a = candidate(db, "https://a:5555");
  await waitFor("a to lead", () => a.election.leading);
  const b = candidate(db, "https://b:5555");
  const outside = new Etcd3({ hosts: endpoints(etcd.url) });
  try {
    const term = a.term!;
    const things = term.db.store<string>("things");
    const version = await things.put("k", "v1");
    // A compare-and-set that loses is an ordinary `null` while the term holds.
    assert.equal(await things.putIf("k", "v2", "1"), null);
    assert.equal(await things.deleteIf("k", "1"), false);
    assert.notEqual(await things.putIf("k", "v2", version), null);

    // As when a's lease expires while it is paused: its key vanishes, b is next in line.
    const keys = await outside.getAll().prefix(`${db.prefix}/election/`).keys();
    for (const key of keys) {
      if ((await outside.get(key).string()) === "https://a:5555") await outside.delete().key(key);
    }
    const refused = async (write: Promise<unknown>) =>
      await assert.rejects(write, (error: unknown) => {
        assert.ok(error instanceof CubeError);
        assert.equal(error.status, 503);
        assert.match(error.message, /no longer the leader/);
        return true;
      });
    await refused(things.put("k", "stale"));
    await refused(things.putIf("k", "stale", null));
    await refused(things.delete("k"));
    await refused(term.db.commit([{ store: "things", key: "j", value: "stale" }]));
    assert.equal((await db.store<string>("things").get("k"))?.value, "v2", "nothing stale landed");
    assert.equal(await db.store<string>("things").get("j"), null);

    await waitFor("a's term to end", () => term.signal.aborted, { timeoutMs: 2_000 });
    await waitFor("b to lead", () => b.election.leading, { timeoutMs: 2_000 });
    assert.equal(a.election.leader, "https://b:5555");
    assert.equal(a.election.leading, false);
    // a campaigns again, behind b.
    await waitFor(
      "a back in line",
      async () => (await b.election.managers()).length === 2,
      { timeoutMs: 2_000 },
    );
  } finally {
    outside.close();
    await a.election.close();
    await b.election.close();
  }
});
