/**
 * Spreading: the nodes a replica may go to are those holding the fewest of its service's
 * replicas, and E-PVM scores a sample of them that moves with every replica.
 */
import assert from "node:assert/strict";
import { spreadAmong, SpreadIndex } from "../../manager/spread.ts";
import type { Node } from "../../task/mod.ts";

const nodes = Array.from({ length: 100 }, (_, i) => ({ Name: `n${i}` }) as Node);
const names = (list: Node[]) => list.map((n) => n.Name);

Deno.test("only the nodes with the fewest replicas are kept, whatever the sample", () => {
  // Every node but n7 and n93 holds one replica already.
  const counts = new Map(nodes.map((n) => [n.Name, n.Name === "n7" || n.Name === "n93" ? 0 : 1]));
  for (const start of [0, 1, 50, 99, 1234]) {
    assert.deepEqual(
      new Set(names(spreadAmong(nodes, counts, "", nodes, start, 32))),
      new Set(["n7", "n93"]),
    );
  }
});

Deno.test("the sample takes `limit` of the kept nodes from its start on, wrapping", () => {
  const counts = new Map<string, number>();
  const sample = names(spreadAmong(nodes, counts, "", nodes, 90, 32));
  assert.equal(sample.length, 32);
  const expected = [
    ...Array.from({ length: 10 }, (_, i) => `n${90 + i}`),
    ...Array.from({ length: 22 }, (_, i) => `n${i}`),
  ];
  assert.deepEqual(new Set(sample), new Set(expected));
  assert.deepEqual(names(spreadAmong(nodes, counts, "", nodes, 10, 3)), ["n10", "n11", "n12"]);
  assert.equal(spreadAmong(nodes, counts, "", nodes).length, 100, "no limit: all of them");
});

Deno.test("a spread label counts replicas per value first", () => {
  const zoned = nodes.slice(0, 4).map((n, i) => ({ ...n, Labels: { zone: i < 2 ? "a" : "b" } }));
  const counts = new Map([["n0", 1]]);
  assert.deepEqual(names(spreadAmong(zoned, counts, "zone", zoned, 0, 32)), ["n2", "n3"]);
});

Deno.test("the index samples the lowest level with a node that fits, and moves a node up as it is placed", () => {
  const index = new SpreadIndex(nodes.slice(0, 4), new Map([["n0", 1], ["n1", 0], ["n2", 0]]));
  // n1, n2 and n3 hold none; n0 one.
  assert.deepEqual(new Set(names(index.sample(() => true, 0, 32))), new Set(["n1", "n2", "n3"]));
  assert.equal(index.sample(() => true, 7, 2).length, 2, "at most the limit");
  // Only n0 fits: the lowest level with a fitting node is n0's.
  assert.deepEqual(names(index.sample((n) => n.Name === "n0", 0, 32)), ["n0"]);
  for (const name of ["n1", "n2"]) index.placed(nodes.find((n) => n.Name === name)!);
  assert.deepEqual(names(index.sample(() => true, 0, 32)), ["n3"]);
  index.placed(nodes[3]);
  assert.deepEqual(
    new Set(names(index.sample(() => true, 5, 32))),
    new Set(["n0", "n1", "n2", "n3"]),
  );
  assert.deepEqual(index.sample(() => false, 0, 32), [], "none fits");
});

Deno.test("the index gives the same levels as spreadAmong, whatever the order of placements", () => {
  const some = nodes.slice(0, 20);
  const counts = new Map<string, number>();
  const index = new SpreadIndex(some, counts);
  let seed = 7;
  for (let i = 0; i < 100; i++) {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    const fits = (n: Node) => Number(n.Name.slice(1)) % 3 !== seed % 3;
    const expected = new Set(names(spreadAmong(some.filter(fits), counts, "", some)));
    const sample = index.sample(fits, seed, 100);
    assert.deepEqual(new Set(names(sample)), expected);
    const chosen = sample[seed % sample.length];
    index.placed(chosen);
    counts.set(chosen.Name, (counts.get(chosen.Name) ?? 0) + 1);
  }
});
