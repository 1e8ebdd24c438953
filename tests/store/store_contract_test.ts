import assert from "node:assert/strict";
import { type Database, KvDatabase, MemoryDatabase } from "../../store/mod.ts";
import { EtcdDatabase } from "../../store/etcd_store.ts";
import { startEtcd } from "../../testing/etcd.ts";
import { tempDir } from "../../testing/wait.ts";

interface Item {
  n: number;
  tags?: string[];
}

// One etcd cluster (three members, started by scripts/etcd.sh) for the whole file; each
// test gets a prefix of its own. Stopped by the last test.
const etcd = await startEtcd();

/** The same contract, run unchanged against every implementation. */
const implementations: Record<string, () => Promise<Database>> = {
  memory: () => Promise.resolve(new MemoryDatabase()),
  "Deno KV (:memory:)": () => KvDatabase.open(":memory:"),
  "etcd (3 members)": () =>
    Promise.resolve(EtcdDatabase.open(`${etcd.url}-${crypto.randomUUID().slice(0, 8)}`)),
};

for (const [name, open] of Object.entries(implementations)) {
  Deno.test(`${name}: put, get, list, count and delete`, async () => {
    using db = await open();
    const items = db.store<Item>("items");
    assert.equal(await items.get("a"), null);
    await items.put("b", { n: 2 });
    await items.put("a", { n: 1, tags: ["x"] });
    assert.deepEqual((await items.get("a"))?.value, { n: 1, tags: ["x"] });
    assert.deepEqual((await items.list()).map((e) => e.key), ["a", "b"]);
    assert.equal(await items.count(), 2);
    await items.delete("a");
    assert.equal(await items.get("a"), null);
    assert.equal(await items.count(), 1);
    await items.delete("missing");
  });

  Deno.test(`${name}: stores are separate namespaces`, async () => {
    using db = await open();
    await db.store<Item>("one").put("k", { n: 1 });
    assert.equal(await db.store<Item>("two").get("k"), null);
    assert.equal(await db.store<Item>("two").count(), 0);
  });

  Deno.test(`${name}: list honours prefix, limit and reverse`, async () => {
    using db = await open();
    const items = db.store<Item>("items");
    for (const key of ["t1:a", "t1:b", "t2:a", "t1:c"]) await items.put(key, { n: 0 });
    assert.deepEqual((await items.list({ prefix: "t1:" })).map((e) => e.key), [
      "t1:a",
      "t1:b",
      "t1:c",
    ]);
    assert.deepEqual(
      (await items.list({ prefix: "t1:", limit: 2, reverse: true })).map((e) => e.key),
      [
        "t1:c",
        "t1:b",
      ],
    );
  });

  Deno.test(`${name}: putIf refuses a stale version`, async () => {
    using db = await open();
    const items = db.store<Item>("items");
    assert.ok(await items.putIf("k", { n: 1 }, null), "creates when absent");
    assert.equal(await items.putIf("k", { n: 9 }, null), null, "refuses when it exists");
    const current = (await items.get("k"))!;
    const next = await items.putIf("k", { n: 2 }, current.version);
    assert.ok(next);
    assert.notEqual(next, current.version);
    assert.equal(await items.putIf("k", { n: 3 }, current.version), null, "refuses an old version");
    assert.deepEqual((await items.get("k"))?.value, { n: 2 });
  });

  Deno.test(`${name}: deleteIf only deletes the version it saw`, async () => {
    using db = await open();
    const items = db.store<Item>("items");
    const v1 = await items.put("k", { n: 1 });
    await items.put("k", { n: 2 });
    assert.equal(await items.deleteIf("k", v1), false);
    const v2 = (await items.get("k"))!.version;
    assert.equal(await items.deleteIf("k", v2), true);
    assert.equal(await items.get("k"), null);
  });

  Deno.test(`${name}: concurrent updates never lose a write`, async () => {
    using db = await open();
    const items = db.store<Item>("items");
    await Promise.all(
      Array.from({ length: 50 }, () => items.update("counter", (c) => ({ n: (c?.n ?? 0) + 1 }))),
    );
    assert.deepEqual((await items.get("counter"))?.value, { n: 50 });
  });

  Deno.test(`${name}: update can decline to write`, async () => {
    using db = await open();
    const items = db.store<Item>("items");
    await items.put("k", { n: 1 });
    const before = (await items.get("k"))!.version;
    assert.deepEqual(await items.update("k", () => undefined), { n: 1 });
    assert.equal((await items.get("k"))!.version, before);
  });

  Deno.test(`${name}: values are copies, not shared references`, async () => {
    using db = await open();
    const items = db.store<Item>("items");
    const value = { n: 1, tags: ["a"] };
    await items.put("k", value);
    value.tags.push("b");
    const read = (await items.get("k"))!.value;
    read.tags!.push("c");
    assert.deepEqual((await items.get("k"))!.value.tags, ["a"]);
  });

  Deno.test(`${name}: commit writes to several stores at once`, async () => {
    using db = await open();
    await db.commit([
      { store: "tasks", key: "t1", value: { n: 1 } },
      { store: "events", key: "t1:1", value: { n: 2 } },
      { store: "tasks", key: "t2", value: { n: 3 } },
    ]);
    assert.deepEqual((await db.store<Item>("tasks").list()).map((e) => e.value.n), [1, 3]);
    assert.deepEqual((await db.store<Item>("events").get("t1:1"))?.value, { n: 2 });
    await db.commit([]);
    assert.equal(await db.store<Item>("tasks").count(), 2);
  });
}

Deno.test("Deno KV: a commit that cannot be written writes nothing", async () => {
  using db = await KvDatabase.open(":memory:");
  const tooBig = { blob: "x".repeat(70 * 1024) }; // over KV's 64 KiB value limit
  await assert.rejects(db.commit([
    { store: "tasks", key: "ok", value: { n: 1 } },
    { store: "tasks", key: "big", value: tooBig },
  ]));
  assert.equal(await db.store("tasks").count(), 0);
});

Deno.test("Deno KV: a reopened file still holds everything", async () => {
  await using dir = await tempDir();
  const path = `${dir.path}/nested/store.kv`;
  {
    using db = await KvDatabase.open(path);
    for (let i = 0; i < 20; i++) await db.store<Item>("items").put(`k${i}`, { n: i });
    await db.store<Item>("other").put("x", { n: 99 });
  }
  using db = await KvDatabase.open(path);
  assert.equal(await db.store<Item>("items").count(), 20);
  assert.deepEqual((await db.store<Item>("items").get("k7"))?.value, { n: 7 });
  assert.deepEqual((await db.store<Item>("other").get("x"))?.value, { n: 99 });
});

Deno.test("etcd: a URL that is not etcd://host:port is refused with an example", () => {
  assert.throws(() => EtcdDatabase.open("http://127.0.0.1:2379"), /expected etcd:\/\/host:port/);
});

Deno.test("etcd: the test cluster stops", async () => {
  await etcd[Symbol.asyncDispose]();
});
